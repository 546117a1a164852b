"""Kuaishou shop rules KS-1 .. KS-10 (SPEC §2), given -> when -> then on events,
on the aggregates themselves (``desk.Desk``: no store).

The order of ``helpers.order`` is paid at T0, shipped at T0+20h and delivered
at T0+2d; applications here come at ``APPLIED`` (T0+3d) unless a boundary
needs another instant.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import (
    NotAllowedError,
    TransitionNotAllowedError,
    WindowClosedError,
)
from aftersales_es.domain.events import CaseEvent

from .desk import Desk
from .helpers import event_types, order, refused, t

APPLIED = t(days=3)
H48 = timedelta(hours=48)
D10 = timedelta(days=10)
SECOND = timedelta(seconds=1)
WAYBILL = {"carrier": "YTO", "tracking_number": "YT100"}


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


def events(desk: Desk, case: str = "C1") -> list[CaseEvent]:
    return desk.case_events(case)


def last(desk: Desk, type_name: str, case: str = "C1") -> Any:
    """The last event of ``type_name`` (typed loosely: each type has its own fields)."""
    found = [e for e in events(desk, case) if type(e).__name__ == type_name]
    assert found, f"no {type_name} in {event_types(desk, case)}"
    return found[-1]


def approved_return(desk: Desk) -> Case:
    """Given: a return_refund case approved one hour after the application."""
    order(desk)
    apply(desk, "return_refund", amount="120.00", reason="quality_issue")
    return desk.execute("approve", case="C1", at=APPLIED + timedelta(hours=1))


def shipped_back(desk: Desk) -> datetime:
    """Given: an approved return whose waybill was uploaded; returns the upload time."""
    approved_return(desk)
    at = APPLIED + timedelta(days=2)
    desk.execute("ship_back", case="C1", at=at, **WAYBILL)
    return at


@pytest.fixture
def express_desk() -> Desk:
    """Cases under the merchant's express refund switched on (KS-9)."""
    return Desk(settings={"express_refund": True})


# --------------------------------------------------------------- KS-1 / KS-2
def test_refund_only_approved_at_47h59m_refunds_at_once_ks2(desk: Desk) -> None:
    order(desk)
    apply(desk, "refund_only", amount="50.00", reason="changed_mind")
    case = desk.execute("approve", case="C1", at=APPLIED + H48 - timedelta(minutes=1))
    assert case.state == "refunded" and case.refunded_total == Decimal("50.00")
    assert event_types(desk, "C1") == ["Applied", "Approved", "Refunded"]
    refund = last(desk, "Refunded")
    assert (refund.at, refund.auto, refund.actor) == (case.last_at, False, "seller")
    assert desk.get_order("O1").open_case_id is None


def test_refund_only_pending_deadline_is_48h_after_application_ks1(desk: Desk) -> None:
    order(desk)
    case = apply(desk, "refund_only", amount="50.00")
    pending = case.pending_deadline
    assert pending is not None
    assert (pending.due, pending.action, pending.rule) == (APPLIED + H48, "auto_approve", "KS-1")


def test_refund_only_approve_at_exactly_48h_refused_ks1(desk: Desk) -> None:
    """At 48h:00 the deadline fires first: the seller is too late."""
    order(desk)
    apply(desk, "refund_only", amount="50.00")
    with refused(desk, WindowClosedError, "KS-1", "requested", "system approves"):
        desk.execute("approve", case="C1", at=APPLIED + H48)


def test_refund_only_silent_merchant_not_refunded_at_47h59m_ks1(desk: Desk) -> None:
    order(desk)
    apply(desk, "refund_only", amount="50.00")
    assert desk.fire_due(APPLIED + H48 - timedelta(minutes=1)) == []
    assert desk.get_case("C1").state == "requested"


def test_refund_only_silent_merchant_auto_refunded_at_48h_ks1(desk: Desk) -> None:
    order(desk)
    apply(desk, "refund_only", amount="50.00")
    fired = desk.fire_due(APPLIED + timedelta(days=5))
    assert [(f.case_id, f.due, f.rule) for f in fired] == [("C1", APPLIED + H48, "KS-1")]
    assert event_types(desk, "C1") == ["Applied", "Approved", "Refunded"]
    for e in events(desk)[1:]:
        assert (e.at, e.auto, e.rule, e.actor) == (APPLIED + H48, True, "KS-1", "system")
    case = desk.get_case("C1")
    assert case.state == "refunded" and case.refunded_total == Decimal("50.00")
    assert case.pending_deadline is None


def test_48h_are_real_hours_across_a_daylight_saving_change_ks1(desk: Desk) -> None:
    """A user in a zone with DST: 48 h after 12:00 on the eve of the change is 13:00."""
    berlin = ZoneInfo("Europe/Berlin")
    applied = datetime(2026, 3, 28, 12, 0, tzinfo=berlin)  # clocks go forward on the 29th
    order(desk, paid_at=applied - timedelta(hours=2), shipped_at=None, delivered_at=None)
    case = apply(desk, "refund_only", at=applied)
    pending = case.pending_deadline
    assert pending is not None and pending.due == datetime(2026, 3, 30, 13, 0, tzinfo=berlin)
    assert desk.fire_due(datetime(2026, 3, 30, 12, 30, tzinfo=berlin)) == []
    assert desk.fire_due(datetime(2026, 3, 30, 13, 0, tzinfo=berlin))[0].rule == "KS-1"


# --------------------------------------------------------------------- KS-3
def test_reject_without_reason_refused_ks3(desk: Desk) -> None:
    order(desk)
    apply(desk, "refund_only", amount="50.00")
    with refused(desk, NotAllowedError, "KS-3", "reason"):
        desk.execute(
            "reject",
            case="C1",
            at=APPLIED + timedelta(hours=2),
            category="other",
            buyer_contacted=True,
            reason="  ",
        )


def test_reject_with_reason_then_buyer_applies_again_ks3(desk: Desk) -> None:
    order(desk)
    apply(desk, "refund_only", amount="50.00")
    case = desk.execute(
        "reject",
        case="C1",
        at=APPLIED + timedelta(hours=2),
        category="other",
        buyer_contacted=True,
        reason="used item",
    )
    assert case.state == "rejected" and case.rejection_reason == "used item"
    pending = case.pending_deadline  # a rejection nobody pursues ends by itself
    assert pending is not None and (pending.action, pending.rule) == ("close_rejected", "KS-3")
    assert desk.get_order("O1").open_case_id is None
    again = apply(desk, "refund_only", case="C2", at=APPLIED + timedelta(hours=3), amount="40.00")
    assert again.state == "requested" and again.order_id == "O1"
    assert event_types(desk, "C1") == ["Applied", "Rejected"]
    assert desk.get_order("O1").case_ids == ["C1", "C2"]


# --------------------------------------------------------------------- KS-4
def test_return_approved_at_47h59m_awaits_the_goods_ks4(desk: Desk) -> None:
    order(desk)
    apply(desk, "return_refund", amount="120.00")
    at = APPLIED + H48 - timedelta(minutes=1)
    case = desk.execute("approve", case="C1", at=at)
    assert case.state == "awaiting_return" and case.refunded_total == 0
    pending = case.pending_deadline
    assert pending is not None and (pending.due, pending.rule) == (at + D10, "KS-5")


def test_return_approve_at_exactly_48h_refused_ks4(desk: Desk) -> None:
    order(desk)
    apply(desk, "return_refund", amount="120.00")
    with refused(desk, WindowClosedError, "KS-4", "requested"):
        desk.execute("approve", case="C1", at=APPLIED + H48)


def test_return_silent_merchant_treated_as_agreed_at_48h_ks4(desk: Desk) -> None:
    order(desk)
    apply(desk, "return_refund", amount="120.00")
    fired = desk.fire_due(APPLIED + H48)
    assert [(f.name, f.due, f.rule) for f in fired] == [("seller_review", APPLIED + H48, "KS-4")]
    approved = last(desk, "Approved")
    assert (approved.at, approved.auto, approved.rule) == (APPLIED + H48, True, "KS-4")
    case = desk.get_case("C1")
    assert case.state == "awaiting_return" and case.refunded_total == 0
    pending = case.pending_deadline
    assert pending is not None and pending.due == APPLIED + H48 + D10


# --------------------------------------------------------------------- KS-5
def test_waybill_uploaded_a_second_before_10_days_ks5(desk: Desk) -> None:
    approved = approved_return(desk)
    at = approved.last_at + D10 - SECOND
    case = desk.execute("ship_back", case="C1", at=at, **WAYBILL)
    assert case.state == "returning" and case.waybill == WAYBILL
    assert last(desk, "ShippedBack").at == at


def test_waybill_at_10_days_refused_ks5(desk: Desk) -> None:
    approved = approved_return(desk)
    with refused(desk, WindowClosedError, "KS-5", "awaiting_return"):
        desk.execute("ship_back", case="C1", at=approved.last_at + D10, **WAYBILL)


def test_no_waybill_in_10_days_auto_closed_ks5(desk: Desk) -> None:
    approved = approved_return(desk)
    due = approved.last_at + D10
    assert desk.fire_due(due - SECOND) == []
    fired = desk.fire_due(due + timedelta(days=30))
    assert [(f.due, f.rule) for f in fired] == [(due, "KS-5")]
    closed = last(desk, "Closed")
    assert (closed.at, closed.auto, closed.rule, closed.reason) == (
        due,
        True,
        "KS-5",
        "not_shipped_back",
    )
    case = desk.get_case("C1")
    assert case.state == "closed" and case.refunded_total == 0
    assert desk.get_order("O1").open_case_id is None


# --------------------------------------------------------------------- KS-6
def test_merchant_confirms_receipt_before_10_days_refunds_ks6(desk: Desk) -> None:
    uploaded = shipped_back(desk)
    at = uploaded + D10 - SECOND
    case = desk.execute("confirm_receipt", case="C1", at=at)
    assert case.state == "refunded" and case.refunded_total == Decimal("120.00")
    assert event_types(desk, "C1")[-2:] == ["Received", "Refunded"]
    assert (last(desk, "Refunded").at, last(desk, "Refunded").auto) == (at, False)


def test_merchant_silent_10_days_after_waybill_auto_refunds_ks6(desk: Desk) -> None:
    uploaded = shipped_back(desk)
    with refused(desk, WindowClosedError, "KS-6", "returning"):
        desk.execute("confirm_receipt", case="C1", at=uploaded + D10)
    desk.fire_due(uploaded + timedelta(days=40))
    for name in ("Received", "Refunded"):
        e = last(desk, name)
        assert (e.at, e.auto, e.rule) == (uploaded + D10, True, "KS-6")
    case = desk.get_case("C1")
    assert case.state == "refunded" and case.refunded_total == Decimal("120.00")


# --------------------------------------------------------------------- KS-7
def test_exchange_full_path_completes_without_refund_ks7(desk: Desk) -> None:
    order(desk)
    case = apply(desk, "exchange", reason="damaged")
    assert case.amount == 0
    steps: list[tuple[str, dict[str, Any], str]] = [
        ("approve", {}, "awaiting_return"),
        ("ship_back", WAYBILL, "returning"),
        ("confirm_receipt", {}, "received"),
        ("ship_replacement", {"carrier": "SF", "tracking_number": "SF9"}, "reshipping"),
        ("confirm_completion", {}, "completed"),
    ]
    for hours, (command, args, state) in enumerate(steps, start=1):
        case = desk.execute(command, case="C1", at=APPLIED + timedelta(hours=hours), **args)
        assert case.state == state, command
    assert event_types(desk, "C1") == [
        "Applied",
        "Approved",
        "ShippedBack",
        "Received",
        "ReplacementShipped",
        "Completed",
    ]
    assert case.refunded_total == 0 and case.replacement_waybill == {
        "carrier": "SF",
        "tracking_number": "SF9",
    }
    assert desk.get_order("O1").open_case_id is None


def test_repair_replacement_unconfirmed_auto_completes_after_10_days_ks7(
    desk: Desk,
) -> None:
    order(desk)
    apply(desk, "repair", reason="quality_issue")
    desk.execute("approve", case="C1", at=APPLIED + timedelta(hours=1))
    desk.execute("ship_back", case="C1", at=APPLIED + timedelta(hours=2), **WAYBILL)
    desk.execute("confirm_receipt", case="C1", at=APPLIED + timedelta(days=1))
    sent = APPLIED + timedelta(days=2)
    desk.execute("ship_replacement", case="C1", at=sent, carrier="SF", tracking_number="SF1")
    desk.fire_due(sent + timedelta(days=20))
    done = last(desk, "Completed")
    assert (done.at, done.auto, done.rule) == (sent + D10, True, "KS-7")
    assert desk.get_case("C1").state == "completed"


def test_exchange_silent_merchant_auto_approved_at_48h_ks7(desk: Desk) -> None:
    order(desk)
    apply(desk, "exchange")
    desk.fire_due(APPLIED + H48)
    approved = last(desk, "Approved")
    assert (approved.at, approved.auto, approved.rule) == (APPLIED + H48, True, "KS-7")
    assert desk.get_case("C1").state == "awaiting_return"


def test_merchant_may_not_reject_an_exchange_ks7(desk: Desk) -> None:
    order(desk)
    apply(desk, "exchange")
    with refused(desk, NotAllowedError, "KS-7", "requested", "must support"):
        desk.execute(
            "reject",
            case="C1",
            at=APPLIED + timedelta(hours=1),
            category="other",
            buyer_contacted=True,
            reason="no stock",
        )


def test_return_resolved_offline_by_exchange_closes_ks7(desk: Desk) -> None:
    order(desk)
    apply(desk, "return_refund", amount="120.00", reason="damaged")
    case = desk.execute(
        "propose",
        case="C1",
        at=APPLIED + timedelta(hours=1),
        kind="exchange",
        amount="0",
        offline=True,
    )
    assert case.state == "proposed" and case.proposal == {
        "kind": "exchange",
        "amount": Decimal("0.00"),
        "offline": True,
    }
    case = desk.execute("accept_proposal", case="C1", at=APPLIED + timedelta(hours=2))
    assert event_types(desk, "C1") == ["Applied", "Proposed", "ProposalAccepted", "Closed"]
    closed = last(desk, "Closed")
    assert (closed.reason, closed.rule, closed.auto) == ("resolved_offline", "KS-7", False)
    assert case.state == "closed" and case.refunded_total == 0 and case.kind == "exchange"
    assert desk.get_order("O1").open_case_id is None


def test_offline_refund_plan_refused_ks7(desk: Desk) -> None:
    order(desk)
    apply(desk, "return_refund", amount="120.00")
    with refused(desk, NotAllowedError, "KS-7", "requested", "offline"):
        desk.execute(
            "propose",
            case="C1",
            at=APPLIED + timedelta(hours=1),
            kind="refund_only",
            amount="20.00",
            offline=True,
        )


# --------------------------------------------------------------------- KS-8
def rejected_and_escalated(desk: Desk, by: str = "buyer") -> datetime:
    """Given: a refund rejected by the merchant and escalated; returns the escalation time."""
    order(desk)
    apply(desk, "refund_only", amount="100.00", reason="not_as_described")
    desk.execute(
        "reject",
        case="C1",
        at=APPLIED + timedelta(hours=1),
        category="other",
        buyer_contacted=True,
        reason="works fine",
    )
    at = APPLIED + timedelta(hours=2)
    desk.execute("escalate", case="C1", at=at, by=by)
    return at


@pytest.mark.parametrize("by", ["buyer", "seller"])
def test_either_party_escalates_a_rejection_ks8(desk: Desk, by: str) -> None:
    at = rejected_and_escalated(desk, by)
    case = desk.get_case("C1")
    assert case.state == "disputed" and case.escalated_by == by
    assert case.evidence_due == at + timedelta(hours=72)
    escalated = last(desk, "Escalated")
    assert (escalated.actor, escalated.auto) == (by, False)
    assert desk.get_order("O1").open_case_id == "C1"  # the dispute holds the order again


def test_seller_escalates_a_pending_application_ks8(desk: Desk) -> None:
    order(desk)
    apply(desk, "return_refund", amount="120.00")
    case = desk.execute("escalate", case="C1", at=APPLIED + timedelta(hours=1), by="seller")
    pending = case.pending_deadline  # the platform's ruling time (an assumption)
    assert case.state == "disputed" and pending is not None and pending.action == "auto_rule"


def test_evidence_accepted_at_exactly_72h_ks8(desk: Desk) -> None:
    at = rejected_and_escalated(desk)
    case = desk.execute(
        "submit_evidence", case="C1", at=at + timedelta(hours=72), by="seller", note="photo"
    )
    assert case.evidence_count == 1
    submitted = last(desk, "EvidenceSubmitted")
    assert (submitted.actor, submitted.state) == ("seller", "disputed")


def test_evidence_a_second_after_72h_refused_ks8(desk: Desk) -> None:
    at = rejected_and_escalated(desk)
    with refused(desk, WindowClosedError, "KS-8", "disputed", "evidence was due"):
        desk.execute(
            "submit_evidence", case="C1", at=at + timedelta(hours=72, seconds=1), note="late"
        )


def test_ruling_for_buyer_refunds_and_charges_liable_seller_ks8(desk: Desk) -> None:
    at = rejected_and_escalated(desk)
    case = desk.execute(
        "rule", case="C1", at=at + timedelta(days=4), in_favour_of="buyer", refund_amount="60.00"
    )
    assert event_types(desk, "C1")[-3:] == ["Arbitrated", "DeductionRecorded", "Refunded"]
    assert case.state == "refunded" and case.refunded_total == Decimal("60.00")
    assert case.ruling == {
        "in_favour_of": "buyer",
        "refund_amount": Decimal("60.00"),
        "seller_liable": True,
        "outcome": "refund",  # the default outcome of a ruling for the buyer (KM-8)
    }
    deduction = last(desk, "DeductionRecorded")
    assert (deduction.reason, deduction.amount, deduction.rule) == (
        "ruled_liable",
        Decimal("60.00"),
        "KS-8",
    )
    assert [(d["reason"], d["amount"]) for d in desk.deductions()] == [
        ("ruled_liable", Decimal("60.00"))
    ]


def test_ruling_for_buyer_without_liability_charges_nothing_ks8(desk: Desk) -> None:
    at = rejected_and_escalated(desk)
    desk.execute(
        "rule", case="C1", at=at + timedelta(days=1), in_favour_of="buyer", seller_liable=False
    )
    assert "DeductionRecorded" not in event_types(desk, "C1")
    assert desk.get_case("C1").refunded_total == Decimal("100.00")
    assert desk.deductions() == []


def test_ruling_for_seller_closes_ks8(desk: Desk) -> None:
    at = rejected_and_escalated(desk)
    case = desk.execute("rule", case="C1", at=at + timedelta(days=1), in_favour_of="seller")
    assert event_types(desk, "C1")[-2:] == ["Arbitrated", "Closed"]
    assert case.state == "closed" and case.closed_reason == "ruled_for_seller"
    assert case.refunded_total == 0 and desk.deductions() == []
    assert desk.get_order("O1").open_case_id is None


# --------------------------------------------------------------------- KS-9
EXPRESS_PAID = APPLIED - timedelta(hours=5, minutes=59)
EXPRESS: dict[str, Any] = {
    "amount": "299.99",
    "paid_at": EXPRESS_PAID,
    "shipped_at": None,
    "delivered_at": None,
}


def test_express_refund_refunds_at_the_application_ks9(express_desk: Desk) -> None:
    order(express_desk, **EXPRESS)
    case = apply(express_desk, "refund_only", amount="299.99", reason="changed_mind")
    assert case.state == "refunded" and case.refunded_total == Decimal("299.99")
    assert event_types(express_desk, "C1") == ["Applied", "Refunded"]
    refund = last(express_desk, "Refunded")
    assert (refund.at, refund.auto, refund.rule, refund.actor) == (APPLIED, True, "KS-9", "system")


def test_express_refund_when_shipped_only_after_the_application_ks9(
    express_desk: Desk,
) -> None:
    order(express_desk, **{**EXPRESS, "shipped_at": APPLIED + timedelta(hours=1)})
    assert apply(express_desk, "refund_only").state == "refunded"


@pytest.mark.parametrize(
    "facts",
    [
        pytest.param({"amount": "300.00"}, id="amount-300.00"),
        pytest.param({"paid_at": APPLIED - timedelta(hours=6, minutes=1)}, id="paid-6h01m-before"),
        pytest.param({"paid_at": APPLIED - timedelta(hours=6)}, id="paid-exactly-6h-before"),
        pytest.param({"shipped_at": APPLIED - timedelta(minutes=1)}, id="shipped"),
    ],
)
def test_express_refund_conditions_not_met_waits_for_merchant_ks9(
    express_desk: Desk, facts: dict[str, Any]
) -> None:
    order(express_desk, **{**EXPRESS, **facts})
    case = apply(express_desk, "refund_only")
    assert case.state == "requested" and event_types(express_desk, "C1") == ["Applied"]
    assert case.pending_deadline is not None and case.pending_deadline.rule == "KS-1"


def test_express_refund_off_by_default_waits_for_merchant_ks9(desk: Desk) -> None:
    order(desk, **EXPRESS)
    case = apply(desk, "refund_only")
    assert case.state == "requested" and event_types(desk, "C1") == ["Applied"]


def test_express_refund_is_for_refund_only_ks9(express_desk: Desk) -> None:
    delivered = EXPRESS_PAID + timedelta(hours=1)
    order(express_desk, **{**EXPRESS, "shipped_at": EXPRESS_PAID, "delivered_at": delivered})
    case = apply(express_desk, "return_refund", at=delivered + timedelta(minutes=5))
    assert case.state == "requested"


# -------------------------------------------------------------------- KS-10
@pytest.mark.parametrize("kind", ["return_refund", "exchange", "repair"])
def test_goods_case_on_day_7_after_delivery_accepted_ks10(desk: Desk, kind: str) -> None:
    order(desk)
    case = apply(desk, kind, at=t(days=2) + timedelta(days=7))
    assert case.state == "requested" and case.kind == kind


@pytest.mark.parametrize(("kind", "days"), [("return_refund", 7), ("exchange", 15), ("repair", 90)])
def test_goods_case_window_per_kind_counted_from_the_day_after_receipt_ks10(
    desk: Desk, kind: str, days: int
) -> None:
    order(desk)  # delivered T0 + 2 days, 20:00 local
    delivered = t(days=2)
    ends = datetime.combine(
        delivered.date() + timedelta(days=days + 1), time(0), tzinfo=delivered.tzinfo
    )
    case = apply(desk, kind, at=ends - timedelta(seconds=1))
    assert case.state == "requested"
    desk.execute("withdraw", case="C1", at=ends - timedelta(seconds=1))
    with refused(desk, WindowClosedError, "KS-10", "new", "validity"):
        apply(desk, kind, case="C2", at=ends)


def test_return_before_delivery_refused_ks10(desk: Desk) -> None:
    order(desk, delivered_at=None)
    with refused(desk, NotAllowedError, "KS-10", "not been delivered"):
        apply(desk, "return_refund")


def test_refund_only_after_validity_still_accepted_ks10(desk: Desk) -> None:
    """The validity period bounds returns and exchanges, not refund-only requests."""
    order(desk)
    assert apply(desk, "refund_only", at=t(days=30)).state == "requested"


# ----------------------------------------------------------------- withdraw
@pytest.mark.parametrize("state", ["requested", "awaiting_return", "rejected", "disputed"])
def test_buyer_withdraws_closes_and_frees_the_order(desk: Desk, state: str) -> None:
    order(desk)
    apply(desk, "return_refund", amount="120.00")
    at = APPLIED + timedelta(hours=1)
    if state == "awaiting_return":
        desk.execute("approve", case="C1", at=at)
    elif state in ("rejected", "disputed"):
        desk.execute(
            "reject", case="C1", at=at, category="other", buyer_contacted=True, reason="opened box"
        )
        if state == "disputed":
            desk.execute("escalate", case="C1", at=at, by="buyer")
    assert desk.get_case("C1").state == state
    case = desk.execute("withdraw", case="C1", at=at + timedelta(hours=1))
    assert event_types(desk, "C1")[-2:] == ["Withdrawn", "Closed"]
    assert case.state == "closed" and case.closed_reason == "withdrawn"
    assert desk.get_order("O1").open_case_id is None


def test_merchant_cannot_reject_a_refund_already_in_return(desk: Desk) -> None:
    approved_return(desk)
    with refused(desk, TransitionNotAllowedError, "awaiting_return", "statechart"):
        desk.execute(
            "reject",
            case="C1",
            at=APPLIED + timedelta(hours=2),
            category="other",
            buyer_contacted=True,
            reason="late",
        )
