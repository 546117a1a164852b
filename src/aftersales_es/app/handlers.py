"""Command handlers, and the map from each command type to its handler.

A handler loads what its command decides on (through the service, which
owns the store and the cache), asks the aggregate to decide, and returns the
:class:`Decision`: the changed case and order and anything else to save in
the same transaction. It saves nothing itself: the service adds the
idempotency record, saves version-checked and retries on a conflict.

A handler gets the case version the sender expects (``None``: any) and
checks it on the very state it decides on, so the check and the write are
one version-checked transaction, across threads and processes alike.

To add a command: its model in :mod:`.commands`, its method on the case,
and one line in :data:`COMMAND_HANDLERS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from aftersales_es.app import commands as cmds
from aftersales_es.app.rulesets import RuleSets
from aftersales_es.domain.base import TimedAggregate
from aftersales_es.domain.case import Case, Context
from aftersales_es.domain.errors import AfterSalesError, VersionMismatchError
from aftersales_es.domain.money import parse_amount
from aftersales_es.domain.order import Order


class StaleError(Exception):
    """A refusal decided on cached state that the write-time check never saw:
    decide again on state loaded from the store before refusing."""


class Workspace(Protocol):
    """What a handler needs of the service."""

    rules: RuleSets
    #: Whether the store checks a decision's read set when it writes.
    verify_at_write: bool

    def load_case(self, case_id: str, fresh: bool) -> tuple[Case, Order, bool]:
        """The case and its order, and whether either came from the cache."""
        ...

    def load_order(self, order_id: str, fresh: bool) -> tuple[Order, bool]:
        """The order, and whether it came from the cache."""
        ...

    def check_new_case(self, case_id: str) -> None:
        """Refuse a case id that is already taken (raise :class:`AlreadyExistsError`)."""
        ...

    def clock(self) -> datetime:
        """ "Now", for a command sent without ``at``."""
        ...


@dataclass
class Decision:
    """What a command changed: saved at once, version-checked against its reads."""

    case: Case
    order: Order
    at: datetime
    extra: list[TimedAggregate] = field(default_factory=list)


Handler = Callable[[Any, Workspace, bool, "int | None"], Decision]


@contextmanager
def refusal(ws: Workspace, cached: bool) -> Iterator[None]:
    """Turn a refusal decided on cached state into :class:`StaleError` where
    the store checks cached state only when a write commits: the refusal may
    rest on state another process has since changed."""
    try:
        yield
    except AfterSalesError:
        if ws.verify_at_write and cached:
            raise StaleError from None
        raise


def expect_version(case: Case, cmd: cmds.Command, expected: int | None) -> None:
    """Refuse with :class:`VersionMismatchError` unless ``case`` is at ``expected``."""
    if expected is not None and case.version != expected:
        raise VersionMismatchError(cmd.case, case.state, cmd.name, case.version, expected)


def apply(cmd: cmds.Apply, ws: Workspace, fresh: bool, expected: int | None = None) -> Decision:
    """Open a case on an order, under the order's platform rule set (a case
    not yet opened is at version 0)."""
    if expected not in (None, 0):
        raise VersionMismatchError(cmd.case, "none", cmd.name, 0, expected)
    order, cached = ws.load_order(cmd.order, fresh)
    at = cmd.at or ws.clock()  # read once the order is loaded
    rules = ws.rules.for_platform(order.platform)
    amount = None if cmd.amount is None else parse_amount(cmd.amount, order.currency)
    ws.check_new_case(cmd.case)
    with refusal(ws, cached):
        case = Case.open(
            cmd.case,
            Context(order, rules),
            at=at,
            kind=cmd.kind,
            amount=amount,
            reason=cmd.reason,
            # The order lines the application names (None: the whole order).
            lines=None if cmd.lines is None else [p.model_dump() for p in cmd.lines],
            attachments=[a.model_dump() for a in cmd.attachments],
            note=cmd.note,
        )
    return Decision(case, order, at, [*ws.rules.records(rules, at)])


def on_case(step: Callable[..., None]) -> Handler:
    """A handler running ``step``, a method of :class:`Case`, with the command's
    own arguments (amounts parsed at the order's currency) on the stored case."""

    def handle(
        cmd: cmds.Command, ws: Workspace, fresh: bool, expected: int | None = None
    ) -> Decision:
        case, order, cached = ws.load_case(cmd.case, fresh)
        with refusal(ws, cached):
            expect_version(case, cmd, expected)
        at = cmd.at or ws.clock()  # read once the case is loaded: never before its last event
        args = cmd.args()
        for key in ("amount", "refund_amount", "freight"):
            if args.get(key) is not None:
                args[key] = parse_amount(args[key], order.currency, field=key)
        with refusal(ws, cached):
            step(case, Context(order, ws.rules.of(case)), at=at, **args)
        return Decision(case, order, at)

    handle.__name__ = handle.__qualname__ = step.__name__
    return handle


#: Every command type and its handler.
COMMAND_HANDLERS: dict[type[cmds.Command], Handler] = {
    cmds.Apply: apply,
    cmds.Approve: on_case(Case.approve),
    cmds.Propose: on_case(Case.propose),
    cmds.AcceptProposal: on_case(Case.accept_proposal),
    cmds.DeclineProposal: on_case(Case.decline_proposal),
    cmds.Reject: on_case(Case.reject),
    cmds.ShipBack: on_case(Case.ship_back),
    cmds.ConfirmReceipt: on_case(Case.confirm_receipt),
    cmds.ShipReplacement: on_case(Case.ship_replacement),
    cmds.ConfirmCompletion: on_case(Case.confirm_completion),
    cmds.Escalate: on_case(Case.escalate),
    cmds.SubmitEvidence: on_case(Case.submit_evidence),
    cmds.Rule: on_case(Case.rule),
    cmds.Withdraw: on_case(Case.withdraw),
    cmds.RequestGoodsBack: on_case(Case.request_goods_back),
    cmds.WaiveDeduction: on_case(Case.waive_deduction),
    cmds.Message: on_case(Case.post_message),
    cmds.ProposePartialRefund: on_case(Case.propose_partial_refund),
    cmds.AcceptPartialRefund: on_case(Case.accept_partial_refund),
    cmds.SendGoodsBack: on_case(Case.send_goods_back),
}
