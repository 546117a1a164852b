"""Kilimall rules KM-1 .. KM-8 (SPEC §2), given -> when -> then on events,
on the aggregates themselves (``desk.Desk``: no store).

Orders here are Kilimall orders of 4200.00 KES paid at T0, shipped at
T0+1d and delivered at T0+5d unless a test says otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import (
    NotAllowedError,
    RefundCapError,
    TransitionNotAllowedError,
    WindowClosedError,
)

from .desk import Desk
from .helpers import event_types, order, refused, t

DELIVERED = t(days=5)
APPLIED = t(days=6)
H72 = timedelta(hours=72)
D90 = timedelta(days=90)
SECOND = timedelta(seconds=1)
WAYBILL = {"carrier": "G4S", "tracking_number": "KE-1"}


def km_order(desk: Desk, order_id: str = "O1", **facts: Any) -> None:
    """Given: a Kilimall order (not global-selling unless ``gs=True``)."""
    base: dict[str, Any] = {
        "platform": "kilimall",
        "amount": "4200.00",
        "currency": "KES",
        "shipped_at": t(days=1),
        "delivered_at": DELIVERED,
    }
    order(desk, order_id, **{**base, **facts})


def apply(
    desk: Desk,
    kind: str,
    *,
    case: str = "C1",
    at: datetime = APPLIED,
    order_id: str = "O1",
    **args: Any,
) -> Case:
    return desk.execute("apply", case=case, order=order_id, at=at, kind=kind, **args)


def last(desk: Desk, type_name: str, case: str = "C1") -> Any:
    """The last event of ``type_name`` (typed loosely: each type has its own fields)."""
    found = [e for e in desk.case_events(case) if type(e).__name__ == type_name]
    assert found, f"no {type_name} in {event_types(desk, case)}"
    return found[-1]


def ledger(desk: Desk) -> list[tuple[str, str, Decimal]]:
    return [(d["case_id"], d["reason"], d["amount"]) for d in desk.deductions()]


# --------------------------------------------------------------------- KM-1
def test_cancel_undelivered_gs_order_at_30_days_refunds_and_charges_seller_km1(
    desk: Desk,
) -> None:
    km_order(desk, gs=True, delivered_at=None)
    at = t(days=30)
    case = apply(desk, "cancel_undelivered", at=at, reason="not_received")
    assert case.state == "refunded" and case.refunded_total == Decimal("4200.00")
    assert event_types(desk, "C1") == ["Applied", "Refunded", "DeductionRecorded"]
    for name in ("Refunded", "DeductionRecorded"):
        e = last(desk, name)
        assert (e.at, e.auto, e.rule) == (at, True, "KM-1")
    assert ledger(desk) == [("C1", "undelivered_loss", Decimal("4200.00"))]
    assert desk.get_order("O1").open_case_id is None


def test_cancel_undelivered_gs_order_a_second_before_30_days_refused_km1(
    desk: Desk,
) -> None:
    km_order(desk, gs=True, delivered_at=None)
    with refused(desk, WindowClosedError, "KM-1", "new", "shipped order"):
        apply(desk, "cancel_undelivered", at=t(days=30) - SECOND, reason="not_received")


def test_cancel_delivered_order_refused_km1(desk: Desk) -> None:
    km_order(desk, gs=True)
    with refused(desk, NotAllowedError, "KM-1", "received"):
        apply(desk, "cancel_undelivered", at=t(days=31))


def test_cancel_before_shipment_refunds_without_deduction_km1(desk: Desk) -> None:
    km_order(desk, gs=True, shipped_at=None, delivered_at=None)
    case = apply(desk, "cancel_undelivered", at=t(hours=3), amount="4200.00")
    assert case.state == "refunded"
    assert event_types(desk, "C1") == ["Applied", "Refunded"]
    assert ledger(desk) == []


def test_cancel_undelivered_not_offered_on_kuaishou_km1(desk: Desk) -> None:
    order(desk, delivered_at=None)
    with refused(desk, NotAllowedError, "kuaishou.kinds", "not offered"):
        apply(desk, "cancel_undelivered", at=t(days=31))


# --------------------------------------------------------------------- KM-2
def test_return_on_day_7_after_receipt_accepted_km2(desk: Desk) -> None:
    km_order(desk)
    case = apply(desk, "return_refund", at=DELIVERED + timedelta(days=7), reason="damaged")
    assert case.state == "requested"


@pytest.mark.parametrize("kind", ["return_refund", "exchange"])
def test_return_or_exchange_a_second_after_day_7_refused_km2(desk: Desk, kind: str) -> None:
    km_order(desk)
    with refused(desk, WindowClosedError, "KM-2", "validity"):
        apply(desk, kind, at=DELIVERED + timedelta(days=7, seconds=1))


# ---------------------------------------------------------------- KM-3 / 4
def warehouse_return(desk: Desk, *, gs: bool = True, reason: str = "wrong_item") -> datetime:
    """Given: a return received by the seller; returns the receipt time."""
    km_order(desk, gs=gs)
    apply(desk, "return_refund", amount="4200.00", reason=reason)
    desk.execute("approve", case="C1", at=APPLIED + timedelta(hours=1))
    desk.execute("ship_back", case="C1", at=APPLIED + timedelta(days=1), **WAYBILL)
    received = APPLIED + timedelta(days=4)
    # KM-3: goods bound for the overseas warehouse are received by the platform.
    warehouse = gs and reason in ("wrong_item", "missing_item", "quality_issue", "damaged")
    by = "platform" if warehouse else "seller"
    desk.execute("confirm_receipt", case="C1", at=received, by=by)
    return received


def test_gs_return_by_seller_fault_goes_to_warehouse_with_fee_km3(desk: Desk) -> None:
    received = warehouse_return(desk)
    assert event_types(desk, "C1")[-3:] == ["Received", "DeductionRecorded", "Refunded"]
    assert last(desk, "Received").to_warehouse is True
    fee = last(desk, "DeductionRecorded")
    assert (fee.at, fee.rule, fee.auto) == (received, "KM-3", True)
    assert ledger(desk) == [("C1", "return_processing_fee", Decimal("300.00"))]
    case = desk.get_case("C1")
    assert case.state == "refunded" and case.refunded_total == Decimal("4200.00")
    assert case.goods == "held"
    pending = case.pending_deadline
    assert pending is not None
    assert (pending.due, pending.action, pending.rule) == (received + D90, "scrap_goods", "KM-4")


def test_return_processing_fee_is_configurable_km3() -> None:
    desk = Desk(settings={"return_processing_fee": "150.00"})
    warehouse_return(desk)
    assert ledger(desk) == [("C1", "return_processing_fee", Decimal("150.00"))]


@pytest.mark.parametrize(
    ("gs", "reason"), [(False, "wrong_item"), (True, "changed_mind")], ids=["not-gs", "buyer-side"]
)
def test_return_not_to_warehouse_has_no_fee_and_no_goods_km3(
    desk: Desk, gs: bool, reason: str
) -> None:
    warehouse_return(desk, gs=gs, reason=reason)
    assert last(desk, "Received").to_warehouse is False
    case = desk.get_case("C1")
    assert case.state == "refunded" and case.goods is None and case.pending_deadline is None
    assert ledger(desk) == []


def test_seller_asks_goods_back_a_second_before_90_days_km4(desk: Desk) -> None:
    received = warehouse_return(desk)
    at = received + D90 - SECOND
    case = desk.execute("request_goods_back", case="C1", at=at)
    assert case.state == "refunded" and case.goods == "requested_back"
    # The scrap deadline gives way to the warehouse's send-back deadline (KM-4, KM-A11).
    pending = case.pending_deadline
    assert pending is not None and (pending.name, pending.rule) == ("goods_send_back", "KM-A11")
    assert pending.due == at + timedelta(days=7)
    e = last(desk, "GoodsReturnToSellerRequested")
    assert (e.at, e.actor, e.auto) == (at, "seller", False)
    assert [f.name for f in desk.fire_due(received + D90 * 2)] == ["goods_send_back"]
    assert desk.get_case("C1").goods == "sent_back"


def test_seller_asks_goods_back_at_90_days_refused_km4(desk: Desk) -> None:
    received = warehouse_return(desk)
    with refused(desk, WindowClosedError, "KM-4", "refunded", "scraps the goods"):
        desk.execute("request_goods_back", case="C1", at=received + D90)


def test_goods_not_asked_back_scrapped_at_90_days_km4(desk: Desk) -> None:
    received = warehouse_return(desk)
    assert desk.fire_due(received + D90 - SECOND) == []
    fired = desk.fire_due(received + D90 + timedelta(days=3))
    assert [(f.name, f.due, f.rule) for f in fired] == [("goods_scrap", received + D90, "KM-4")]
    scrapped = last(desk, "GoodsScrapped")
    assert (scrapped.at, scrapped.auto, scrapped.rule, scrapped.state) == (
        received + D90,
        True,
        "KM-4",
        "refunded",
    )
    case = desk.get_case("C1")
    assert case.goods == "scrapped" and case.pending_deadline is None
    with refused(desk, TransitionNotAllowedError, "KM-4", "scrapped"):
        desk.execute("request_goods_back", case="C1", at=received + D90 + timedelta(days=4))


def test_request_goods_back_without_warehouse_goods_refused_km4(desk: Desk) -> None:
    warehouse_return(desk, gs=False)
    with refused(desk, TransitionNotAllowedError, "KM-4", "refunded", "none"):
        desk.execute("request_goods_back", case="C1", at=APPLIED + timedelta(days=5))


def test_warehouse_exchange_goods_deadline_runs_beside_the_case_km4(desk: Desk) -> None:
    km_order(desk, gs=True)
    apply(desk, "exchange", reason="quality_issue")
    desk.execute("approve", case="C1", at=APPLIED + timedelta(hours=1))
    desk.execute("ship_back", case="C1", at=APPLIED + timedelta(hours=2), **WAYBILL)
    received = APPLIED + timedelta(days=1)
    desk.execute("confirm_receipt", case="C1", at=received, by="platform")
    sent = received + timedelta(days=1)
    case = desk.execute("ship_replacement", case="C1", at=sent, carrier="G4S", tracking_number="2")
    names = sorted(d.name for d in case.pending_deadlines)
    assert names == ["buyer_confirmation", "goods_scrap"]
    # Deadlines fire in due order: the goods' 90 days cannot jump the buyer's 10.
    before = desk.notification_count()
    assert desk.fire("C1", "goods_scrap", received + D90) is None
    assert desk.notification_count() == before
    # The replacement is due for auto-completion first: a later request must wait for it.
    with refused(desk, WindowClosedError, "KM-A2", "reshipping"):
        desk.execute("request_goods_back", case="C1", at=sent + timedelta(days=11))
    desk.fire_due(sent + timedelta(days=11))
    case = desk.execute("request_goods_back", case="C1", at=sent + timedelta(days=11))
    assert case.state == "completed" and case.goods == "requested_back"
    assert [type(e).__name__ for e in desk.case_events("C1")][-2:] == [
        "Completed",
        "GoodsReturnToSellerRequested",
    ]
    assert ledger(desk) == [("C1", "return_processing_fee", Decimal("300.00"))]


# --------------------------------------------------------------------- KM-5
def test_seller_replies_at_71h59m_no_arbitration_km5(desk: Desk) -> None:
    km_order(desk)
    apply(desk, "refund_only", amount="1000.00")
    case = desk.execute("approve", case="C1", at=APPLIED + H72 - timedelta(minutes=1))
    assert case.state == "refunded" and ledger(desk) == []


def test_seller_replies_at_exactly_72h_refused_km5(desk: Desk) -> None:
    km_order(desk)
    apply(desk, "refund_only", amount="1000.00")
    with refused(desk, WindowClosedError, "KM-5", "requested", "platform arbitration"):
        desk.execute("approve", case="C1", at=APPLIED + H72)


def test_silent_seller_refund_arbitrated_by_buyer_plan_with_deduction_km5(
    desk: Desk,
) -> None:
    km_order(desk)
    apply(desk, "refund_only", amount="1000.00", reason="not_as_described")
    assert desk.fire_due(APPLIED + H72 - SECOND) == []
    fired = desk.fire_due(APPLIED + H72)
    assert [(f.name, f.rule) for f in fired] == [("seller_reply", "KM-5")]
    assert event_types(desk, "C1") == [
        "Applied",
        "Escalated",
        "Arbitrated",
        "DeductionRecorded",
        "PointsDeducted",
        "Approved",
        "Refunded",
    ]
    for e in desk.case_events("C1")[1:]:
        assert (e.at, e.auto, e.rule) == (APPLIED + H72, True, "KM-5")
    arbitrated = last(desk, "Arbitrated")
    assert (arbitrated.in_favour_of, arbitrated.refund_amount) == (
        "buyer",
        Decimal("1000.00"),
    )
    assert ledger(desk) == [("C1", "no_reply_arbitration", Decimal("1000.00"))]
    case = desk.get_case("C1")
    assert case.state == "refunded" and case.refunded_total == Decimal("1000.00")


def test_silent_seller_return_arbitrated_into_the_return_step_km5(desk: Desk) -> None:
    km_order(desk)
    apply(desk, "return_refund", amount="4200.00", reason="damaged")
    desk.fire_due(APPLIED + H72)
    assert event_types(desk, "C1")[-3:] == ["DeductionRecorded", "PointsDeducted", "Approved"]
    case = desk.get_case("C1")
    assert case.state == "awaiting_return" and case.refunded_total == 0
    pending = case.pending_deadline
    assert pending is not None and (pending.due, pending.rule) == (
        APPLIED + H72 + timedelta(days=7),
        "KM-7",
    )
    assert ledger(desk) == [("C1", "no_reply_arbitration", Decimal("4200.00"))]


# ---------------------------------------------------------------- KM-6 / 7
def proposed(desk: Desk, kind: str, amount: str, applied: str = "return_refund") -> None:
    km_order(desk)
    apply(desk, applied, amount="4200.00", reason="damaged")
    desk.execute("propose", case="C1", at=APPLIED + timedelta(hours=1), kind=kind, amount=amount)


def test_partial_refund_plan_accepted_refunds_at_once_km6_km7(desk: Desk) -> None:
    proposed(desk, "refund_only", "1500.00")
    assert desk.get_case("C1").state == "proposed"
    case = desk.execute("accept_proposal", case="C1", at=APPLIED + timedelta(hours=2))
    assert event_types(desk, "C1") == ["Applied", "Proposed", "ProposalAccepted", "Refunded"]
    assert case.state == "refunded" and case.kind == "refund_only"
    assert case.refunded_total == Decimal("1500.00") and desk.get_order("O1").remaining == Decimal(
        "2700.00"
    )


def test_return_plan_accepted_waits_for_the_goods_km7(desk: Desk) -> None:
    proposed(desk, "return_refund", "3000.00", applied="refund_only")
    at = APPLIED + timedelta(hours=2)
    case = desk.execute("accept_proposal", case="C1", at=at)
    assert case.state == "awaiting_return" and case.amount == Decimal("3000.00")
    pending = case.pending_deadline
    assert pending is not None and pending.due == at + timedelta(days=7)
    desk.execute("ship_back", case="C1", at=at + timedelta(days=1), **WAYBILL)
    case = desk.execute("confirm_receipt", case="C1", at=at + timedelta(days=2))
    assert case.refunded_total == Decimal("3000.00")


def test_declined_plan_restarts_the_seller_reply_deadline_km7(desk: Desk) -> None:
    proposed(desk, "refund_only", "500.00")
    declined = APPLIED + timedelta(hours=60)
    case = desk.execute("decline_proposal", case="C1", at=declined)
    assert case.state == "requested" and case.proposal is None
    pending = case.pending_deadline
    assert pending is not None and (pending.due, pending.rule) == (declined + H72, "KM-5")
    # Not from the application: nothing fires at application + 72h.
    assert desk.fire_due(APPLIED + H72 + timedelta(hours=1)) == []
    assert desk.fire_due(declined + H72)[0].due == declined + H72


def test_plan_without_consent_lapses_to_the_seller_review_km7(desk: Desk) -> None:
    proposed(desk, "refund_only", "500.00")
    case = desk.get_case("C1")
    pending = case.pending_deadline
    assert case.refunded_total == 0 and pending is not None
    assert (pending.name, pending.action, pending.rule) == (
        "buyer_consent",
        "lapse_proposal",
        "KM-7",
    )
    fired = desk.fire_due(pending.due)
    assert [f.name for f in fired] == ["buyer_consent"]
    case = desk.get_case("C1")
    assert case.state == "requested" and case.proposal is None and case.refunded_total == 0
    assert last(desk, "ProposalLapsed").auto is True


def test_plan_above_the_order_amount_refused_km6(desk: Desk) -> None:
    km_order(desk)
    apply(desk, "return_refund", amount="4200.00")
    with refused(desk, RefundCapError, "INV-cap", "requested"):
        desk.execute(
            "propose",
            case="C1",
            at=APPLIED + timedelta(hours=1),
            kind="refund_only",
            amount="4200.01",
        )


def test_kilimall_seller_may_reject_an_exchange_km6(desk: Desk) -> None:
    km_order(desk)
    apply(desk, "exchange", reason="other")
    case = desk.execute("reject", case="C1", at=APPLIED + timedelta(hours=1), reason="malicious")
    assert case.state == "rejected"


def test_malicious_return_rejected_and_seller_requests_arbitration_km6(desk: Desk) -> None:
    km_order(desk)
    apply(desk, "return_refund", amount="4200.00", reason="not_as_described")
    desk.execute("reject", case="C1", at=APPLIED + timedelta(hours=1), reason="swapped unit")
    case = desk.execute("escalate", case="C1", at=APPLIED + timedelta(hours=2), by="seller")
    assert case.state == "disputed" and case.escalated_by == "seller"


# --------------------------------------------------------------------- KM-8
def disputed(desk: Desk) -> datetime:
    km_order(desk)
    apply(desk, "return_refund", amount="4200.00", reason="not_as_described")
    desk.execute("reject", case="C1", at=APPLIED + timedelta(hours=1), reason="swapped unit")
    desk.execute("escalate", case="C1", at=APPLIED + timedelta(hours=2))
    return APPLIED + timedelta(days=2)


def test_ruling_for_buyer_partial_refund_and_liability_deduction_km8(desk: Desk) -> None:
    at = disputed(desk)
    case = desk.execute("rule", case="C1", at=at, in_favour_of="buyer", refund_amount="2100.00")
    assert case.state == "refunded" and case.refunded_total == Decimal("2100.00")
    for name in ("Arbitrated", "DeductionRecorded", "Refunded"):
        e = last(desk, name)
        assert (e.at, e.rule, e.actor, e.auto) == (at, "KM-8", "platform", False)
    assert ledger(desk) == [("C1", "ruled_liable", Decimal("2100.00"))]


def test_ruling_for_seller_closes_without_money_km8(desk: Desk) -> None:
    at = disputed(desk)
    case = desk.execute("rule", case="C1", at=at, in_favour_of="seller")
    assert case.state == "closed" and case.closed_reason == "ruled_for_seller"
    assert last(desk, "Closed").rule == "KM-8"
    assert case.refunded_total == 0 and ledger(desk) == []


def test_ruling_above_the_order_amount_refused_km8(desk: Desk) -> None:
    at = disputed(desk)
    with refused(desk, RefundCapError, "INV-cap", "disputed"):
        desk.execute("rule", case="C1", at=at, in_favour_of="buyer", refund_amount="4200.01")


def test_evidence_after_the_72h_limit_refused_km8(desk: Desk) -> None:
    disputed(desk)
    late = APPLIED + timedelta(hours=2) + H72 + SECOND
    with refused(desk, WindowClosedError, "KM-8", "disputed"):
        desk.execute("submit_evidence", case="C1", at=late, by="seller", note="photo")
