"""The scenario layer without the read models: an index in memory
keeps the pending deadlines of the cases it saves, and its output is built
from the events it saved. It must fire exactly what ``AfterSales.fire_due``
fires, in the same order, and report exactly what the store and the read
models hold.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bench import gen

from aftersales_es.app.firing import Outcome
from aftersales_es.app.sweep import Fired
from aftersales_es.domain.base import case_uuid
from aftersales_es.domain.errors import AfterSalesError
from aftersales_es.domain.events import EVENT_TYPES
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.views import case_dict, event_dict, plain
from aftersales_es.sim.simulate import (
    Scenario,
    ScenarioApp,
    _report,
    _run,
    load_scenario,
    parse_scenario,
)

from .test_scenarios import ORDER, SCENARIOS


class Logged(ScenarioApp):
    """The scenario's application, noting every deadline it fires."""

    def __init__(self) -> None:
        super().__init__("memory")
        self.fired: list[tuple[str, str, datetime]] = []

    def fire_batch(self, rows: list[tuple[str, str, datetime]]) -> list[Outcome]:
        outcomes = super().fire_batch(rows)
        self.fired += [(f.case_id, f.name, f.due) for f in outcomes if isinstance(f, Fired)]
        return outcomes


def busy_scenario(platform: str, n: int, seed: int) -> Scenario:
    """Cases whose deadlines fall due together (orders paid at one instant),
    some steps left out so deadlines fire, some in UTC, some keyed and replayed."""
    if platform == "kilimall":
        mix = {"km_silent": 30, "km_warehouse": 40, "due_return": 20, "return": 10}
    else:
        mix = {**gen.MIX, "due_refund": 30, "due_return": 30}
    data = gen.scenario(gen.plan(n, mix=mix, spacing=timedelta(0), seed=seed), platform=platform)
    rng = random.Random(seed)
    steps: list[dict[str, Any]] = []
    for i, step in enumerate(s for s in data["steps"] if rng.random() > 0.35):
        if rng.random() < 0.2:
            step["at"] = datetime.fromisoformat(step["at"]).astimezone(UTC).isoformat()
        steps.append(step)
        if rng.random() < 0.1:
            step.setdefault("args", {})["idempotency_key"] = f"k{i}"
            steps.append(dict(step))
    data["steps"] = steps
    data["until"] = (datetime.fromisoformat(steps[-1]["at"]) + timedelta(days=120)).isoformat()
    return parse_scenario(data)


def reference(app: AfterSales, scenario: Scenario) -> dict[str, Any]:
    """The scenario run as before the clock: ``fire_due`` on the read models."""
    for raw in scenario.orders:
        app.register_order({"platform": scenario.platform, **raw})
    errors: list[dict[str, Any]] = []
    case_ids: list[str] = []
    for i, step in enumerate(scenario.steps):
        app.fire_due(step.at)
        data: dict[str, Any] = {**step.args, "case": step.case, "at": step.at}
        if step.order is not None:
            data["order"] = step.order
        try:
            app.execute(step.command, **data)
        except AfterSalesError as exc:
            errors.append(
                {"step": i, "command": step.command, "case": step.case, "message": str(exc)}
            )
        else:
            if step.case not in case_ids:
                case_ids.append(step.case)
    if scenario.until is not None:
        app.fire_due(scenario.until)
    cases = [case_dict(app.get_case(c), app.case_events(c)) for c in case_ids]
    rows = [{**d, "amount": plain(d["amount"])} for d in app.deductions()]
    # The ledger's points rows (KM-5) are reported apart from money.
    deductions = [d for d in rows if d["currency"] != "points"]
    points = [d for d in rows if d["currency"] == "points"]
    return {"cases": cases, "deductions": deductions, "points": points, "errors": errors}


@pytest.mark.parametrize(("platform", "seed"), [("kuaishou", 3), ("kilimall", 5)])
def test_busy_scenario_fires_and_reports_exactly_as_fire_due(platform: str, seed: int) -> None:
    # given: >100 deadlines due at the same instants, chains, replays, offsets
    scenario = busy_scenario(platform, 150, seed)
    ours, theirs = Logged(), Logged()
    try:
        # when: run with the clock, and with fire_due on the read models
        got = _run(ours, scenario, platform)
        want = reference(theirs, scenario)
    finally:
        ours.close()
        theirs.close()
    # then: the same deadlines fired in the same order, the same output
    assert len(theirs.fired) > 100  # more than one page of AfterSales.due
    assert ours.fired == theirs.fired
    assert got == want
    if platform == "kilimall":
        assert got["deductions"], "KM-5 no-reply deductions expected"


def test_deadline_a_firing_leads_to_fires_before_a_later_one_already_due() -> None:
    # given: W's goods wait 90 days at the warehouse (KM-4); R's seller never
    # replies (72 h, auto-arbitration), which leads to R's 7-day ship-back
    def order(i: int) -> dict[str, Any]:
        return {
            "id": f"KM-{i}",
            "seller": "S1",
            "buyer": f"B{i}",
            "amount": "3000.00",
            "currency": "KES",
            "paid_at": "2026-08-01T10:00:00+03:00",
            "shipped_at": "2026-08-03T10:00:00+03:00",
            "delivered_at": "2026-08-10T14:00:00+03:00",
            "gs": True,
        }

    args = {"kind": "return_refund", "amount": "3000.00", "reason": "wrong_item"}
    waybill = {"carrier": "DHL", "tracking_number": "D1"}
    steps = [
        {"at": "2026-08-11T09:00:00+03:00", "command": "apply", "order": "KM-1", "case": "W",
         "args": args},
        {"at": "2026-08-11T09:00:00+03:00", "command": "apply", "order": "KM-2", "case": "R",
         "args": args},
        {"at": "2026-08-11T10:00:00+03:00", "command": "approve", "case": "W"},
        {"at": "2026-08-11T11:00:00+03:00", "command": "ship_back", "case": "W", "args": waybill},
        {"at": "2026-08-12T09:00:00+03:00", "command": "confirm_receipt", "case": "W",
         "args": {"by": "platform"}},  # KM-3: the warehouse receives it
    ]  # fmt: skip
    # when: the clock jumps past all three at once
    scenario = parse_scenario(
        {
            "platform": "kilimall",
            "orders": [order(1), order(2)],
            "steps": steps,
            "until": "2027-03-01T00:00:00+03:00",
        }
    )
    ours, theirs = Logged(), Logged()
    try:
        got = _run(ours, scenario, "kilimall")
        want = reference(theirs, scenario)
    finally:
        ours.close()
        theirs.close()
    # then: R's ship-back (Aug 21) fires before W's scrapping (Nov 10), as fire_due does
    assert [(c, n) for c, n, _ in ours.fired] == [
        ("R", "seller_reply"),
        ("R", "ship_back"),
        ("W", "goods_scrap"),
    ]
    assert ours.fired == theirs.fired
    assert got == want


def test_replayed_keyed_command_leaves_the_newer_deadline_pending() -> None:
    # given: a keyed return application, then an approval (ship-back deadline)
    apply: dict[str, Any] = {
        "at": "2026-03-04T10:00:00+08:00",
        "command": "apply",
        "order": "O1",
        "case": "C1",
        "args": {"kind": "return_refund", "reason": "damaged", "idempotency_key": "a1"},
    }
    approve = {"at": apply["at"], "command": "approve", "case": "C1"}
    # when: the application is sent again (answered with the case at version 1)
    again = dict(apply)
    scenario = parse_scenario(
        {
            "platform": "kuaishou",
            "orders": [ORDER],
            "steps": [apply, approve, again],
            "until": "2026-04-30T00:00:00+08:00",
        }
    )
    ours, theirs = Logged(), Logged()
    try:
        got = _run(ours, scenario, "kuaishou")
        want = reference(theirs, scenario)
    finally:
        ours.close()
        theirs.close()
    # then: the approval's deadline stayed pending and fired, as fire_due fires it
    assert not got["errors"]
    assert [name for _, name, _ in ours.fired] == ["ship_back"]
    assert ours.fired == theirs.fired
    assert got == want


def test_scenario_run_never_projects_the_read_models() -> None:
    # given: a scenario with deadlines that fire and a ledger entry
    scenario = busy_scenario("kilimall", 30, 7)
    app = ScenarioApp("memory")
    try:
        # when
        out = _run(app, scenario, "kilimall")
        # then: every step and the report went without the projector
        assert app.projector.position() == 0
        assert out["deductions"]
        assert _report(app, [c["case_id"] for c in out["cases"]], []) == {
            **out,
            "errors": [],
        }
    finally:
        app.close()


def test_saved_events_are_the_stored_events_for_every_event_type() -> None:
    # given: the shipped scenarios, busy ones, and a withdrawal
    withdraw = busy_scenario("kuaishou", 10, 13)
    steps = [*withdraw.steps]
    first = steps[0]
    assert first.command == "apply"
    steps.insert(1, first.model_copy(update={"command": "withdraw", "order": None, "args": {}}))
    runs = [(load_scenario(p), None) for p in SCENARIOS] + [
        (busy_scenario("kuaishou", 100, 3), "kuaishou"),
        (busy_scenario("kilimall", 40, 5), "kilimall"),
        (withdraw.model_copy(update={"steps": steps}), "kuaishou"),
    ]
    types: set[str] = set()
    for scenario, platform in runs:
        app = ScenarioApp("memory")
        try:
            # when: a scenario runs
            out = _run(app, scenario, platform or scenario.platform)
            # then: what save returned shows exactly as the store reads back
            assert len(app.saved) == len(out["cases"])
            for case in out["cases"]:
                saved = app.saved[case_uuid(case["case_id"])]
                stored = app.case_events(case["case_id"])
                assert [event_dict(e) for e in saved] == [event_dict(e) for e in stored]
                types.update(type(e).__name__ for e in saved)
        finally:
            app.close()
    assert types == set(EVENT_TYPES)
