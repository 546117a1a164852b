"""Scenario files (SPEC §4) through the real CLI: ``aftersales simulate FILE``.

Every scenario shipped in ``aftersales_es/scenarios`` is run in a child
process and compared with its ``.expect.json``: each case's final state and
refunded total, the first event of each named type (instant and ``auto``),
the deductions (case, reason, amount) and the number of refused steps.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

import aftersales_es

SCENARIOS = sorted((Path(aftersales_es.__file__).parent / "scenarios").glob("*.yaml"))
ORDER = {
    "id": "O1",
    "seller": "S1",
    "buyer": "B1",
    "amount": "120.00",
    "currency": "CNY",
    "paid_at": "2026-03-01T09:00:00+08:00",
    "shipped_at": "2026-03-01T18:00:00+08:00",
    "delivered_at": "2026-03-03T12:00:00+08:00",
}
APPLY = {
    "at": "2026-03-04T10:00:00+08:00",
    "command": "apply",
    "order": "O1",
    "case": "C1",
    "args": {"kind": "refund_only", "amount": "120.00", "reason": "changed_mind"},
}


def simulate(path: Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m aftersales_es.cli simulate PATH`` in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "aftersales_es.cli", "simulate", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def problems(out: dict[str, Any], expect: dict[str, Any]) -> list[str]:
    """What differs between a simulation's output and its expectation."""
    found = []
    cases = {c["case_id"]: c for c in out["cases"]}
    for case_id, want in expect["cases"].items():
        case = cases.get(case_id)
        if case is None:
            found.append(f"{case_id} missing")
            continue
        if case["state"] != want["state"]:
            found.append(f"{case_id} state {case['state']!r}, want {want['state']!r}")
        if Decimal(case["refunded_total"]) != Decimal(want["refunded_total"]):
            found.append(
                f"{case_id} refunded {case['refunded_total']}, want {want['refunded_total']}"
            )
        for typ, at, auto in want["events"]:
            evs = [e for e in case["events"] if e["type"] == typ]
            if not evs or instant(evs[0]["at"]) != instant(at) or evs[0]["auto"] is not auto:
                found.append(f"{case_id} {typ}: got {evs[:1]}, want at {at} auto={auto}")
    got = sorted((d["case_id"], d["reason"], Decimal(d["amount"])) for d in out["deductions"])
    want_d = sorted((d["case_id"], d["reason"], Decimal(d["amount"])) for d in expect["deductions"])
    if got != want_d:
        found.append(f"deductions {got}, want {want_d}")
    if len(out["errors"]) != expect["errors"]:
        found.append(f"errors {out['errors']}, want {expect['errors']}")
    return found


def write(path: Path, scenario: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(scenario, allow_unicode=True), encoding="utf-8")
    return path


def test_shipped_scenarios_are_there() -> None:
    """The three reference scenarios plus our own, each with its expectation."""
    names = {p.stem for p in SCENARIOS}
    assert {
        "kuaishou-return-happy-path",
        "kuaishou-merchant-silent",
        "kilimall-dispute-for-seller",
        "kilimall-silent-seller",
        "kilimall-gs-warehouse-return",
        "kuaishou-express-refund",
        "kuaishou-buyer-never-ships",
    } <= names
    for path in SCENARIOS:
        assert path.with_suffix(".expect.json").is_file(), path.name


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_through_the_cli_matches_its_expectation(path: Path) -> None:
    proc = simulate(path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    expect = json.loads(path.with_suffix(".expect.json").read_text(encoding="utf-8"))
    assert problems(out, expect) == []
    for case in out["cases"]:
        assert {"case_id", "order_id", "platform", "kind", "state", "currency"} <= set(case)
        versions = [e["version"] for e in case["events"]]
        assert versions == list(range(1, len(versions) + 1))
        times = [instant(e["at"]) for e in case["events"]]
        assert times == sorted(times), f"{case['case_id']} events out of time order"
    for d in out["deductions"]:
        assert set(d) >= {"seller_id", "case_id", "reason", "amount", "at"}


def test_scenario_going_back_in_time_refused_as_a_whole(tmp_path: Path) -> None:
    later = {**APPLY, "at": "2026-03-05T10:00:00+08:00"}
    earlier = {"at": "2026-03-04T09:00:00+08:00", "command": "approve", "case": "C1"}
    path = write(
        tmp_path / "back.yaml",
        {"platform": "kuaishou", "orders": [ORDER], "steps": [later, earlier]},
    )
    proc = simulate(path)
    assert proc.returncode != 0
    assert proc.stdout.strip() == ""  # nothing was run
    assert "steps.1" in proc.stderr and "back in time" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("platform: [unclosed", ("not valid YAML",)),
        ("platform: kuaishou\nsteps: 3\n", ("steps",)),
        ("platform: kuaishou\nbogus: 1\n", ("bogus",)),
        ("platform: nowhere.yaml\n", ("nowhere.yaml",)),
        (
            "platform: kuaishou\nsteps: [{at: '2026-03-04T10:00:00+08:00', command: approve,"
            " case: C1}]\nuntil: '2026-03-04T09:00:00+08:00'\n",
            ("until", "before the last step"),
        ),
        (
            "platform: kuaishou\nsteps: [{at: '2026-03-04T10:00:00', command: approve, case: C1}]",
            ("steps.0.at", "timezone"),
        ),
    ],
    ids=[
        "not-yaml",
        "steps-not-a-list",
        "unknown-key",
        "unknown-rule-set",
        "until-early",
        "naive-time",
    ],
)
def test_malformed_scenario_refused_with_a_clear_message(
    tmp_path: Path, text: str, words: tuple[str, ...]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    proc = simulate(path)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    for word in words:
        assert word in proc.stderr


def test_refused_steps_reported_and_the_run_goes_on(tmp_path: Path) -> None:
    steps = [
        APPLY,
        {"at": "2026-03-04T11:00:00+08:00", "command": "approve", "case": "C1"},
        {"at": "2026-03-04T12:00:00+08:00", "command": "approve", "case": "C1"},
        {"at": "2026-03-04T13:00:00+08:00", "command": "withdraw", "case": "C9"},
        {"at": "2026-03-04T14:00:00+08:00", "command": "reject", "case": "C1"},
    ]
    path = write(
        tmp_path / "refused.yaml", {"platform": "kuaishou", "orders": [ORDER], "steps": steps}
    )
    proc = simulate(path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    errors = out["errors"]
    assert [(e["step"], e["command"], e["case"]) for e in errors] == [
        (2, "approve", "C1"),
        (3, "withdraw", "C9"),
        (4, "reject", "C1"),
    ]
    assert "state refunded" in errors[0]["message"] and "statechart" in errors[0]["message"]
    assert "C9" in errors[1]["message"] and "not found" in errors[1]["message"]
    assert "state refunded" in errors[2]["message"]
    [case] = out["cases"]
    assert (case["case_id"], case["state"], case["refunded_total"]) == ("C1", "refunded", "120.00")


def test_scenario_with_a_rule_set_file_beside_it(tmp_path: Path) -> None:
    """``platform`` may name a rule-set file, relative to the scenario file."""
    text = (resources.files("aftersales_es") / "rulesets" / "kuaishou.yaml").read_text("utf-8")
    rules = yaml.safe_load(text)
    rules.update(name="myplat", version=3)
    for d in rules["deadlines"]:
        if d["name"] == "seller_review":
            d["after"] = "24h"
    folder = tmp_path / "scen"
    folder.mkdir()
    write(folder / "myplat.yaml", rules)
    path = write(
        folder / "mine.yaml",
        {
            "platform": "myplat.yaml",
            "orders": [ORDER],
            "steps": [APPLY],
            "until": "2026-03-10T00:00:00+08:00",
        },
    )
    proc = simulate(path, cwd=tmp_path)  # not the scenario's folder
    assert proc.returncode == 0, proc.stderr
    [case] = json.loads(proc.stdout)["cases"]
    assert case["platform"] == "myplat" and case["state"] == "refunded"
    refunded = [e for e in case["events"] if e["type"] == "Refunded"]
    assert instant(refunded[0]["at"]) == instant("2026-03-05T10:00:00+08:00")  # 24 h, not 48 h
    assert refunded[0]["auto"] is True and refunded[0]["rule"] == "KS-1"
