"""Case history and time travel: the timeline, and the case as of any
version or instant, for cases built along every path of the engine.

``PATHS`` and :func:`run_path` are shared with the ledger, audit and export
tests: each path is one case's script, relative to its order's payment.
"""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

import pytest

from aftersales_es.audit.history import case_at, history
from aftersales_es.cli.audit import history_text
from aftersales_es.cli.main import main
from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import InvalidInputError, NotFoundError
from aftersales_es.engine import AfterSales

from .helpers import T0

H = timedelta(hours=1)
D = timedelta(days=1)
BILL = {"carrier": "SF", "tracking_number": "SF-1"}
Step = tuple[timedelta, str, dict[str, Any]]

KS: dict[str, Any] = {"platform": "kuaishou", "amount": "120.00", "currency": "CNY",
                      "shipped": 20 * H, "delivered": 2 * D}  # fmt: skip
KM: dict[str, Any] = {"platform": "kilimall", "amount": "4200.00", "currency": "KES",
                      "shipped": D, "delivered": 5 * D}  # fmt: skip
KM_GS = {**KM, "gs": True}
KM_LOST = {**KM, "gs": True, "delivered": None}


def _apply(at: timedelta, kind: str, amount: str | None = None, reason: str = "other") -> Step:
    args: dict[str, Any] = {"kind": kind, "reason": reason}
    if amount is not None:
        args["amount"] = amount
    return (at, "apply", args)


def _rejected_dispute(
    by: str, ruling: dict[str, Any], start: timedelta, category: str = "other"
) -> list[Step]:
    # KS-3: a category and the buyer contacted; KM-6: malicious_return
    why = {"category": category, "buyer_contacted": True, "reason": "used item"}
    return [
        (start + H, "reject", why),
        (start + 2 * H, "escalate", {"by": by}),
        (start + 3 * H, "submit_evidence", {"note": "photos"}),
        (start + 4 * H, "submit_evidence", {"by": "seller", "note": "courier log"}),
        (start + D, "rule", ruling),
    ]


#: name -> (order facts, steps). "fire" runs every deadline due at that time.
PATHS: dict[str, tuple[dict[str, Any], list[Step]]] = {
    "ks_approved_refund": (KS, [_apply(3 * D, "refund_only", "50.00"), (3 * D + H, "approve", {})]),
    "ks_silent_refund": (KS, [_apply(3 * D, "refund_only", "60.00"), (6 * D, "fire", {})]),
    "ks_return": (KS, [_apply(3 * D, "return_refund", "120.00"), (3 * D + H, "approve", {}),
                       (4 * D, "ship_back", BILL), (5 * D, "confirm_receipt", {})]),
    "ks_return_auto": (KS, [_apply(3 * D, "return_refund"), (5 * D + H, "fire", {}),
                            (6 * D, "ship_back", BILL), (17 * D, "fire", {})]),
    "ks_return_not_shipped": (KS, [_apply(3 * D, "return_refund"), (3 * D + H, "approve", {}),
                                   (14 * D, "fire", {})]),
    "ks_exchange": (KS, [_apply(3 * D, "exchange"), (3 * D + H, "approve", {}),
                         (4 * D, "ship_back", BILL), (5 * D, "confirm_receipt", {}),
                         (5 * D + H, "ship_replacement", BILL),
                         (6 * D, "confirm_completion", {})]),
    "ks_dispute_for_buyer": (KS, [_apply(3 * D, "refund_only", "80.00"), *_rejected_dispute(
        "buyer", {"in_favour_of": "buyer", "refund_amount": "60.00"}, 3 * D)]),
    "ks_dispute_for_seller": (KS, [_apply(3 * D, "return_refund"), *_rejected_dispute(
        "buyer", {"in_favour_of": "seller"}, 3 * D)]),
    "ks_partial_plan": (KS, [_apply(3 * D, "refund_only", "100.00"),
                             (3 * D + H, "propose", {"kind": "refund_only", "amount": "70.00"}),
                             (3 * D + 2 * H, "accept_proposal", {})]),
    "ks_declined_then_withdrawn": (KS, [_apply(3 * D, "refund_only", "90.00"),
                                        (3 * D + H, "propose", {"kind": "refund_only",
                                                                "amount": "45.00"}),
                                        (3 * D + 2 * H, "decline_proposal", {}),
                                        (3 * D + 3 * H, "withdraw", {})]),
    "ks_offline_exchange": (KS, [_apply(3 * D, "return_refund"),
                                 (3 * D + H, "propose", {"kind": "exchange", "amount": "0",
                                                         "offline": True}),
                                 (3 * D + 2 * H, "accept_proposal", {})]),
    "km_silent_refund": (KM, [_apply(6 * D, "refund_only", "4200.00"), (10 * D, "fire", {})]),
    "km_silent_return": (KM, [_apply(6 * D, "return_refund", "3000.00"), (10 * D, "fire", {}),
                              (17 * D, "fire", {})]),
    "km_warehouse_scrapped": (KM_GS, [_apply(6 * D, "return_refund", "4200.00", "wrong_item"),
                                      (6 * D + H, "approve", {}), (7 * D, "ship_back", BILL),
                                      (10 * D, "confirm_receipt", {"by": "platform"}),
                                      (101 * D, "fire", {})]),
    "km_goods_asked_back": (KM_GS, [_apply(6 * D, "return_refund", "4200.00", "damaged"),
                                    (6 * D + H, "approve", {}), (7 * D, "ship_back", BILL),
                                    (10 * D, "confirm_receipt", {"by": "platform"}),
                                    (20 * D, "request_goods_back", {})]),
    "km_cancel_undelivered": (KM_LOST, [_apply(30 * D, "cancel_undelivered")]),
    "km_seller_escalates": (KM, [_apply(6 * D, "refund_only", "1000.00"), *_rejected_dispute(
        "seller", {"in_favour_of": "buyer"}, 6 * D, "malicious_return")]),
    "km_declined_then_silent": (KM, [_apply(6 * D, "return_refund", "4200.00"),
                                     (6 * D + H, "propose", {"kind": "refund_only",
                                                             "amount": "2000.00"}),
                                     (6 * D + 2 * H, "decline_proposal", {}),
                                     (10 * D, "fire", {})]),
}  # fmt: skip


def state_of(case: Case) -> dict[str, Any]:
    """Everything the aggregate holds (what a rebuild must reproduce)."""
    return {k: copy.deepcopy(v) for k, v in vars(case).items() if k != "_pending_events"}


def run_path(
    app: AfterSales,
    name: str,
    case: str = "C1",
    order_id: str = "O1",
    base: datetime = T0,
    seller: str = "S1",
) -> list[tuple[int, dict[str, Any]]]:
    """Build one case along ``name``; return (version, state) after each step."""
    facts, steps = PATHS[name]
    app.register_order(
        {
            "id": order_id,
            "seller": seller,
            "buyer": "B1",
            "platform": facts["platform"],
            "amount": facts["amount"],
            "currency": facts["currency"],
            "paid_at": base,
            "shipped_at": base + facts["shipped"],
            "delivered_at": None if facts["delivered"] is None else base + facts["delivered"],
            "gs": facts.get("gs", False),
        }
    )
    seen = []
    for offset, command, args in steps:
        if command == "fire":
            app.fire_due(base + offset)
        else:
            extra = {"order": order_id} if command == "apply" else {}
            app.execute(command, case=case, at=base + offset, **extra, **args)
        now = app.get_case(case)
        seen.append((now.version, state_of(now)))
    return seen


@pytest.mark.parametrize("path", sorted(PATHS))
def test_case_as_of_each_version_is_the_state_when_written(app: AfterSales, path: str) -> None:
    seen = run_path(app, path)
    events = app.case_events("C1")
    for version, state in seen:
        assert state_of(case_at(app, "C1", version=version)[0]) == state
    for e in events:
        then, upto = case_at(app, "C1", version=e.originator_version)
        assert (then.version, then.state, then.deadlines) == (
            e.originator_version,
            e.state,
            e.deadlines,
        )
        assert upto == events[: e.originator_version]
        latest = max(x.originator_version for x in events if x.at <= e.at)
        assert case_at(app, "C1", as_of=e.at)[0].version == latest


@pytest.mark.parametrize("path", sorted(PATHS))
def test_timeline_chains_states_and_names_who_acted(app: AfterSales, path: str) -> None:
    run_path(app, path)
    events = app.case_events("C1")
    rows = history(app, "C1")["timeline"]
    assert [r["version"] for r in rows] == [e.originator_version for e in events]
    assert rows[0]["state_before"] is None
    for prev, row, e in zip([None, *rows], rows, events, strict=False):
        assert row["state_after"] == e.state
        if prev is not None:
            assert row["state_before"] == prev["state_after"]
        assert row["by"] == (e.rule if e.auto and e.rule else e.actor)


def test_silent_seller_timeline_shows_deadline_set_then_fired_ks1(app: AfterSales) -> None:
    run_path(app, "ks_silent_refund")
    rows = history(app, "C1")["timeline"]
    assert [(r["event"], r["by"], r["state_before"], r["state_after"]) for r in rows] == [
        ("Applied", "buyer", None, "requested"),
        ("Approved", "KS-1", "requested", "requested"),
        ("Refunded", "KS-1", "requested", "refunded"),
    ]
    due = (T0 + 5 * D).isoformat()
    assert rows[0]["deadlines_set"] == [
        {"name": "seller_review", "due": due, "action": "auto_approve", "rule": "KS-1"}
    ]
    assert rows[1]["deadlines_cleared"][0]["fired"] is True
    assert {k: rows[2]["amounts"][k] for k in ("amount", "refunded_total")} == {
        "amount": "60.00",
        "refunded_total": "60.00",
    }


def test_as_of_before_the_application_is_not_found(app: AfterSales) -> None:
    run_path(app, "ks_approved_refund")
    with pytest.raises(NotFoundError, match="did not exist yet"):
        case_at(app, "C1", as_of=T0 + D)
    with pytest.raises(InvalidInputError, match="out of range"):
        case_at(app, "C1", version=99)
    with pytest.raises(InvalidInputError, match="timezone"):
        case_at(app, "C1", as_of=datetime(2026, 6, 1))


def test_cli_history_as_of_prints_the_case_as_it_stood(
    store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = AfterSales(store)
    run_path(app, "ks_return")
    expected = history_text(history(app, "C1", version=2))
    app.close()
    when = (T0 + 3 * D + 90 * timedelta(minutes=1)).isoformat()
    assert main(["--store", store, "history", "C1", "--as-of", when]) == 0
    out = capsys.readouterr().out
    assert out == expected + "\n"
    assert "state awaiting_return" in out and "ShippedBack" not in out
    assert main(["--store", store, "--json", "history", "C1", "--version", "1"]) == 0
    assert '"state_after": "requested"' in capsys.readouterr().out
