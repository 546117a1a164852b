"""A seller's partial refund on returned goods (KM-6, KM-7): having received
and inspected them, the seller offers less than asked, with a reason; the
buyer consents (refunded that amount) or escalates (KS-8); unanswered, the
offer goes to the platform (KS-A6, KM-A9). Given -> when -> then on ``Desk``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from aftersales_es.domain.errors import (
    NotAllowedError,
    TransitionNotAllowedError,
    WindowClosedError,
)
from aftersales_es.domain.events import Escalated, PartialRefundProposed

from .desk import Desk
from .helpers import event_types, order, refused, t

APPLIED = t(days=3)
H = timedelta(hours=1)
D = timedelta(days=1)
BILL = {"carrier": "SF", "tracking_number": "SF1"}
OFFER = {"amount": "70.00", "reason": "scratched case, charger missing"}


def returning(desk: Desk, kind: str = "return_refund", **facts: str) -> datetime:
    """Given: a case C1 of ``kind`` approved and shipped back; returns when shipped."""
    order(desk, **facts)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind=kind, reason="changed_mind")
    desk.execute("approve", case="C1", at=APPLIED + H)
    desk.execute("ship_back", case="C1", at=APPLIED + 2 * H, **BILL)
    return APPLIED + 2 * H


def test_seller_offers_a_partial_refund_on_the_returned_goods_km6(desk: Desk) -> None:
    at = returning(desk)
    case = desk.execute("propose_partial_refund", case="C1", at=at + D, **OFFER)
    # then: the goods are received and the offer waits for the buyer, 48 h (KS-A6)
    assert case.state == "received" and case.refunded_total == Decimal("0.00")
    assert event_types(desk, "C1")[-2:] == ["Received", "PartialRefundProposed"]
    offer = desk.case_events("C1")[-1]
    assert isinstance(offer, PartialRefundProposed)
    assert (offer.amount, offer.reason, offer.actor) == (
        Decimal("70.00"),
        OFFER["reason"],
        "seller",
    )
    due = case.pending_deadline
    assert due is not None and (due.action, due.rule, due.due) == (
        "auto_escalate",
        "KS-A6",
        at + 3 * D,
    )


def test_buyer_consents_and_is_refunded_the_offer_km7() -> None:
    desk = Desk()  # generic: a 10 % restocking fee on changed_mind returns
    at = returning(desk, platform="generic", currency="USD")
    desk.execute("propose_partial_refund", case="C1", at=at + D, **OFFER)
    case = desk.execute("accept_partial_refund", case="C1", at=at + 2 * D)
    assert case.state == "refunded" and case.refunded_total == Decimal("70.00")
    assert event_types(desk, "C1")[-2:] == ["PartialRefundAccepted", "Refunded"]
    refunded = desk.case_events("C1")[-1]
    assert refunded.fee == 0  # type: ignore[attr-defined]  # the offer is what the buyer gets
    assert case.offer is None and not desk.deductions()
    assert desk.get_order("O1").open_case_id is None


def test_buyer_escalates_the_offer_and_the_platform_rules_ks8(desk: Desk) -> None:
    at = returning(desk)
    desk.execute("propose_partial_refund", case="C1", at=at + D, **OFFER)
    case = desk.execute("escalate", case="C1", at=at + 2 * D, by="buyer")
    assert (case.state, case.escalated_from) == ("disputed", "received")
    case = desk.execute("rule", case="C1", at=at + 3 * D, in_favour_of="buyer",
                        outcome="partial_refund", refund_amount="90.00")  # fmt: skip
    assert case.state == "refunded" and case.refunded_total == Decimal("90.00")


def test_offer_escalated_and_never_ruled_refunds_in_full_ks_a3(desk: Desk) -> None:
    at = returning(desk)
    desk.execute("propose_partial_refund", case="C1", at=at + D, **OFFER)
    desk.execute("escalate", case="C1", at=at + 2 * D, by="buyer")
    desk.fire_due(at + 60 * D)
    case = desk.get_case("C1")  # the goods are with the seller: the buyer's plan is a refund
    assert case.state == "refunded" and case.refunded_total == Decimal("120.00")


def test_unanswered_offer_goes_to_the_platform_without_a_deduction_ks_a4(desk: Desk) -> None:
    at = returning(desk)
    desk.execute("propose_partial_refund", case="C1", at=at + D, **OFFER)
    with refused(desk, WindowClosedError, "KS-A6", "goes to the platform"):
        desk.execute("accept_partial_refund", case="C1", at=at + 4 * D)
    (fired,) = desk.fire_due(at + 3 * D)
    case = desk.get_case("C1")
    assert (fired.rule, case.state, case.escalated_from) == ("KS-A6", "disputed", "received")
    escalated = desk.case_events("C1")[-1]
    assert isinstance(escalated, Escalated)
    assert (escalated.at, escalated.auto, escalated.by) == (at + 3 * D, True, "system")
    assert not desk.deductions()


def test_unanswered_offer_on_kilimall_goes_to_arbitration_after_72h_km_a7(desk: Desk) -> None:
    at = returning(desk, platform="kilimall", amount="4200.00", currency="KES",
                   delivered_at=t(days=2))  # fmt: skip
    desk.execute("propose_partial_refund", case="C1", at=at + D, amount="3000.00", reason="worn")
    (fired,) = desk.fire_due(at + 4 * D)
    assert (fired.rule, fired.due, desk.get_case("C1").state) == ("KM-A9", at + 4 * D, "disputed")


@pytest.mark.parametrize(
    ("amount", "reason", "words"),
    [("120.00", "worn", "below the 120.00"), ("0.00", "worn", "above 0"), ("70.00", " ", "why")],
)
def test_offer_is_below_the_ask_above_zero_and_says_why_km6(
    desk: Desk, amount: str, reason: str, words: str
) -> None:
    at = returning(desk)
    with refused(desk, NotAllowedError, "KM-6", words):
        desk.execute("propose_partial_refund", case="C1", at=at + D, amount=amount, reason=reason)


def test_offer_on_an_exchange_refused_statechart(desk: Desk) -> None:
    at = returning(desk, kind="exchange")
    with refused(desk, TransitionNotAllowedError, "statechart"):
        desk.execute("propose_partial_refund", case="C1", at=at + D, **OFFER)


def test_offer_on_goods_bound_for_the_overseas_warehouse_refused_km3(desk: Desk) -> None:
    order(desk, platform="kilimall", amount="4200.00", currency="KES", gs=True)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind="return_refund",
                 reason="wrong_item")  # fmt: skip
    desk.execute("approve", case="C1", at=APPLIED + H)
    desk.execute("ship_back", case="C1", at=APPLIED + 2 * H, **BILL)
    with refused(desk, NotAllowedError, "KM-3", "warehouse"):
        desk.execute("propose_partial_refund", case="C1", at=APPLIED + D, amount="10.00",
                     reason="worn")  # fmt: skip


def test_offer_after_a_ruling_refused_the_outcome_is_final_km8(desk: Desk) -> None:
    # given: the seller never answered; KM-5 arbitrated by the buyer's return plan
    order(desk, platform="kilimall", amount="4200.00", currency="KES")
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind="return_refund",
                 reason="changed_mind")  # fmt: skip
    desk.fire_due(APPLIED + 3 * D)
    desk.execute("ship_back", case="C1", at=APPLIED + 4 * D, **BILL)
    with refused(desk, NotAllowedError, "KM-8", "final"):
        desk.execute("propose_partial_refund", case="C1", at=APPLIED + 5 * D, amount="10.00",
                     reason="worn")  # fmt: skip
