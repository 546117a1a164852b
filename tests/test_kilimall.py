"""Kilimall rules KM-1 .. KM-8 (SPEC §2), given -> when -> then on events.

Orders here are Kilimall orders of 4200.00 KES paid at T0, shipped at
T0+1d and delivered at T0+5d unless a test says otherwise.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftersales_es.app.service import AfterSales
from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import (
    NotAllowedError,
    RefundCapError,
    TransitionNotAllowedError,
    WindowClosedError,
)

from .helpers import event_types, order, refused, t

DELIVERED = t(days=5)
APPLIED = t(days=6)
H72 = timedelta(hours=72)
D90 = timedelta(days=90)
SECOND = timedelta(seconds=1)
WAYBILL = {"carrier": "G4S", "tracking_number": "KE-1"}


def km_order(app: AfterSales, order_id: str = "O1", **facts: Any) -> None:
    """Given: a Kilimall order (not global-selling unless ``gs=True``)."""
    base: dict[str, Any] = {
        "platform": "kilimall",
        "amount": "4200.00",
        "currency": "KES",
        "shipped_at": t(days=1),
        "delivered_at": DELIVERED,
    }
    order(app, order_id, **{**base, **facts})


def apply(
    app: AfterSales,
    kind: str,
    *,
    case: str = "C1",
    at: datetime = APPLIED,
    order_id: str = "O1",
    **args: Any,
) -> Case:
    return app.execute("apply", case=case, order=order_id, at=at, kind=kind, **args)


def last(app: AfterSales, type_name: str, case: str = "C1") -> Any:
    """The last event of ``type_name`` (typed loosely: each type has its own fields)."""
    found = [e for e in app.case_events(case) if type(e).__name__ == type_name]
    assert found, f"no {type_name} in {event_types(app, case)}"
    return found[-1]


def ledger(app: AfterSales) -> list[tuple[str, str, Decimal]]:
    return [(d["case_id"], d["reason"], d["amount"]) for d in app.deductions()]


# --------------------------------------------------------------------- KM-1
def test_cancel_undelivered_gs_order_at_30_days_refunds_and_charges_seller_km1(
    app: AfterSales,
) -> None:
    km_order(app, gs=True, delivered_at=None)
    at = t(days=30)
    case = apply(app, "cancel_undelivered", at=at, reason="not_received")
    assert case.state == "refunded" and case.refunded_total == Decimal("4200.00")
    assert event_types(app, "C1") == ["Applied", "Refunded", "DeductionRecorded"]
    for name in ("Refunded", "DeductionRecorded"):
        e = last(app, name)
        assert (e.at, e.auto, e.rule) == (at, True, "KM-1")
    assert ledger(app) == [("C1", "undelivered_loss", Decimal("4200.00"))]
    assert app.get_order("O1").open_case_id is None


def test_cancel_undelivered_gs_order_a_second_before_30_days_refused_km1(
    app: AfterSales,
) -> None:
    km_order(app, gs=True, delivered_at=None)
    with refused(app, WindowClosedError, "KM-1", "new", "shipped order"):
        apply(app, "cancel_undelivered", at=t(days=30) - SECOND, reason="not_received")


def test_cancel_delivered_order_refused_km1(app: AfterSales) -> None:
    km_order(app, gs=True)
    with refused(app, NotAllowedError, "KM-1", "received"):
        apply(app, "cancel_undelivered", at=t(days=31))


def test_cancel_before_shipment_refunds_without_deduction_km1(app: AfterSales) -> None:
    km_order(app, gs=True, shipped_at=None, delivered_at=None)
    case = apply(app, "cancel_undelivered", at=t(hours=3), amount="4200.00")
    assert case.state == "refunded"
    assert event_types(app, "C1") == ["Applied", "Refunded"]
    assert ledger(app) == []


def test_cancel_undelivered_not_offered_on_kuaishou_km1(app: AfterSales) -> None:
    order(app, delivered_at=None)
    with refused(app, NotAllowedError, "kuaishou.kinds", "not offered"):
        apply(app, "cancel_undelivered", at=t(days=31))


# --------------------------------------------------------------------- KM-2
def test_return_on_day_7_after_receipt_accepted_km2(app: AfterSales) -> None:
    km_order(app)
    case = apply(app, "return_refund", at=DELIVERED + timedelta(days=7), reason="damaged")
    assert case.state == "requested"


@pytest.mark.parametrize("kind", ["return_refund", "exchange"])
def test_return_or_exchange_a_second_after_day_7_refused_km2(app: AfterSales, kind: str) -> None:
    km_order(app)
    with refused(app, WindowClosedError, "KM-2", "validity"):
        apply(app, kind, at=DELIVERED + timedelta(days=7, seconds=1))


# ---------------------------------------------------------------- KM-3 / 4
def warehouse_return(app: AfterSales, *, gs: bool = True, reason: str = "wrong_item") -> datetime:
    """Given: a return received by the seller; returns the receipt time."""
    km_order(app, gs=gs)
    apply(app, "return_refund", amount="4200.00", reason=reason)
    app.execute("approve", case="C1", at=APPLIED + timedelta(hours=1))
    app.execute("ship_back", case="C1", at=APPLIED + timedelta(days=1), **WAYBILL)
    received = APPLIED + timedelta(days=4)
    app.execute("confirm_receipt", case="C1", at=received)
    return received


def test_gs_return_by_seller_fault_goes_to_warehouse_with_fee_km3(app: AfterSales) -> None:
    received = warehouse_return(app)
    assert event_types(app, "C1")[-3:] == ["Received", "DeductionRecorded", "Refunded"]
    assert last(app, "Received").to_warehouse is True
    fee = last(app, "DeductionRecorded")
    assert (fee.at, fee.rule, fee.auto) == (received, "KM-3", True)
    assert ledger(app) == [("C1", "return_processing_fee", Decimal("300.00"))]
    case = app.get_case("C1")
    assert case.state == "refunded" and case.refunded_total == Decimal("4200.00")
    assert case.goods == "held"
    pending = case.pending_deadline
    assert pending is not None
    assert (pending.due, pending.action, pending.rule) == (received + D90, "scrap_goods", "KM-4")


def test_return_processing_fee_is_configurable_km3(store: str) -> None:
    app = AfterSales(store, settings={"return_processing_fee": "150.00"})
    try:
        warehouse_return(app)
        assert ledger(app) == [("C1", "return_processing_fee", Decimal("150.00"))]
    finally:
        app.close()


@pytest.mark.parametrize(
    ("gs", "reason"), [(False, "wrong_item"), (True, "changed_mind")], ids=["not-gs", "buyer-side"]
)
def test_return_not_to_warehouse_has_no_fee_and_no_goods_km3(
    app: AfterSales, gs: bool, reason: str
) -> None:
    warehouse_return(app, gs=gs, reason=reason)
    assert last(app, "Received").to_warehouse is False
    case = app.get_case("C1")
    assert case.state == "refunded" and case.goods is None and case.pending_deadline is None
    assert ledger(app) == []


def test_seller_asks_goods_back_a_second_before_90_days_km4(app: AfterSales) -> None:
    received = warehouse_return(app)
    at = received + D90 - SECOND
    case = app.execute("request_goods_back", case="C1", at=at)
    assert case.state == "refunded" and case.goods == "requested_back"
    assert case.pending_deadline is None
    e = last(app, "GoodsReturnToSellerRequested")
    assert (e.at, e.actor, e.auto) == (at, "seller", False)
    assert app.fire_due(received + D90 * 2) == []


def test_seller_asks_goods_back_at_90_days_refused_km4(app: AfterSales) -> None:
    received = warehouse_return(app)
    with refused(app, WindowClosedError, "KM-4", "refunded", "scrap_goods"):
        app.execute("request_goods_back", case="C1", at=received + D90)


def test_goods_not_asked_back_scrapped_at_90_days_km4(app: AfterSales) -> None:
    received = warehouse_return(app)
    assert app.fire_due(received + D90 - SECOND) == []
    fired = app.fire_due(received + D90 + timedelta(days=3))
    assert [(f.name, f.due, f.rule) for f in fired] == [("goods_scrap", received + D90, "KM-4")]
    scrapped = last(app, "GoodsScrapped")
    assert (scrapped.at, scrapped.auto, scrapped.rule, scrapped.state) == (
        received + D90,
        True,
        "KM-4",
        "refunded",
    )
    case = app.get_case("C1")
    assert case.goods == "scrapped" and case.pending_deadline is None
    with refused(app, TransitionNotAllowedError, "KM-4", "scrapped"):
        app.execute("request_goods_back", case="C1", at=received + D90 + timedelta(days=4))


def test_request_goods_back_without_warehouse_goods_refused_km4(app: AfterSales) -> None:
    warehouse_return(app, gs=False)
    with refused(app, TransitionNotAllowedError, "KM-4", "refunded", "none"):
        app.execute("request_goods_back", case="C1", at=APPLIED + timedelta(days=5))


def test_warehouse_exchange_goods_deadline_runs_beside_the_case_km4(app: AfterSales) -> None:
    km_order(app, gs=True)
    apply(app, "exchange", reason="quality_issue")
    app.execute("approve", case="C1", at=APPLIED + timedelta(hours=1))
    app.execute("ship_back", case="C1", at=APPLIED + timedelta(hours=2), **WAYBILL)
    received = APPLIED + timedelta(days=1)
    app.execute("confirm_receipt", case="C1", at=received)
    sent = received + timedelta(days=1)
    case = app.execute("ship_replacement", case="C1", at=sent, carrier="G4S", tracking_number="2")
    names = sorted(d.name for d in case.pending_deadlines)
    assert names == ["buyer_confirmation", "goods_scrap"]
    # Deadlines fire in due order: the goods' 90 days cannot jump the buyer's 10.
    before = app.notification_count()
    assert app.fire("C1", "goods_scrap", received + D90) is None
    assert app.notification_count() == before
    # The replacement is due for auto-completion first: a later request must wait for it.
    with refused(app, WindowClosedError, "KM-8", "reshipping"):
        app.execute("request_goods_back", case="C1", at=sent + timedelta(days=11))
    app.fire_due(sent + timedelta(days=11))
    case = app.execute("request_goods_back", case="C1", at=sent + timedelta(days=11))
    assert case.state == "completed" and case.goods == "requested_back"
    assert [type(e).__name__ for e in app.case_events("C1")][-2:] == [
        "Completed",
        "GoodsReturnToSellerRequested",
    ]
    assert ledger(app) == [("C1", "return_processing_fee", Decimal("300.00"))]


# --------------------------------------------------------------------- KM-5
def test_seller_replies_at_71h59m_no_arbitration_km5(app: AfterSales) -> None:
    km_order(app)
    apply(app, "refund_only", amount="1000.00")
    case = app.execute("approve", case="C1", at=APPLIED + H72 - timedelta(minutes=1))
    assert case.state == "refunded" and ledger(app) == []


def test_seller_replies_at_exactly_72h_refused_km5(app: AfterSales) -> None:
    km_order(app)
    apply(app, "refund_only", amount="1000.00")
    with refused(app, WindowClosedError, "KM-5", "requested", "auto_arbitrate"):
        app.execute("approve", case="C1", at=APPLIED + H72)


def test_silent_seller_refund_arbitrated_by_buyer_plan_with_deduction_km5(
    app: AfterSales,
) -> None:
    km_order(app)
    apply(app, "refund_only", amount="1000.00", reason="not_as_described")
    assert app.fire_due(APPLIED + H72 - SECOND) == []
    fired = app.fire_due(APPLIED + H72)
    assert [(f.name, f.rule) for f in fired] == [("seller_reply", "KM-5")]
    assert event_types(app, "C1") == [
        "Applied",
        "Escalated",
        "Arbitrated",
        "DeductionRecorded",
        "Approved",
        "Refunded",
    ]
    for e in app.case_events("C1")[1:]:
        assert (e.at, e.auto, e.rule) == (APPLIED + H72, True, "KM-5")
    arbitrated = last(app, "Arbitrated")
    assert (arbitrated.in_favour_of, arbitrated.refund_amount) == (
        "buyer",
        Decimal("1000.00"),
    )
    assert ledger(app) == [("C1", "no_reply_arbitration", Decimal("1000.00"))]
    case = app.get_case("C1")
    assert case.state == "refunded" and case.refunded_total == Decimal("1000.00")


def test_silent_seller_return_arbitrated_into_the_return_step_km5(app: AfterSales) -> None:
    km_order(app)
    apply(app, "return_refund", amount="4200.00", reason="damaged")
    app.fire_due(APPLIED + H72)
    assert event_types(app, "C1")[-2:] == ["DeductionRecorded", "Approved"]
    case = app.get_case("C1")
    assert case.state == "awaiting_return" and case.refunded_total == 0
    pending = case.pending_deadline
    assert pending is not None and (pending.due, pending.rule) == (
        APPLIED + H72 + timedelta(days=7),
        "KM-2",
    )
    assert ledger(app) == [("C1", "no_reply_arbitration", Decimal("4200.00"))]


# ---------------------------------------------------------------- KM-6 / 7
def proposed(app: AfterSales, kind: str, amount: str, applied: str = "return_refund") -> None:
    km_order(app)
    apply(app, applied, amount="4200.00", reason="damaged")
    app.execute("propose", case="C1", at=APPLIED + timedelta(hours=1), kind=kind, amount=amount)


def test_partial_refund_plan_accepted_refunds_at_once_km6_km7(app: AfterSales) -> None:
    proposed(app, "refund_only", "1500.00")
    assert app.get_case("C1").state == "proposed"
    case = app.execute("accept_proposal", case="C1", at=APPLIED + timedelta(hours=2))
    assert event_types(app, "C1") == ["Applied", "Proposed", "ProposalAccepted", "Refunded"]
    assert case.state == "refunded" and case.kind == "refund_only"
    assert case.refunded_total == Decimal("1500.00") and app.get_order("O1").remaining == Decimal(
        "2700.00"
    )


def test_return_plan_accepted_waits_for_the_goods_km7(app: AfterSales) -> None:
    proposed(app, "return_refund", "3000.00", applied="refund_only")
    at = APPLIED + timedelta(hours=2)
    case = app.execute("accept_proposal", case="C1", at=at)
    assert case.state == "awaiting_return" and case.amount == Decimal("3000.00")
    pending = case.pending_deadline
    assert pending is not None and pending.due == at + timedelta(days=7)
    app.execute("ship_back", case="C1", at=at + timedelta(days=1), **WAYBILL)
    case = app.execute("confirm_receipt", case="C1", at=at + timedelta(days=2))
    assert case.refunded_total == Decimal("3000.00")


def test_declined_plan_restarts_the_seller_reply_deadline_km7(app: AfterSales) -> None:
    proposed(app, "refund_only", "500.00")
    declined = APPLIED + timedelta(hours=60)
    case = app.execute("decline_proposal", case="C1", at=declined)
    assert case.state == "requested" and case.proposal is None
    pending = case.pending_deadline
    assert pending is not None and (pending.due, pending.rule) == (declined + H72, "KM-5")
    # Not from the application: nothing fires at application + 72h.
    assert app.fire_due(APPLIED + H72 + timedelta(hours=1)) == []
    assert app.fire_due(declined + H72)[0].due == declined + H72


def test_plan_without_consent_does_not_take_effect_km7(app: AfterSales) -> None:
    proposed(app, "refund_only", "500.00")
    case = app.get_case("C1")
    assert case.refunded_total == 0 and case.pending_deadline is None
    assert app.fire_due(APPLIED + timedelta(days=60)) == []


def test_plan_above_the_order_amount_refused_km6(app: AfterSales) -> None:
    km_order(app)
    apply(app, "return_refund", amount="4200.00")
    with refused(app, RefundCapError, "INV-cap", "requested"):
        app.execute(
            "propose",
            case="C1",
            at=APPLIED + timedelta(hours=1),
            kind="refund_only",
            amount="4200.01",
        )


def test_kilimall_seller_may_reject_an_exchange_km6(app: AfterSales) -> None:
    km_order(app)
    apply(app, "exchange", reason="other")
    case = app.execute("reject", case="C1", at=APPLIED + timedelta(hours=1), reason="malicious")
    assert case.state == "rejected"


def test_malicious_return_rejected_and_seller_requests_arbitration_km6(app: AfterSales) -> None:
    km_order(app)
    apply(app, "return_refund", amount="4200.00", reason="not_as_described")
    app.execute("reject", case="C1", at=APPLIED + timedelta(hours=1), reason="swapped unit")
    case = app.execute("escalate", case="C1", at=APPLIED + timedelta(hours=2), by="seller")
    assert case.state == "disputed" and case.escalated_by == "seller"


# --------------------------------------------------------------------- KM-8
def disputed(app: AfterSales) -> datetime:
    km_order(app)
    apply(app, "return_refund", amount="4200.00", reason="not_as_described")
    app.execute("reject", case="C1", at=APPLIED + timedelta(hours=1), reason="swapped unit")
    app.execute("escalate", case="C1", at=APPLIED + timedelta(hours=2))
    return APPLIED + timedelta(days=2)


def test_ruling_for_buyer_partial_refund_and_liability_deduction_km8(app: AfterSales) -> None:
    at = disputed(app)
    case = app.execute("rule", case="C1", at=at, in_favour_of="buyer", refund_amount="2100.00")
    assert case.state == "refunded" and case.refunded_total == Decimal("2100.00")
    for name in ("Arbitrated", "DeductionRecorded", "Refunded"):
        e = last(app, name)
        assert (e.at, e.rule, e.actor, e.auto) == (at, "KM-8", "platform", False)
    assert ledger(app) == [("C1", "ruled_liable", Decimal("2100.00"))]


def test_ruling_for_seller_closes_without_money_km8(app: AfterSales) -> None:
    at = disputed(app)
    case = app.execute("rule", case="C1", at=at, in_favour_of="seller")
    assert case.state == "closed" and case.closed_reason == "ruled_for_seller"
    assert last(app, "Closed").rule == "KM-8"
    assert case.refunded_total == 0 and ledger(app) == []


def test_ruling_above_the_order_amount_refused_km8(app: AfterSales) -> None:
    at = disputed(app)
    with refused(app, RefundCapError, "INV-cap", "disputed"):
        app.execute("rule", case="C1", at=at, in_favour_of="buyer", refund_amount="4200.01")


def test_evidence_after_the_72h_limit_refused_km8(app: AfterSales) -> None:
    disputed(app)
    late = APPLIED + timedelta(hours=2) + H72 + SECOND
    with refused(app, WindowClosedError, "KM-8", "disputed"):
        app.execute("submit_evidence", case="C1", at=late, by="seller", note="photo")
