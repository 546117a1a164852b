"""Every case ends: each open state has a deadline with an automatic outcome
from the rule set, so a case nobody acts on any more ends terminal.

The outcomes (assumptions of the shipped rule sets, KS-A*/KM-A* ids): an
unanswered proposal lapses to the seller's review; an exchange or repair
received and not reshipped is refunded at the goods' price; a rejection
nobody pursues closes; a dispute with no ruling in the platform's time is
settled by the buyer's plan, from where the goods are.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aftersales_es.domain.errors import CommandRefusedError
from aftersales_es.domain.ruleload import load_ruleset
from aftersales_es.domain.statechart import (
    DEADLINE_ACTIONS,
    PEOPLE,
    TERMINAL,
    transitions_from,
)

from .desk import Desk
from .helpers import event_types, order, t

APPLIED = t(days=3)
H = timedelta(hours=1)
BILL = {"carrier": "SF", "tracking_number": "SF1"}
CONTACTED = {"category": "other", "buyer_contacted": True}
FOREVER = timedelta(days=3 * 365)


def exchange_received(desk: Desk) -> None:
    order(desk)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind="exchange")
    desk.execute("approve", case="C1", at=APPLIED + H)
    desk.execute("ship_back", case="C1", at=APPLIED + 2 * H, **BILL)
    desk.execute("confirm_receipt", case="C1", at=APPLIED + 3 * H)


def test_received_exchange_not_reshipped_is_refunded_at_the_goods_price_ks_a2(desk: Desk) -> None:
    exchange_received(desk)
    due = desk.get_case("C1").pending_deadline
    assert due is not None and (due.action, due.rule) == ("auto_refund", "KS-A2")
    assert due.due == APPLIED + 3 * H + timedelta(days=10)
    desk.fire_due(due.due)
    case = desk.get_case("C1")
    assert case.state == "refunded" and case.refunded_total == Decimal("120.00")
    refunded = desk.case_events("C1")[-1]
    assert (refunded.at, refunded.auto, refunded.rule) == (due.due, True, "KS-A2")


def test_rejection_not_pursued_closes_ks3(desk: Desk) -> None:
    order(desk)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind="refund_only")
    desk.execute("reject", case="C1", at=APPLIED + H, reason="worn", **CONTACTED)
    desk.fire_due(APPLIED + H + timedelta(days=7))
    case = desk.get_case("C1")
    assert (case.state, case.closed_reason) == ("closed", "rejection_not_pursued")
    assert desk.case_events("C1")[-1].rule == "KS-3"


@pytest.mark.parametrize(
    ("kind", "source", "settled"),
    [("refund_only", "requested", "refunded"),
     ("return_refund", "awaiting_return", "awaiting_return"),
     ("return_refund", "returning", "refunded"),
     ("exchange", "received", "received"),
     ("exchange", "reshipping", "reshipping")],
)  # fmt: skip
def test_dispute_without_ruling_is_settled_by_the_buyers_plan_ks_a3(
    desk: Desk, kind: str, source: str, settled: str
) -> None:
    order(desk)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind=kind)
    path = {"requested": [], "awaiting_return": ["approve"],
            "returning": ["approve", "ship_back"],
            "received": ["approve", "ship_back", "confirm_receipt"],
            "reshipping": ["approve", "ship_back", "confirm_receipt",
                           "ship_replacement"]}  # fmt: skip
    at = APPLIED
    for name in path[source]:
        at += H
        desk.execute(name, case="C1", at=at, **(BILL if name.startswith("ship") else {}))
    desk.execute("escalate", case="C1", at=at + H, by="seller")
    desk.execute("submit_evidence", case="C1", at=at + 2 * H, note="photos")
    due = desk.get_case("C1").pending_deadline  # evidence keeps the ruling deadline running
    assert due is not None and (due.action, due.rule) == ("auto_rule", "KS-A3")
    desk.fire_due(due.due)
    case = desk.get_case("C1")
    assert case.state == settled
    ruling = next(e for e in desk.case_events("C1") if type(e).__name__ == "Arbitrated")
    assert (ruling.auto, ruling.seller_liable, ruling.in_favour_of) == (True, False, "buyer")


def test_every_open_state_has_a_deadline_in_the_shipped_rule_sets() -> None:
    for name in ("kuaishou", "kilimall", "generic"):
        rules = load_ruleset(name)
        for state in set(DEADLINE_ACTIONS.values()):
            for kind in rules.kinds:
                reachable = any(r.possible_for(kind) for r in transitions_from(state))
                if reachable and kind != "cancel_undelivered":
                    assert rules.deadline_for(state, kind) is not None, (name, state, kind)


# ------------------------------------------------------------- invariant
ARGS: dict[str, dict[str, Any]] = {
    "propose": {"kind": "refund_only", "amount": "10.00"},
    "reject": {"reason": "worn", "buyer_contacted": True},
    "ship_back": BILL,
    "ship_replacement": BILL,
    "submit_evidence": {"note": "photos"},
    "rule": {"in_favour_of": "buyer", "refund_amount": "10.00"},
    "propose_partial_refund": {"amount": "10.00", "reason": "worn"},
}
#: KM-8: the outcomes a ruling for the buyer may order (some refused for some kinds).
RULINGS = ("refund", "partial_refund", "return_then_refund", "replacement", "repair")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    platform=st.sampled_from(["kuaishou", "kilimall", "generic"]),
    kind=st.sampled_from(["refund_only", "return_refund", "exchange", "repair"]),
    moves=st.lists(st.tuples(st.integers(0, 50), st.integers(1, 300)), max_size=8),
)
def test_a_case_nobody_acts_on_ends_terminal(
    platform: str, kind: str, moves: list[tuple[int, int]]
) -> None:
    """For any reachable history, once everybody goes silent every case ends."""
    desk = Desk()
    currency = {"kuaishou": "CNY", "kilimall": "KES", "generic": "USD"}[platform]
    order(desk, platform=platform, currency=currency)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind=kind)
    now = APPLIED
    for pick, hours in moves:
        now += timedelta(hours=hours)
        desk.fire_due(now)
        case = desk.get_case("C1")
        rows = [
            (r.trigger, who)
            for r in transitions_from(case.state)
            if r.possible_for(case.kind)
            for who in sorted(PEOPLE.intersection(r.actors))
        ]
        if not rows:
            continue
        trigger, who = rows[pick % len(rows)]
        args = dict(ARGS.get(trigger, {}))
        if trigger == "reject" and platform != "kilimall":
            args["category"] = "other"
        if trigger in ("escalate", "submit_evidence"):
            args["by"] = who
        if trigger == "confirm_receipt":
            args["by"] = who
        if trigger == "rule" and pick % 2:
            args = {"in_favour_of": "seller"}
        elif trigger == "rule":
            outcome = RULINGS[pick // 2 % len(RULINGS)]
            args = (
                {**args, "outcome": outcome}
                if "refund" in outcome
                else {"in_favour_of": "buyer", "outcome": outcome}
            )
        # A refusal writes nothing: the history stays reachable.
        with contextlib.suppress(CommandRefusedError):
            desk.execute(trigger, case="C1", at=now, **args)
    desk.fire_due(now + FOREVER)
    case = desk.get_case("C1")
    assert case.state in TERMINAL, (case.state, event_types(desk, "C1"))


# ------------------------------------------------ each assumption deadline, by id
@pytest.mark.parametrize(
    ("platform", "kind", "steps", "rule"),
    [("kuaishou", "refund_only", [("propose", ARGS["propose"])], "KS-A1"),
     ("kilimall", "return_refund", [("approve", {}), ("ship_back", BILL)], "KM-A1"),
     ("kilimall", "exchange", [("approve", {}), ("ship_back", BILL),
                               ("confirm_receipt", {})], "KM-A3"),
     ("kilimall", "refund_only", [("reject", {"reason": "worn"})], "KM-A4"),
     ("kilimall", "refund_only", [("escalate", {"by": "seller"})], "KM-A5")],
)  # fmt: skip
def test_silence_fires_the_assumption_deadline_of_the_state_km_a1_a3_a4_a5_ks_a1(
    platform: str, kind: str, steps: list[tuple[str, dict[str, Any]]], rule: str
) -> None:
    # given: a case left waiting in the state the steps lead to
    desk = Desk()
    order(desk, platform=platform, currency={"kuaishou": "CNY", "kilimall": "KES"}[platform])
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind=kind)
    at = APPLIED
    for name, args in steps:
        at += H
        desk.execute(name, case="C1", at=at, **args)
    waiting = desk.get_case("C1")
    due = waiting.pending_deadline
    assert due is not None and due.rule == rule, (waiting.state, due)
    # when: nobody acts before it is due
    desk.fire_due(due.due)
    # then: the automatic event cites the rule, stamped with the due instant
    last = desk.case_events("C1")[-1]
    assert (last.auto, last.rule, last.at) == (True, rule, due.due)
    assert desk.get_case("C1").state != waiting.state
