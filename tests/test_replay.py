"""Replay: the events alone rebuild every case exactly, and a case keeps the
rule-set values it was applied under whatever the rule files say later.

For each path through the statechart the case object that decided (returned
by ``execute``, or the one a deadline fired on) is compared with the case a
NEW application on the same store rebuilds from the events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from aftersales_es.domain.case import Case, Context
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.views import case_dict

from .helpers import order, t

APPLIED = t(days=3)
WAYBILL = {"carrier": "YTO", "tracking_number": "YT1"}
KM_ORDER = {"platform": "kilimall", "amount": "4200.00", "currency": "KES"}


def h(hours: float) -> datetime:
    return APPLIED + timedelta(hours=hours)


class Story:
    """Runs commands and deadlines, keeping the case objects that decided."""

    def __init__(self, app: AfterSales) -> None:
        self.app = app
        self.live: dict[str, Case] = {}

    def apply(
        self,
        kind: str,
        case: str = "C1",
        order_id: str = "O1",
        when: datetime = APPLIED,
        **args: Any,
    ) -> None:
        self.do("apply", case, when, order=order_id, kind=kind, **args)

    def do(self, command: str, case: str, when: datetime, **args: Any) -> None:
        self.live[case] = self.app.execute(command, case=case, at=when, **args)

    def sweep(self, now: datetime) -> None:
        """Fire every deadline due at ``now`` in due order, as the worker does."""
        while rows := self.app.due(now, limit=1):
            case_id, name, due = rows[0]
            case = self.app.get_case(case_id)
            order_ = self.app.get_order(case.order_id)
            case.fire(Context(order_, self.app.ruleset_of(case)), name=name, due=due)
            holder = self.app.locate(case_id) if hasattr(self.app, "locate") else self.app
            holder.save(case, order_)
            self.live[case_id] = case


# --------------------------------------------------------------------- paths
def ks_refund_approved(s: Story) -> None:
    s.apply("refund_only", amount="50.00")
    s.do("approve", "C1", h(1))


def ks_refund_silent_ks1(s: Story) -> None:
    s.apply("refund_only", amount="50.00")
    s.sweep(h(100))


def ks_express_refund_ks9(s: Story) -> None:
    s.apply("refund_only", when=t(hours=2))


def ks_return_in_time_ks4_ks5_ks6(s: Story) -> None:
    s.apply("return_refund", amount="120.00", reason="quality_issue")
    s.do("approve", "C1", h(1))
    s.do("ship_back", "C1", h(30), **WAYBILL)
    s.do("confirm_receipt", "C1", h(90))


def ks_return_never_shipped_ks4_ks5(s: Story) -> None:
    s.apply("return_refund", amount="120.00")
    s.sweep(h(24 * 30))


def ks_return_receipt_silent_ks6(s: Story) -> None:
    s.apply("return_refund", amount="60.00")
    s.do("approve", "C1", h(1))
    s.do("ship_back", "C1", h(2), **WAYBILL)
    s.sweep(h(24 * 30))


def ks_exchange_completed_ks7(s: Story) -> None:
    s.apply("exchange", reason="damaged")
    s.do("approve", "C1", h(1))
    s.do("ship_back", "C1", h(2), **WAYBILL)
    s.do("confirm_receipt", "C1", h(3))
    s.do("ship_replacement", "C1", h(4), carrier="SF", tracking_number="SF1")
    s.do("confirm_completion", "C1", h(5))


def ks_repair_auto_completed_ks7(s: Story) -> None:
    s.apply("repair")
    s.sweep(h(48))
    s.do("ship_back", "C1", h(50), **WAYBILL)
    s.do("confirm_receipt", "C1", h(51))
    s.do("ship_replacement", "C1", h(52), carrier="SF", tracking_number="SF1")
    s.sweep(h(24 * 30))


def ks_resolved_offline_ks7(s: Story) -> None:
    s.apply("return_refund", amount="120.00")
    s.do("propose", "C1", h(1), kind="exchange", amount="0", offline=True)
    s.do("accept_proposal", "C1", h(2))


def ks_rejected_and_reapplied_ks3(s: Story) -> None:
    s.apply("refund_only", amount="80.00")
    s.do("reject", "C1", h(1), category="other", buyer_contacted=True, reason="used")
    s.apply("refund_only", case="C2", when=h(2), amount="40.00")
    s.do("approve", "C2", h(3))


def ks_dispute_for_buyer_ks8(s: Story) -> None:
    s.apply("refund_only", amount="100.00")
    s.do("reject", "C1", h(1), category="other", buyer_contacted=True, reason="not faulty")
    s.do("escalate", "C1", h(2), by="buyer")
    s.do("submit_evidence", "C1", h(3), by="buyer", note="video")
    s.do("submit_evidence", "C1", h(4), by="seller", note="photo")
    s.do("rule", "C1", h(50), in_favour_of="buyer", refund_amount="70.00")


def ks_dispute_for_seller_ks8(s: Story) -> None:
    s.apply("return_refund", amount="120.00")
    s.do("escalate", "C1", h(1), by="seller")
    s.do("rule", "C1", h(2), in_favour_of="seller")


def ks_withdrawn(s: Story) -> None:
    s.apply("return_refund", amount="120.00")
    s.do("approve", "C1", h(1))
    s.do("withdraw", "C1", h(2))


def km_cancel_undelivered_km1(s: Story) -> None:
    s.apply("cancel_undelivered", order_id="K2", when=t(days=31), reason="not_received")


def km_warehouse_goods_asked_back_km3_km4(s: Story) -> None:
    s.apply("return_refund", order_id="K1", amount="4200.00", reason="wrong_item")
    s.do("approve", "C1", h(1))
    s.do("ship_back", "C1", h(2), **WAYBILL)
    s.do("confirm_receipt", "C1", h(3), by="platform")  # KM-3: the warehouse receives
    s.do("request_goods_back", "C1", h(24 * 40))


def km_warehouse_goods_scrapped_km4(s: Story) -> None:
    s.apply("return_refund", order_id="K1", amount="4200.00", reason="missing_item")
    s.do("approve", "C1", h(1))
    s.do("ship_back", "C1", h(2), **WAYBILL)
    s.sweep(h(24 * 200))


def km_silent_seller_refund_km5(s: Story) -> None:
    s.apply("refund_only", order_id="K1", amount="1000.00")
    s.sweep(h(100))


def km_silent_seller_return_km5(s: Story) -> None:
    s.apply("return_refund", order_id="K1", amount="4200.00")
    s.sweep(h(100))
    s.do("ship_back", "C1", h(101), **WAYBILL)
    s.do("confirm_receipt", "C1", h(102))


def km_plan_declined_then_accepted_km6_km7(s: Story) -> None:
    s.apply("return_refund", order_id="K1", amount="4200.00")
    s.do("propose", "C1", h(1), kind="refund_only", amount="1000.00")
    s.do("decline_proposal", "C1", h(2))
    s.do("propose", "C1", h(3), kind="refund_only", amount="2000.00")
    s.do("accept_proposal", "C1", h(4))


def km_ruling_partial_km8(s: Story) -> None:
    s.apply("return_refund", order_id="K1", amount="4200.00", reason="not_as_described")
    s.do("reject", "C1", h(1), category="malicious_return", reason="swapped unit")
    s.do("escalate", "C1", h(2), by="seller")
    s.do("rule", "C1", h(3), in_favour_of="buyer", refund_amount="2100.00")


PATHS: list[Callable[[Story], None]] = [
    ks_refund_approved,
    ks_refund_silent_ks1,
    ks_express_refund_ks9,
    ks_return_in_time_ks4_ks5_ks6,
    ks_return_never_shipped_ks4_ks5,
    ks_return_receipt_silent_ks6,
    ks_exchange_completed_ks7,
    ks_repair_auto_completed_ks7,
    ks_resolved_offline_ks7,
    ks_rejected_and_reapplied_ks3,
    ks_dispute_for_buyer_ks8,
    ks_dispute_for_seller_ks8,
    ks_withdrawn,
    km_cancel_undelivered_km1,
    km_warehouse_goods_asked_back_km3_km4,
    km_warehouse_goods_scrapped_km4,
    km_silent_seller_refund_km5,
    km_silent_seller_return_km5,
    km_plan_declined_then_accepted_km6_km7,
    km_ruling_partial_km8,
]


def state_of(case: Case) -> dict[str, Any]:
    return {k: v for k, v in case.__dict__.items() if k != "_pending_events"}


@pytest.fixture
def story(store: str) -> Iterator[Story]:
    """Kuaishou order O1 (express refund on: it only applies when its conditions
    hold), Kilimall GS orders K1 (delivered) and K2 (shipped, never delivered)."""
    app = AfterSales(store, settings={"express_refund": True})
    order(app)
    order(app, "K1", **KM_ORDER, gs=True)
    order(app, "K2", **KM_ORDER, gs=True, delivered_at=None)
    yield Story(app)
    app.close()


@pytest.mark.parametrize("path", PATHS, ids=[p.__name__ for p in PATHS])
def test_case_rebuilt_from_the_store_equals_the_deciding_case(
    store: str, story: Story, path: Callable[[Story], None]
) -> None:
    path(story)
    assert story.live
    fresh = AfterSales(store)
    try:
        for case_id, live in story.live.items():
            rebuilt = fresh.get_case(case_id)
            assert state_of(rebuilt) == state_of(live)
            assert case_dict(rebuilt, fresh.case_events(case_id)) == case_dict(
                live, story.app.case_events(case_id)
            )
    finally:
        fresh.close()


@pytest.mark.parametrize("path", PATHS, ids=[p.__name__ for p in PATHS])
def test_every_version_replays_to_the_state_its_event_recorded(
    story: Story, path: Callable[[Story], None]
) -> None:
    path(story)
    for case_id in story.live:
        for e in story.app.case_events(case_id):
            then = story.app.get_case(case_id, version=e.originator_version)
            assert (then.state, then.deadlines, then.last_at) == (e.state, e.deadlines, e.at)


def test_deduction_ledger_rederived_from_events_km1_km8(story: Story) -> None:
    km_ruling_partial_km8(story)
    story.apply("cancel_undelivered", case="C2", order_id="K2", when=t(days=31))
    before = story.app.deductions()
    assert [(d["case_id"], d["reason"]) for d in before] == [
        ("C1", "ruled_liable"),
        ("C2", "undelivered_loss"),
    ]
    story.app.projector.rebuild()
    assert story.app.deductions() == before


# ------------------------------------------------------- rule-set versions
def write_ruleset(path: Path, *, version: int, review: str, ship_back: str) -> None:
    """A user rule set ``myplat``: Kuaishou's rules with two values changed."""
    text = (resources.files("aftersales_es") / "rulesets" / "kuaishou.yaml").read_text("utf-8")
    data = yaml.safe_load(text)
    data.update(name="myplat", version=version, title="My platform")
    for d in data["deadlines"]:
        if d["name"] == "seller_review":
            d["after"] = review
        elif d["name"] == "ship_back":
            d["after"] = ship_back
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


def test_old_case_keeps_its_rule_set_after_the_file_changes(store: str, tmp_path: Path) -> None:
    rules = tmp_path / "myplat.yaml"
    write_ruleset(rules, version=1, review="48h", ship_back="10d")
    first = AfterSales(store, rulesets={"myplat": rules})
    order(first, platform="myplat")
    first.execute("apply", case="C1", order="O1", at=APPLIED, kind="return_refund")
    first.close()

    write_ruleset(rules, version=2, review="24h", ship_back="5d")
    app = AfterSales(store, rulesets={"myplat": rules})
    try:
        old = app.get_case("C1")
        assert app.ruleset_of(old).version == 1
        assert old.pending_deadline is not None and old.pending_deadline.due == h(48)
        order(app, "O2", platform="myplat")
        new = app.execute("apply", case="C2", order="O2", at=h(1), kind="return_refund")
        assert app.ruleset_of(new).version == 2
        assert new.pending_deadline is not None and new.pending_deadline.due == h(25)

        # 30 h after applying: the new case was auto-approved at 24 h, the old one waits.
        fired = app.fire_due(h(30))
        assert [(f.case_id, f.due) for f in fired] == [("C2", h(25))]
        old = app.execute("approve", case="C1", at=h(30))
        assert old.pending_deadline is not None and old.pending_deadline.due == h(30 + 240)
        new = app.get_case("C2")
        assert new.pending_deadline is not None and new.pending_deadline.due == h(25 + 120)
    finally:
        app.close()

    rules.unlink()  # the values live in the store, not in the file
    later = AfterSales(store)
    try:
        fired = later.fire_due(h(24 * 30))
        assert sorted((f.case_id, f.due, f.rule) for f in fired) == [
            ("C1", h(30 + 240), "KS-5"),
            ("C2", h(25 + 120), "KS-5"),
        ]
        assert {later.get_case(c).state for c in ("C1", "C2")} == {"closed"}
    finally:
        later.close()
