"""The checks a case's commands make before anything is recorded.

Each function either returns (the destination state, for :func:`allowed`)
or raises a :class:`~aftersales_es.domain.errors.CommandRefusedError` that
names the case, its state, the command and the rule. They read the case
(through the :class:`~aftersales_es.domain.events.Case` protocol), its
order and its rule set; none records anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NoReturn

from aftersales_es.domain.case_view import Case
from aftersales_es.domain.deadlines import Deadline, overdue
from aftersales_es.domain.errors import (
    CommandRefusedError,
    DeadlineNotPendingError,
    NotAllowedError,
    OpenCaseExistsError,
    RefundCapError,
    TransitionNotAllowedError,
    WindowClosedError,
)
from aftersales_es.domain.money import fmt
from aftersales_es.domain.order import Order
from aftersales_es.domain.rules import RuleSet
from aftersales_es.domain.statechart import (
    AUTOMATIC,
    NEGOTIABLE_KINDS,
    REFUND_KINDS,
    REPLACEMENT_KINDS,
    commands_from,
    destination,
)


def refuse(
    case: Case, err: type[CommandRefusedError], command: str, rule: str, why: str
) -> NoReturn:
    """Refuse ``command`` on ``case`` under ``rule``, saying ``why``."""
    raise err(case.case_id, case.state, command, rule, why)


def pending(case: Case) -> list[Deadline]:
    """Every pending deadline of ``case``: its own one and any KM-4 goods deadline."""
    return [Deadline.from_dict(d) for d in case.deadlines]


def due_deadline(case: Case, name: str, due: datetime) -> Deadline:
    """The pending deadline ``name`` due at ``due``, if it is its turn to fire.

    Deadlines fire in due order: one with an earlier deadline still pending
    is not fired yet.
    """
    found = pending(case)
    match = [d for d in found if d.name == name and d.due == due]
    if not match:
        where = f"case {case.case_id} (state {case.state})"
        raise DeadlineNotPendingError(f"{where}: no pending deadline {name} due {due}")
    earlier = [x for x in found if x.due < due]
    if earlier:
        first = earlier[0]
        why = f"{first.name} due {first.due} fires before {name}"
        raise DeadlineNotPendingError(f"case {case.case_id}: {why}")
    return match[0]


def check_time(case: Case, command: str, at: datetime, *, goods: bool = False) -> None:
    """Refuse a command dated before the case's history, or after a deadline fell due.

    ``goods``: also count the KM-4 goods deadline (commands on the goods).
    """
    if at < case.last_at:
        last = case.last_at.isoformat()
        why = f"at {at.isoformat()} is before the case's last event ({last})"
        refuse(case, WindowClosedError, command, "time", why)
    deadlines = pending(case)
    late = overdue(deadlines, at)
    if late is None and goods:
        late = next((d for d in deadlines if d.due <= at), None)
    if late is not None:
        then = AUTOMATIC.get(late.action, "the deadline's action comes")
        why = f"the {late.name} deadline fell due at {late.due.isoformat()}; {then} first"
        refuse(case, WindowClosedError, command, late.rule, why)


def check_order_time(case: Case, command: str, at: datetime, order: Order) -> None:
    """Refuse taking the order's open slot at an instant before its last case event."""
    if order.last_case_at is not None and at < order.last_case_at:
        why = (
            f"at {at.isoformat()} is before the last case event on order "
            f"{order.order_id} ({order.last_case_at.isoformat()})"
        )
        refuse(case, WindowClosedError, command, "time", why)


def allowed(
    case: Case,
    command: str,
    actor: str,
    at: datetime,
    *,
    plan: str | None = None,
    outcome: str | None = None,
) -> str:
    """Time, then the statechart: the state ``command`` leads to, or a refusal.

    The refusal lists what people may send instead, never an automatic trigger.
    """
    check_time(case, command, at)
    dest = destination(command, case.state, case.kind, actor, plan, outcome)
    if dest is None:
        options = ", ".join(commands_from(case.state, case.kind)) or "no command"
        why = f"not allowed for a {case.kind} case by the {actor} (from {case.state}: {options})"
        refuse(case, TransitionNotAllowedError, command, "statechart", why)
    return dest


def check_cap(case: Case, order: Order, command: str, amount: Decimal) -> None:
    """INV-cap: refunds never exceed what is left on the order (nor, INV-line-cap, its lines)."""
    if amount > order.remaining:
        why = (
            f"{fmt(amount)} exceeds the {fmt(order.remaining)} {order.currency} "
            f"left to refund on order {order.order_id}"
        )
        refuse(case, RefundCapError, command, "INV-cap", why)
    if case.lines:  # a line case refunds at most what its lines may
        cap = sum(order.line_caps(list(case.lines)), Decimal(0))
        if amount > cap:
            names = ", ".join(p["line"] for p in case.lines)
            why = (
                f"{fmt(amount)} exceeds the {fmt(cap)} {order.currency} that line(s) "
                f"{names} of order {order.order_id} may still refund"
            )
            refuse(case, RefundCapError, command, "INV-line-cap", why)


def check_proposal(case: Case) -> dict[str, Any]:
    """The plan the seller proposed (KM-7), or a refusal: nothing to accept."""
    if case.proposal is None:
        refuse(case, TransitionNotAllowedError, "accept_proposal", "KM-7", "nothing proposed")
    return case.proposal


def check_plan(case: Case, kind: str, amount: Decimal, offline: bool) -> None:
    """KM-6, KS-7: what a seller may propose instead of what was asked."""
    if kind not in NEGOTIABLE_KINDS:
        refuse(case, NotAllowedError, "propose", "KM-6", f"cannot propose a {kind} plan")
    if offline and kind not in REPLACEMENT_KINDS:
        refuse(case, NotAllowedError, "propose", "KS-7", "only exchange/repair go offline")
    if kind in REPLACEMENT_KINDS and amount != 0:
        why = f"an exchange or repair plan ({kind}) refunds nothing"
        refuse(case, NotAllowedError, "propose", "KM-6", why)
    if kind in REFUND_KINDS and amount <= 0:
        refuse(case, NotAllowedError, "propose", "KM-6", "a refund plan needs an amount > 0")


def check_waybill(case: Case, command: str, rule: str, carrier: str, tracking: str) -> None:
    """A shipment names its carrier and tracking number (KS-5, KS-7)."""
    if not carrier.strip() or not tracking.strip():
        refuse(case, NotAllowedError, command, rule, "carrier and tracking number needed")


def check_rejection(
    case: Case, rules: RuleSet, reason: str, category: str | None, contacted: bool
) -> str:
    """KS-3: a rejection carries a reason and one of the rule set's categories,
    after talking to the buyer; KS-7: an exchange or repair may have to be
    supported. Returns the category (a rule set with one category implies it)."""
    s = rules.settings
    if not reason.strip():
        refuse(case, NotAllowedError, "reject", "KS-3", "a rejection carries a reason")
    must = s.exchange_repair_must_be_supported
    if must.value and case.kind in REPLACEMENT_KINDS:
        why = f"the merchant must support an exchange or repair ({case.kind})"
        refuse(case, NotAllowedError, "reject", must.rule, why)
    known = rules.catalogue.rejection_categories
    if category is None and len(known.ids) == 1:
        category = known.ids[0]
    if known.ids and category not in known.ids:
        why = f"a rejection names its category, one of: {', '.join(known.ids)}"
        if category is not None:
            why = f"unknown category {category!r}; use one of: {', '.join(known.ids)}"
        refuse(case, NotAllowedError, "reject", known.rule, why)
    contact = s.rejection_needs_buyer_contact
    if contact.value and not contacted:
        why = "the seller must talk to the buyer before rejecting (buyer_contacted)"
        refuse(case, NotAllowedError, "reject", contact.rule, why)
    return category or "unspecified"


def check_receiver(case: Case, by: str, to_warehouse: bool, rule: str) -> None:
    """KM-3: the warehouse (platform) receives warehouse-bound goods, the seller any other."""
    if to_warehouse and by != "platform":
        why = "the goods go to the platform's overseas warehouse: the platform confirms receipt"
        refuse(case, NotAllowedError, "confirm_receipt", rule, why)
    if not to_warehouse and by != "seller":
        why = "the goods go back to the seller: the seller confirms receipt"
        refuse(case, NotAllowedError, "confirm_receipt", rule, why)


def check_waiver(
    case: Case, waivable: Sequence[str], rule: str, reason: str, note: str
) -> dict[str, Any]:
    """KM-1: the latest unwaived deduction of a waivable ``reason``, with the platform's note."""
    if reason not in waivable:
        allowed_ = ", ".join(waivable) or "none"
        why = f"a {reason} deduction cannot be waived (waivable: {allowed_})"
        refuse(case, NotAllowedError, "waive_deduction", rule, why)
    if not note.strip():
        refuse(case, NotAllowedError, "waive_deduction", rule, "a waiver says why (note)")
    open_ = [
        d
        for d in case.deductions_recorded
        if d["reason"] == reason and d["version"] not in case.waived_versions
    ]
    if not open_:
        why = f"no {reason} deduction left to waive on this case"
        refuse(case, NotAllowedError, "waive_deduction", rule, why)
    return open_[-1]


def check_slot(case: Case, command: str, at: datetime, order: Order) -> None:
    """INV-open: a case taking its order's slot back finds it free, and in time order."""
    blocked = order.blocking(line_ids(case), case.case_id)
    if blocked is not None:
        why = f"order {case.order_id} already has open case {blocked[1]}"
        refuse(case, OpenCaseExistsError, command, blocked[0], why)
    check_order_time(case, command, at, order)


def check_evidence(case: Case, at: datetime, note: str, rule: str, *, files: int = 0) -> None:
    """KS-8: evidence comes within the platform's time limit and says something
    (a note, or ``files`` attached)."""
    if case.evidence_due is not None and at > case.evidence_due:
        why = f"evidence was due by {case.evidence_due.isoformat()}"
        refuse(case, WindowClosedError, "submit_evidence", rule, why)
    if not note.strip() and not files:
        refuse(case, NotAllowedError, "submit_evidence", rule, "evidence needs a note or a file")


def check_goods_held(
    case: Case, rule: str, command: str = "request_goods_back", actor: str = "seller"
) -> None:
    """KM-4: only goods held at the warehouse can be asked back, and only goods
    asked back can be sent back."""
    goods = case.goods or "none"
    if destination(command, goods, case.kind, actor, machine_name="goods") is None:
        why = f"no goods held at the warehouse (goods: {goods})"
        if command != "request_goods_back":
            why = f"the seller has not asked for the goods back (goods: {goods})"
        refuse(case, TransitionNotAllowedError, command, rule, why)


def line_ids(case: Case) -> list[str]:
    """The order lines ``case`` covers (empty: the whole order)."""
    return [part["line"] for part in case.lines]
