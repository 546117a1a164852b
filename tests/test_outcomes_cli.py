"""Richer outcomes at the front doors: the ``aftersales`` command line, scenario
files (``aftersales simulate``) and ``POST /cases/{id}/{command}``.

KM-8's ruling outcomes (``rule --outcome``), KM-6/KM-7's partial refund on
returned goods (``propose_partial_refund``, ``accept_partial_refund``) and
KS-5's return address (``order register --return-address``, ``approve
--return-address``, ``ship_back --return-address``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from aftersales_es.cli.main import main

from .helpers import T0, t
from .http_world import World, build

DOCK = "Dock 4, 12 Huangpu Ave, Guangzhou 510000"
PROFILE = "Returns desk, 8 Keji Rd, Shenzhen 518057"


def at(hours: float) -> str:
    return (t(days=3) + timedelta(hours=hours)).isoformat()


class Cli:
    """The command line on one SQLite store; each call returns (exit code, JSON or stderr)."""

    def __init__(self, path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.store, self.capsys = str(path), capsys

    def __call__(self, *argv: str) -> tuple[int, Any]:
        try:
            code = main(["--store", self.store, "--json", *argv])
        except SystemExit as exc:  # argparse refuses bad input this way
            code = int(exc.code or 0)
        out = self.capsys.readouterr()
        return code, json.loads(out.out) if code == 0 else out.err


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Cli:
    """Given: order O1 (Kuaishou, 120.00 CNY, delivered) with the seller's return address."""
    run = Cli(tmp_path / "s.db", capsys)
    code, _ = run("order", "register", "O1", "--seller", "S1", "--buyer", "B1",
                  "--platform", "kuaishou", "--amount", "120.00", "--currency", "CNY",
                  "--paid-at", T0.isoformat(), "--shipped-at", t(hours=20).isoformat(),
                  "--delivered-at", t(days=2).isoformat(), "--return-address", PROFILE)  # fmt: skip
    assert code == 0
    return run


def test_rule_outcome_return_then_refund_from_the_command_line_ks8(cli: Cli) -> None:
    cli("apply", "C1", "--order", "O1", "--kind", "refund_only", "--at", at(0))
    cli("escalate", "C1", "--by", "buyer", "--at", at(1))
    code, case = cli("rule", "C1", "--in-favour-of", "buyer", "--outcome", "return_then_refund",
                     "--at", at(2))  # fmt: skip
    assert code == 0 and (case["state"], case["kind"]) == ("awaiting_return", "return_refund")
    ruling = next(e for e in case["events"] if e["type"] == "Arbitrated")
    assert (ruling["outcome"], ruling["return_address"]) == ("return_then_refund", PROFILE)
    assert [a["command"] for a in case["next"]["allowed"]] == ["ship_back", "withdraw"]
    code, err = cli("rule", "C1", "--in-favour-of", "buyer", "--outcome", "refund_all")
    assert code == 2 and "invalid choice: 'refund_all'" in err


def test_partial_refund_offer_from_the_command_line_km6_km7(cli: Cli) -> None:
    cli("apply", "C1", "--order", "O1", "--kind", "return_refund", "--at", at(0))
    cli("approve", "C1", "--at", at(1))
    cli("ship_back", "C1", "--carrier", "SF", "--tracking-number", "SF1", "--at", at(2))
    code, case = cli("propose_partial_refund", "C1", "--amount", "70.00", "--reason", "scuffed",
                     "--at", at(3))  # fmt: skip
    assert code == 0 and case["state"] == "received"
    allowed = {a["command"]: a["actors"] for a in case["next"]["allowed"]}
    assert allowed == {"accept_partial_refund": ["buyer"], "escalate": ["buyer", "seller"]}
    assert case["next"]["if_nobody_acts"]["rule"] == "KS-A6"
    code, case = cli("accept_partial_refund", "C1", "--at", at(4))
    assert code == 0 and (case["state"], case["refunded_total"]) == ("refunded", "70.00")


def test_return_address_from_the_command_line_ks5(cli: Cli) -> None:
    cli("apply", "C1", "--order", "O1", "--kind", "return_refund", "--at", at(0))
    code, case = cli("approve", "C1", "--return-address", DOCK, "--at", at(1))
    assert code == 0 and case["events"][-1]["return_address"] == DOCK
    code, err = cli("ship_back", "C1", "--carrier", "SF", "--tracking-number", "SF1",
                    "--return-address", PROFILE, "--at", at(2))  # fmt: skip
    assert code == 2 and err.count("\n") == 1 and "[KS-5]" in err and DOCK in err
    code, case = cli("ship_back", "C1", "--carrier", "SF", "--tracking-number", "SF1",
                     "--at", at(2))  # fmt: skip
    assert code == 0 and case["events"][-1]["return_address"] == DOCK
    code, order = cli("order", "show", "O1")
    assert code == 0 and order["return_address"] == PROFILE


def test_rules_show_lists_the_offer_answer_deadline_ks_a4_km_a7(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, rule in (("kuaishou", "KS-A6"), ("kilimall", "KM-A9"), ("generic", "GEN-24")):
        assert main(["--json", "rules", "show", name]) == 0
        shown = json.loads(capsys.readouterr().out)
        (d,) = [d for d in shown["deadlines"] if d["name"] == "partial_refund_answer"]
        assert (d["state"], d["action"], d["rule"]) == ("received", "auto_escalate", rule)


# ------------------------------------------------------------- simulate
def simulated(name: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    path = resources.files("aftersales_es") / "scenarios" / f"{name}.yaml"
    assert main(["simulate", str(path)]) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return {c["case_id"]: c for c in out["cases"]} | {"errors": out["errors"]}


def test_simulated_rulings_order_each_outcome_km8(capsys: pytest.CaptureFixture[str]) -> None:
    cases = simulated("kilimall-ruling-outcomes", capsys)
    outcomes = {
        cid: next(e["outcome"] for e in cases[cid]["events"] if e["type"] == "Arbitrated")
        for cid in ("R1", "R2", "R3", "R4")
    }
    assert outcomes == {"R1": "return_then_refund", "R2": "repair", "R3": "partial_refund",
                        "R4": "replacement"}  # fmt: skip
    assert [cases[c]["state"] for c in ("R1", "R2", "R3", "R4")] == [
        "refunded", "completed", "refunded", "closed",
    ]  # fmt: skip


def test_simulated_offer_and_return_address_km7_ks5(capsys: pytest.CaptureFixture[str]) -> None:
    cases = simulated("kuaishou-partial-refund-offer", capsys)
    p1 = [e["type"] for e in cases["P1"]["events"]]
    assert p1[-3:] == ["PartialRefundProposed", "PartialRefundAccepted", "Refunded"]
    shipped = next(e for e in cases["P2"]["events"] if e["type"] == "ShippedBack")
    assert shipped["return_address"].startswith("Returns desk")
    (error,) = cases["errors"]
    assert "[KS-5]" in error["message"] and error["command"] == "ship_back"


# ----------------------------------------------------------------- HTTP
@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build(tmp_path / "http.db")


def test_new_commands_over_http_ks5_km6_km7(world: World) -> None:
    post = world.client.post
    r = post("/cases/C1/approve", json={"return_address": DOCK}, headers=world.as_("seller"))
    assert r.status_code == 200
    bill = {"carrier": "SF", "tracking_number": "SF1", "return_address": DOCK}
    assert post("/cases/C1/ship_back", json=bill, headers=world.as_("buyer")).status_code == 200
    offer = {"amount": "70.00", "reason": "scuffed"}
    denied = post("/cases/C1/propose_partial_refund", json=offer, headers=world.as_("buyer"))
    assert denied.status_code == 403
    r = post("/cases/C1/propose_partial_refund", json=offer, headers=world.as_("seller"))
    assert r.status_code == 200 and r.json()["state"] == "received"
    assert r.json()["allowed"] == ["escalate"]  # the seller's; the buyer may now accept
    r = post("/cases/C1/accept_partial_refund", json={}, headers=world.as_("buyer"))
    assert r.status_code == 200 and r.json()["state"] == "refunded"
