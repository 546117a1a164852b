"""Given -> when -> then on the aggregates themselves, without a store.

The domain's rules are pure: a case decides from its own events, its
order's and its rule set. :class:`Desk` keeps each order's and each case's
events in a list; a command rebuilds the case and its order from their
events, calls the case's method with a :class:`Context` (order + rule set),
and keeps the new events only if the method did not refuse. So a test reads
"given these orders and commands, when this command, then these events (or
this error, and no new events)", and runs in microseconds.

Commands are validated by the same command models the service uses
(:func:`parse_command`: defaults, field checks), and amounts are read at the
order's currency, as the service does. Everything that depends on a store
(conflicts, caches, idempotency, snapshots, the deadline index, workers) is
tested against the real stores instead (``conftest.app``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

from aftersales_es.app.commands import parse_command, parse_order
from aftersales_es.domain.case import Case, Context
from aftersales_es.domain.errors import (
    AlreadyExistsError,
    CaseNotFoundError,
    DeadlineNotPendingError,
    InvalidInputError,
    OrderNotFoundError,
)
from aftersales_es.domain.events import CaseEvent, DeductionRecorded
from aftersales_es.domain.money import check_currency, parse_amount
from aftersales_es.domain.order import Order
from aftersales_es.domain.ruleload import load_ruleset
from aftersales_es.domain.rules import RuleSet

from .helpers import T0, order, t

__all__ = ["APPLIED", "T0", "Desk", "Fired", "make_case", "make_order", "make_rules", "t"]

#: When the cases of these tests are applied for, unless told: T0 + 3 days.
APPLIED = t(days=3)


@cache
def _shipped(name: str) -> RuleSet:
    return load_ruleset(name)


def make_rules(
    platform: str | Path | RuleSet = "kuaishou", settings: Mapping[str, Any] | None = None
) -> RuleSet:
    """A rule set (a shipped one by name, a file, or a model) with ``settings`` overridden."""
    if isinstance(platform, RuleSet):
        rules = platform
    else:
        rules = _shipped(platform) if isinstance(platform, str) else load_ruleset(platform)
    return rules.with_overrides(dict(settings or {}))


def make_order(order_id: str = "O1", **facts: Any) -> Order:
    """An order paid at T0 (Kuaishou, 120.00 CNY, shipped T0+20h, delivered T0+2d unless told)."""
    return order(Desk(), order_id, **facts)


def make_case(
    order: Order,
    rules: RuleSet,
    kind: str = "refund_only",
    *,
    case_id: str = "C1",
    at: datetime = APPLIED,
    amount: Decimal | None = None,
    reason: str = "other",
) -> Case:
    """A case applied for on ``order`` under ``rules`` (the buyer's ``apply``)."""
    return Case.open(case_id, Context(order, rules), at=at, kind=kind, amount=amount, reason=reason)


@dataclass(frozen=True)
class Fired:
    """A deadline :meth:`Desk.fire_due` fired."""

    case_id: str
    name: str
    due: datetime
    rule: str


def _replay(events: list[Any]) -> Any:
    aggregate = None
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class Desk:
    """Orders and cases as their events, in memory; commands run on the aggregates."""

    def __init__(
        self,
        *,
        settings: Mapping[str, Any] | None = None,
        rulesets: Mapping[str, str | Path | RuleSet] | None = None,
    ) -> None:
        self.settings = dict(settings or {})
        self.sources = dict(rulesets or {})
        self.rules: dict[str, RuleSet] = {}
        self.orders: dict[str, list[Any]] = {}
        self.cases: dict[str, list[Any]] = {}
        self.log: list[tuple[str, CaseEvent]] = []  # every case event, in order recorded

    # ------------------------------------------------------------- givens
    def ruleset(self, platform: str) -> RuleSet:
        """The rule set new cases on ``platform`` are applied under."""
        if platform not in self.rules:
            rules = make_rules(self.sources.get(platform, platform), self.settings)
            self.rules[platform] = rules
            self.rules[rules.digest] = rules
        return self.rules[platform]

    def register_order(self, facts: Mapping[str, Any]) -> Order:
        """Given: an order, validated as the service validates it."""
        o = parse_order(dict(facts))
        check_currency(o.currency)
        self.ruleset(o.platform)
        if o.id in self.orders:
            raise AlreadyExistsError(f"order {o.id!r} already exists")
        lines = [
            {**ln.model_dump(), "unit_price": str(parse_amount(ln.unit_price, o.currency))}
            for ln in o.lines
        ]
        order = Order.register(
            at=o.paid_at,
            order_id=o.id,
            seller_id=o.seller,
            buyer_id=o.buyer,
            platform=o.platform,
            amount=parse_amount(o.amount, o.currency, allow_zero=False),
            currency=o.currency,
            paid_at=o.paid_at,
            shipped_at=o.shipped_at,
            delivered_at=o.delivered_at,
            gs=o.gs,
            category=o.category,
            return_address=o.return_address,
            lines=lines,
        )
        self.orders[o.id] = order.collect_events()
        return order

    # --------------------------------------------------------------- reads
    def get_order(self, order_id: str) -> Order:
        if order_id not in self.orders:
            raise OrderNotFoundError(order_id)
        order: Order = _replay(self.orders[order_id])
        return order

    def get_case(self, case_id: str, version: int | None = None) -> Case:
        if case_id not in self.cases:
            raise CaseNotFoundError(case_id)
        case: Case = _replay(self.cases[case_id][:version])
        return case

    def case_events(self, case_id: str) -> list[CaseEvent]:
        if case_id not in self.cases:
            raise CaseNotFoundError(case_id)
        return list(self.cases[case_id])

    def notification_count(self) -> int:
        """How many events were recorded (a refused command adds none)."""
        return sum(map(len, self.orders.values())) + sum(map(len, self.cases.values()))

    def deductions(self) -> list[dict[str, Any]]:
        """Every seller deduction, in the order recorded."""
        return [
            {
                "seller_id": e.seller_id,
                "case_id": c,
                "reason": e.reason,
                "amount": e.amount,
                "at": e.at,
            }
            for c, e in self.log
            if isinstance(e, DeductionRecorded)
        ]

    # ---------------------------------------------------------------- when
    def execute(self, command: str, /, **data: Any) -> Case:
        """When: ``command`` on a case, exactly as the service would run it."""
        cmd = parse_command(command, data)
        args = cmd.args()
        if command == "apply":
            if cmd.case in self.cases:
                raise AlreadyExistsError(f"case {cmd.case!r} already exists")
            order = self.get_order(args.pop("order"))
            rules = self.ruleset(order.platform)
            if args["amount"] is not None:
                args["amount"] = parse_amount(args["amount"], order.currency)
            case = Case.open(cmd.case, Context(order, rules), at=cmd.at, **args)
            return self._keep(case, order)
        case = self.get_case(cmd.case)
        order = self.get_order(case.order_id)
        for key in ("amount", "refund_amount", "freight"):
            if args.get(key) is not None:
                args[key] = parse_amount(args[key], order.currency, field=key)
        ctx = Context(order, self.rules[case.ruleset["digest"]])
        method = {"message": "post_message"}.get(command, command)  # as COMMAND_HANDLERS maps it
        getattr(case, method)(ctx, at=cmd.at, **args)
        return self._keep(case, order)

    def fire(self, case_id: str, name: str, due: datetime) -> Fired | None:
        """When: one deadline fires (None if it is no longer pending)."""
        case = self.get_case(case_id)
        order = self.get_order(case.order_id)
        found = [d for d in case.pending_deadlines if d.name == name and d.due == due]
        try:
            if not found:
                raise DeadlineNotPendingError(f"case {case_id}: {name} not pending")
            case.fire(Context(order, self.rules[case.ruleset["digest"]]), name=name, due=due)
        except DeadlineNotPendingError:
            return None
        self._keep(case, order)
        return Fired(case_id, name, due, found[0].rule)

    def fire_due(self, now: datetime) -> list[Fired]:
        """When: time reaches ``now``; every deadline due fires, earliest first."""
        if now.tzinfo is None:
            raise InvalidInputError("now: needs a timezone")
        fired: list[Fired] = []
        tried: set[tuple[str, str, datetime]] = set()
        while True:
            due = sorted(
                (d.due.astimezone(UTC), case_id, d.name, d.due)
                for case_id in self.cases
                for d in self.get_case(case_id).pending_deadlines
                if d.due <= now and (case_id, d.name, d.due) not in tried
            )
            if not due:
                return fired
            _, case_id, name, at = due[0]
            tried.add((case_id, name, at))
            if (done := self.fire(case_id, name, at)) is not None:
                fired.append(done)

    def _keep(self, case: Case, order: Order) -> Case:
        new: list[Any] = case.collect_events()
        self.cases.setdefault(case.case_id, []).extend(new)
        self.log.extend((case.case_id, e) for e in new)
        self.orders[order.order_id].extend(order.collect_events())
        return case
