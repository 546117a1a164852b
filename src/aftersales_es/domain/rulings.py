"""What a platform ruling orders (KS-8, KM-8), checked before it is recorded.

A ruling is for the buyer or for the seller. For the seller it closes the
case. For the buyer it orders one outcome: a ``refund`` (by default of the
amount asked), a ``partial_refund`` (less than asked; the buyer keeps the
goods), or a remedy that sends goods back: ``return_then_refund`` (refunded
when the seller has them back), a ``replacement`` or a ``repair``. KM-8's
"the seller carries out the outcome and the case proceeds": a remedy puts
its kind in force and the case goes on from where the goods are, through the
statechart's ``rule`` rows (outcome guards ``to_return``, ``to_transit``,
``to_receipt``), with that state's deadlines. Pure: no store, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, NoReturn, get_args

from aftersales_es.domain.case_checks import check_cap, refuse
from aftersales_es.domain.case_view import Case
from aftersales_es.domain.errors import NotAllowedError, TransitionNotAllowedError
from aftersales_es.domain.money import zero
from aftersales_es.domain.order import Order
from aftersales_es.domain.statechart import NEGOTIABLE_KINDS, REPLACEMENT_KINDS, destination

Outcome = Literal[
    "refund", "partial_refund", "return_then_refund", "replacement", "repair", "close"
]
OUTCOMES: tuple[str, ...] = get_args(Outcome)
#: The outcomes that send goods back: the kind the case goes on as, and the
#: kinds of case a platform may order it on.
REMEDIES: dict[str, tuple[str, frozenset[str]]] = {
    "return_then_refund": ("return_refund", NEGOTIABLE_KINDS),
    "replacement": ("exchange", REPLACEMENT_KINDS),
    "repair": ("repair", REPLACEMENT_KINDS),
}


@dataclass(frozen=True, slots=True)
class Ruling:
    """A checked ruling: what it orders, and the table row it takes.

    ``amount`` is refunded at once (``refund``, ``partial_refund``) or when the
    goods are back (``return_then_refund``); ``kind`` is the kind the case goes
    on as ("" for an outcome that ends it); ``dest`` the state it leads to.
    """

    in_favour_of: str
    outcome: str
    amount: Decimal
    liable: bool
    kind: str
    dest: str


def _no(case: Case, rule: str, why: str) -> NoReturn:
    refuse(case, NotAllowedError, "rule", rule, why)


def decide(
    case: Case,
    order: Order,
    *,
    in_favour_of: str,
    outcome: str | None,
    refund_amount: Decimal | None,
    seller_liable: bool | None,
    rule: str,
) -> Ruling:
    """The ruling the platform asks for, or a refusal naming ``rule`` (the
    rule set's dispute rule): the outcome fits the side and the case's kind,
    its amount is above zero where it refunds and within the refund caps."""
    for_buyer = in_favour_of == "buyer"
    chosen = outcome or ("refund" if for_buyer else "close")
    if for_buyer == (chosen == "close"):
        side = "the seller closes the case" if for_buyer else "the buyer orders a remedy"
        _no(case, rule, f"outcome {chosen} does not fit a ruling for the {in_favour_of} ({side})")
    liable = for_buyer and (True if seller_liable is None else seller_liable)
    if chosen == "close":
        return Ruling(in_favour_of, chosen, zero(case.currency), False, "", "closed")
    amount = _amount(case, order, chosen, refund_amount, rule)
    guard, kind = "for_buyer", ""
    if chosen in REMEDIES:
        guard, kind = _goods_path(case, chosen, rule)
    dest = destination("rule", case.state, kind or case.kind, "platform", outcome=guard)
    if dest is None:  # the table has a row for every remedy a kind may be ordered
        refuse(case, TransitionNotAllowedError, "rule", "statechart", f"no row for {chosen}")
    return Ruling(in_favour_of, chosen, amount, liable, kind if guard != "for_buyer" else "", dest)


def _amount(case: Case, order: Order, outcome: str, asked: Decimal | None, rule: str) -> Decimal:
    """What the outcome refunds: nothing for a replacement or repair; else above
    zero (the amount asked unless told), a partial refund below what was asked."""
    if outcome in ("replacement", "repair"):
        if asked:
            _no(case, rule, f"a {outcome} refunds nothing (no refund_amount)")
        return zero(case.currency)
    if outcome == "partial_refund" and asked is None:
        _no(case, rule, "a partial refund names its refund_amount")
    amount = case.amount if asked is None else asked
    if amount <= 0:
        _no(case, rule, f"a {outcome} ruling for the buyer refunds > 0 (give refund_amount)")
    if outcome == "partial_refund" and 0 < case.amount <= amount:
        why = f"a partial refund is less than the {case.amount} asked (else order refund)"
        _no(case, rule, why)
    check_cap(case, order, "rule", amount)
    return amount


def _goods_path(case: Case, outcome: str, rule: str) -> tuple[str, str]:
    """The outcome guard and kind of a remedy ordered on ``case`` (see :func:`_guard`)."""
    kind, kinds = REMEDIES[outcome]
    if case.kind not in kinds:
        allowed = ", ".join(sorted(kinds))
        _no(case, rule, f"a {outcome} is ordered on {allowed} cases, not {case.kind}")
    return _guard(case.escalated_from, outcome), kind


def _guard(source: str, outcome: str) -> str:
    """A remedy's outcome guard, from where the goods were when the case was
    escalated (``source``): still with the buyer (sent back from
    ``awaiting_return``), on their way (``returning``: the seller's receipt
    next) or with the seller (``received``: a return is refunded at once, a
    replacement or repair goes on from receipt)."""
    if source == "received":
        return "for_buyer" if outcome == "return_then_refund" else "to_receipt"
    return "to_transit" if source == "returning" else "to_return"


def destinations(case: Case) -> list[str]:
    """Where a ruling may take ``case`` now, over every outcome its kind admits."""
    found: list[str] = []
    for outcome in OUTCOMES:
        kind, guard = case.kind, "for_seller" if outcome == "close" else "for_buyer"
        if outcome in REMEDIES:
            kind, kinds = REMEDIES[outcome]
            if case.kind not in kinds:
                continue
            guard = _guard(case.escalated_from, outcome)
        dest = destination("rule", case.state, kind, "platform", outcome=guard)
        if dest is not None and dest not in found:
            found.append(dest)
    return found
