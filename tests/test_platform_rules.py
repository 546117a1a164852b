"""The platforms' rules as their texts state them: KM-1's GS-only cancellation
and its waiver, KM-5's points, KS-8's final ruling and either party's
escalation, KS-10/KM-2 validity windows, KM-3's warehouse receipt, KS-3's
rejection category. Given -> when -> then on the aggregates (``desk.Desk``)
unless a store is needed (the ledger and the audit).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftersales_es.audit.check import audit
from aftersales_es.domain.errors import (
    NotAllowedError,
    TransitionNotAllowedError,
    WindowClosedError,
)
from aftersales_es.domain.ruleload import load_ruleset
from aftersales_es.domain.statechart import ACTORS, STATES, destination
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.ledger import from_events

from .desk import Desk
from .helpers import event_types, order, refused, t

APPLIED = t(days=3)
H = timedelta(hours=1)
BILL = {"carrier": "SF", "tracking_number": "SF1"}
CONTACTED = {"category": "other", "buyer_contacted": True}


def km_order(app: Any, order_id: str = "O1", **facts: Any) -> None:
    """Given: a Kilimall order of 4200.00 KES, shipped T0+1d, delivered T0+5d."""
    base = {"platform": "kilimall", "amount": "4200.00", "currency": "KES",
            "shipped_at": t(days=1), "delivered_at": t(days=5)}  # fmt: skip
    order(app, order_id, **{**base, **facts})


def apply(app: Any, kind: str, case: str = "C1", at: datetime = APPLIED, **args: Any) -> Any:
    return app.execute("apply", case=case, order=args.pop("order", "O1"), at=at, kind=kind, **args)


# ----------------------------------------------------------------- KM-1
def test_cancel_of_a_non_gs_order_refused_km1(desk: Desk) -> None:
    km_order(desk, delivered_at=None)
    with refused(desk, NotAllowedError, "KM-1", "global-selling"):
        apply(desk, "cancel_undelivered", at=t(days=31), reason="not_received")


def lost_gs_order(app: Any) -> None:
    """Given: a shipped GS order never received, cancelled at 30 days (KM-1)."""
    km_order(app, gs=True, delivered_at=None)
    apply(app, "cancel_undelivered", at=t(days=30), reason="not_received")


def test_platform_waives_the_undelivered_loss_with_a_reversing_entry_km1(desk: Desk) -> None:
    lost_gs_order(desk)
    at = t(days=32)
    case = desk.execute(
        "waive_deduction", case="C1", at=at, deduction="undelivered_loss", note="courier lost it"
    )
    assert event_types(desk, "C1") == [
        "Applied",
        "Refunded",
        "DeductionRecorded",
        "DeductionWaived",
    ]
    waived = desk.case_events("C1")[-1]
    assert (waived.actor, waived.auto, waived.rule, waived.at) == ("platform", False, "KM-1", at)
    assert (waived.reason, waived.amount, waived.deduction_version) == (
        "undelivered_loss", Decimal("4200.00"), 3,
    )  # fmt: skip
    assert waived.note == "courier lost it"
    assert case.deducted_total == 0 and case.state == "refunded"
    rows = [(r["reason"], r["amount"]) for r in from_events(desk.case_events("C1"), "C1")]
    assert rows == [
        ("undelivered_loss", Decimal("4200.00")),
        ("undelivered_loss_waived", Decimal("-4200.00")),
    ]


def test_a_deduction_is_waived_once_km1(desk: Desk) -> None:
    lost_gs_order(desk)
    desk.execute("waive_deduction", case="C1", at=t(days=31), deduction="undelivered_loss",
                 note="customs held it")  # fmt: skip
    with refused(desk, NotAllowedError, "KM-1", "left to waive"):
        desk.execute("waive_deduction", case="C1", at=t(days=32), deduction="undelivered_loss",
                     note="again")  # fmt: skip


def test_waiver_needs_a_note_and_a_waivable_reason_km1(desk: Desk) -> None:
    lost_gs_order(desk)
    with refused(desk, NotAllowedError, "KM-1", "says why"):
        desk.execute("waive_deduction", case="C1", at=t(days=31), deduction="undelivered_loss")
    with refused(desk, NotAllowedError, "KM-1", "cannot be waived"):
        desk.execute("waive_deduction", case="C1", at=t(days=31), deduction="ruled_liable",
                     note="x")  # fmt: skip


def test_ledger_and_audit_show_the_deduction_and_its_waiver_km1(app: AfterSales) -> None:
    lost_gs_order(app)
    app.execute("waive_deduction", case="C1", at=t(days=31), deduction="undelivered_loss",
                note="the courier lost it")  # fmt: skip
    rows = [(d["reason"], d["amount"], d["currency"]) for d in app.deductions()]
    assert rows == [
        ("undelivered_loss", Decimal("4200.00"), "KES"),
        ("undelivered_loss_waived", Decimal("-4200.00"), "KES"),
    ]
    assert audit(app).mismatches == []


# ----------------------------------------------------------------- KM-5
def test_silent_seller_on_an_exchange_records_its_points_penalty_km5(desk: Desk) -> None:
    km_order(desk)
    apply(desk, "exchange", at=t(days=6), reason="quality_issue")
    desk.fire_due(t(days=6, hours=72))
    types = event_types(desk, "C1")
    assert "PointsDeducted" in types and "DeductionRecorded" not in types
    points = next(e for e in desk.case_events("C1") if type(e).__name__ == "PointsDeducted")
    assert (points.reason, points.points, points.rule, points.auto) == (
        "no_reply_arbitration", 2, "KM-5", True,
    )  # fmt: skip
    assert desk.get_case("C1").points_total == 2


def test_points_are_their_own_unit_in_the_ledger_and_the_audit_km5(app: AfterSales) -> None:
    km_order(app)
    apply(app, "return_refund", at=t(days=6), amount="4200.00", reason="damaged")
    app.fire_due(t(days=6, hours=72))
    rows = sorted((d["reason"], d["amount"], d["currency"]) for d in app.deductions())
    assert rows == [
        ("no_reply_arbitration", Decimal("2"), "points"),
        ("no_reply_arbitration", Decimal("4200.00"), "KES"),
    ]
    assert audit(app).mismatches == []


def test_penalty_form_per_reason_is_validated_km5() -> None:
    data = load_ruleset("kilimall").model_dump(mode="json")
    data["penalties"]["ruled_liable"] = {"form": "points", "rule": "X-1"}
    with pytest.raises(Exception, match="points above 0"):
        load_ruleset_from(data)


def load_ruleset_from(data: dict[str, Any]) -> Any:
    from aftersales_es.domain.rules import parse_ruleset

    return parse_ruleset(data)


# ----------------------------------------------------------------- KS-8
def ruled_for_seller(desk: Desk, reason: str = "quality_issue", **args: Any) -> None:
    apply(desk, "refund_only", amount="50.00", reason=reason, **args)
    desk.execute("reject", case="C1", at=APPLIED + H, reason="worn", **CONTACTED)
    desk.execute("escalate", case="C1", at=APPLIED + 2 * H)
    desk.execute("rule", case="C1", at=APPLIED + 3 * H, in_favour_of="seller")


def test_new_application_on_ruled_grounds_refused_ks8(desk: Desk) -> None:
    order(desk)
    ruled_for_seller(desk)
    with refused(desk, NotAllowedError, "KS-8", "final", "C1"):
        apply(desk, "refund_only", case="C2", at=APPLIED + 4 * H, reason="quality_issue")


def test_other_grounds_may_still_be_applied_for_after_a_ruling_ks8(desk: Desk) -> None:
    order(desk)
    ruled_for_seller(desk, reason="changed_mind")
    case = apply(desk, "repair", case="C2", at=APPLIED + 4 * H, reason="quality_issue")
    assert case.state == "requested"


def test_another_line_may_still_be_applied_for_after_a_ruling_ks8(desk: Desk) -> None:
    lines = [{"line": "L1", "quantity": 1, "unit_price": "60.00"},
             {"line": "L2", "quantity": 1, "unit_price": "60.00"}]  # fmt: skip
    order(desk, lines=lines)
    ruled_for_seller(desk, lines="L1:1")
    with refused(desk, NotAllowedError, "KS-8"):
        apply(desk, "refund_only", case="C2", at=APPLIED + 4 * H, lines="L1:1",
              reason="quality_issue")  # fmt: skip
    case = apply(desk, "refund_only", case="C3", at=APPLIED + 5 * H, lines="L2:1",
                 reason="quality_issue")  # fmt: skip
    assert case.state == "requested"


def in_state(desk: Desk, state: str) -> str:
    """Given: a Kuaishou case C1 in ``state``; returns its kind."""
    order(desk)
    steps: dict[str, tuple[str, list[tuple[str, dict[str, Any]]]]] = {
        "requested": ("return_refund", []),
        "proposed": ("return_refund", [("propose", {"kind": "refund_only", "amount": "50.00"})]),
        "awaiting_return": ("return_refund", [("approve", {})]),
        "returning": ("return_refund", [("approve", {}), ("ship_back", BILL)]),
        "received": ("exchange", [("approve", {}), ("ship_back", BILL), ("confirm_receipt", {})]),
        "reshipping": ("exchange", [("approve", {}), ("ship_back", BILL), ("confirm_receipt", {}),
                                    ("ship_replacement", BILL)]),
        "completed": ("exchange", [("approve", {}), ("ship_back", BILL), ("confirm_receipt", {}),
                                   ("ship_replacement", BILL), ("confirm_completion", {})]),
        "rejected": ("refund_only", [("reject", {"reason": "worn", **CONTACTED})]),
        "disputed": ("refund_only", [("reject", {"reason": "worn", **CONTACTED}),
                                     ("escalate", {})]),
        "refunded": ("refund_only", [("approve", {})]),
        "closed": ("refund_only", [("withdraw", {})]),
    }  # fmt: skip
    kind, commands = steps[state]
    apply(desk, kind, amount=None if kind == "exchange" else "50.00")
    for i, (name, args) in enumerate(commands, start=1):
        desk.execute(name, case="C1", at=APPLIED + i * H, **args)
    assert desk.get_case("C1").state == state
    return kind


HANDLED = ("requested", "proposed", "awaiting_return", "returning", "received", "reshipping",
           "rejected")  # fmt: skip


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("state", STATES)
def test_who_may_escalate_from_each_state_ks8(desk: Desk, state: str, actor: str) -> None:
    """KS-8: either party, while the case is handled; never the platform itself,
    never from a dispute or a finished (ruled, refunded, closed) case."""
    kind = in_state(desk, state)
    may = actor in ("buyer", "seller") and state in HANDLED
    if actor in ("platform", "system"):  # not parties: the command does not take them
        assert destination("escalate", state, kind, actor) is None
        return
    at = APPLIED + 10 * H
    if may:
        case = desk.execute("escalate", case="C1", at=at, by=actor)
        assert case.state == "disputed" and case.escalated_by == actor
        assert case.escalated_from == state
    else:
        with refused(desk, TransitionNotAllowedError, "statechart", state):
            desk.execute("escalate", case="C1", at=at, by=actor)


# ---------------------------------------------------------- KS-10, KM-2
def test_perishable_goods_have_no_no_reason_return_ks10(desk: Desk) -> None:
    order(desk, category="perishable")
    with refused(desk, NotAllowedError, "KS-10", "cannot be returned"):
        apply(desk, "return_refund", reason="changed_mind")


def test_perishable_goods_with_a_quality_issue_may_be_returned_ks10(desk: Desk) -> None:
    order(desk, category="perishable")
    assert apply(desk, "return_refund", reason="quality_issue").state == "requested"


def test_repair_window_per_category_ks10(desk: Desk) -> None:
    order(desk, category="electronics")
    order(desk, "O2")
    at = t(days=200)
    assert apply(desk, "repair", at=at).state == "requested"  # one-year warranty
    with refused(desk, WindowClosedError, "KS-10", "repair"):
        apply(desk, "repair", case="C2", at=at, order="O2")


def test_line_category_decides_its_window_ks10(desk: Desk) -> None:
    lines = [{"line": "L1", "quantity": 1, "unit_price": "60.00", "category": "custom_made"},
             {"line": "L2", "quantity": 1, "unit_price": "60.00"}]  # fmt: skip
    order(desk, lines=lines)
    with refused(desk, NotAllowedError, "KS-10", "custom_made"):
        apply(desk, "return_refund", lines="L1:1", reason="changed_mind")
    assert apply(desk, "return_refund", case="C2", lines="L2:1").state == "requested"


def test_kilimall_repair_on_day_30_accepted_km2(desk: Desk) -> None:
    km_order(desk)
    assert apply(desk, "repair", at=t(days=35)).state == "requested"


# ----------------------------------------------------------------- KM-3
def warehouse_bound(desk: Desk, reason: str = "wrong_item", gs: bool = True) -> None:
    km_order(desk, gs=gs)
    apply(desk, "return_refund", at=t(days=6), amount="4200.00", reason=reason)
    desk.execute("approve", case="C1", at=t(days=6, hours=1))
    desk.execute("ship_back", case="C1", at=t(days=6, hours=2), **BILL)


def test_warehouse_receipt_is_confirmed_by_the_platform_not_the_seller_km3(desk: Desk) -> None:
    warehouse_bound(desk)
    with refused(desk, NotAllowedError, "KM-3", "platform confirms"):
        desk.execute("confirm_receipt", case="C1", at=t(days=7))
    case = desk.execute("confirm_receipt", case="C1", at=t(days=7), by="platform")
    assert case.goods == "held" and desk.case_events("C1")[-3].actor == "platform"


def test_a_return_to_the_seller_is_not_confirmed_by_the_platform_km3(desk: Desk) -> None:
    warehouse_bound(desk, gs=False)
    with refused(desk, NotAllowedError, "KM-3", "seller confirms"):
        desk.execute("confirm_receipt", case="C1", at=t(days=7), by="platform")


def test_damaged_and_not_as_described_are_marked_assumptions_km3() -> None:
    s = load_ruleset("kilimall").settings
    assert s.warehouse_return_reasons.basis == "documented"
    assert set(s.warehouse_return_reasons.value) == {"wrong_item", "missing_item", "quality_issue"}
    assert s.warehouse_return_extra_reasons.basis == "assumption"
    assert set(s.warehouse_return_extra_reasons.value) == {"damaged", "not_as_described"}


def test_kilimall_rule_ids_describe_what_each_deadline_does_km5_km7_km8() -> None:
    by_name = {d.name: d for d in load_ruleset("kilimall").deadlines}
    assert (by_name["ship_back"].rule, by_name["ship_back"].basis) == ("KM-7", "assumption")
    # Receipt by silence is not KM-5's arbitration; completion is not KM-8's ruling.
    assert by_name["seller_receipt"].rule not in ("KM-5", "KM-8")
    assert by_name["buyer_confirmation"].rule not in ("KM-5", "KM-8")
    assert all(d.basis == "assumption" for d in by_name.values() if d.rule.startswith("KM-A"))


# ----------------------------------------------------------------- KS-3
def test_rejection_records_its_category_and_the_contact_ks3(desk: Desk) -> None:
    order(desk)
    apply(desk, "refund_only", amount="50.00")
    desk.execute("reject", case="C1", at=APPLIED + H, reason="returned empty box",
                 category="goods_not_as_returned", buyer_contacted=True)  # fmt: skip
    e = desk.case_events("C1")[-1]
    assert (e.category, e.buyer_contacted) == ("goods_not_as_returned", True)


@pytest.mark.parametrize(
    ("args", "words"),
    [({"buyer_contacted": True}, "category"),
     ({"category": "bad mood", "buyer_contacted": True}, "category"),
     ({"category": "other"}, "talk to the buyer")],
)  # fmt: skip
def test_rejection_without_category_or_contact_refused_ks3(
    desk: Desk, args: dict[str, Any], words: str
) -> None:
    order(desk)
    apply(desk, "refund_only", amount="50.00")
    with refused(desk, NotAllowedError, "KS-3", words):
        desk.execute("reject", case="C1", at=APPLIED + H, reason="worn", **args)


def test_kilimall_rejection_is_a_malicious_return_km6(desk: Desk) -> None:
    km_order(desk)
    apply(desk, "return_refund", at=t(days=6), reason="not_as_described")
    desk.execute("reject", case="C1", at=t(days=6, hours=1), reason="swapped unit")
    assert desk.case_events("C1")[-1].category == "malicious_return"
    apply(desk, "return_refund", case="C2", at=t(days=6, hours=2))
    with refused(desk, NotAllowedError, "KM-6", "malicious_return"):
        desk.execute("reject", case="C2", at=t(days=6, hours=3), reason="x", category="other")


# ------------------------------------------------------------- simulate
def test_simulate_runs_a_waiver_and_reports_points_km1_km5() -> None:
    from aftersales_es.sim.simulate import parse_scenario, run

    gs = {"seller": "S1", "buyer": "B1", "amount": "4200.00", "currency": "KES",
          "paid_at": t().isoformat(), "shipped_at": t(days=1).isoformat(), "gs": True}  # fmt: skip
    scenario = parse_scenario({
        "platform": "kilimall",
        "orders": [{"id": "O1", **gs, "delivered_at": None},
                   {"id": "O2", **gs, "delivered_at": t(days=5).isoformat()}],
        "steps": [
            {"at": t(days=6).isoformat(), "command": "apply", "order": "O2", "case": "X1",
             "args": {"kind": "exchange", "reason": "quality_issue"}},
            {"at": t(days=30).isoformat(), "command": "apply", "order": "O1", "case": "U1",
             "args": {"kind": "cancel_undelivered", "reason": "not_received"}},
            {"at": t(days=31).isoformat(), "command": "waive_deduction", "case": "U1",
             "args": {"deduction": "undelivered_loss", "note": "customs held it"}},
        ],
        "until": t(days=60).isoformat(),
    })  # fmt: skip
    out = run(scenario)
    assert out["errors"] == []
    money = [(d["case_id"], d["reason"], d["amount"]) for d in out["deductions"]]
    assert ("U1", "undelivered_loss", "4200.00") in money
    assert ("U1", "undelivered_loss_waived", "-4200.00") in money
    assert [(p["case_id"], p["reason"], p["amount"]) for p in out["points"]] == [
        ("X1", "no_reply_arbitration", "2")
    ]


# ------------------------------------------------------------ versioning
def test_events_stored_before_these_rules_upcast_to_their_defaults_ks3_ks8_ks10() -> None:
    from aftersales_es.domain.events import Escalated, Rejected
    from aftersales_es.domain.order import Registered

    rejected: dict[str, object] = {"reason": "r", "category": "other"}
    Rejected.upcast_v2_v3(rejected)
    escalated: dict[str, object] = {"by": "buyer"}
    Escalated.upcast_v1_v2(escalated)
    registered: dict[str, object] = {"gs": False}
    Registered.upcast_v1_v2(registered)
    assert rejected["buyer_contacted"] is False  # KS-3: never said
    assert escalated["source"] == ""  # KS-8: where from, unknown
    assert registered["category"] == ""  # KS-10: no category given
    assert (Rejected.class_version, Escalated.class_version, Registered.class_version) == (3, 2, 2)
