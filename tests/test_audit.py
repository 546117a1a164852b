"""The audit: every case, deadline and deduction re-derived from the
events alone agrees with the read models on a clean store; a corrupted
read-model row is found and the command exits non-zero; the output is
byte-identical whatever the time zone or hash seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest

from aftersales_es.audit.check import audit
from aftersales_es.cli.main import main
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.projector import CASES, DEADLINES, DEDUCTIONS

from .helpers import order, t
from .test_history import PATHS, run_path
from .test_ledger import generated  # noqa: F401  (fixture)

# Accepting a plan changes the case's amount: the read model must follow it.
PLAN_PATHS = {"ks_partial_plan", "ks_offline_exchange"}


def build(app: AfterSales, paths: list[str]) -> None:
    for i, name in enumerate(paths):
        run_path(app, name, case=f"C{i}", order_id=f"O{i}")


def test_audit_of_every_path_finds_nothing(app: AfterSales) -> None:
    build(app, sorted(set(PATHS) - PLAN_PATHS))
    report = audit(app)
    assert report.mismatches == []
    assert report.cases == len(PATHS) - len(PLAN_PATHS)
    assert report.case_events == sum(len(app.case_events(f"C{i}")) for i in range(report.cases))


def test_audit_of_accepted_plans_finds_nothing_km7(app: AfterSales) -> None:
    build(app, sorted(PLAN_PATHS))
    assert audit(app).mismatches == []


def test_audit_of_generated_store_finds_nothing(generated: str) -> None:  # noqa: F811
    app = AfterSales(generated)
    try:
        report = audit(app)
    finally:
        app.close()
    assert report.mismatches == []


def test_audit_summary_counts_cases_events_and_ledger(generated: str) -> None:  # noqa: F811
    app = AfterSales(generated)
    try:
        report = audit(app)
        ledger = app.deductions()
        count = len(app.cases())
        refunded: dict[str, Decimal] = {}
        for c in app.cases():
            refunded[c["currency"]] = refunded.get(c["currency"], Decimal(0)) + Decimal(
                c["refunded_total"]
            )
    finally:
        app.close()
    assert (report.cases, report.deductions) == (count, len(ledger))
    assert report.refunded == refunded
    units = {d["currency"] for d in ledger}  # KM-5 points are a unit of their own
    assert report.deducted == {
        cur: sum(d["amount"] for d in ledger if d["currency"] == cur) for cur in units
    }


@pytest.mark.parametrize(
    ("table", "corrupt", "field"),
    [
        (CASES, "UPDATE {t} SET state = 'closed' WHERE case_id = 'C0'", "state"),
        (CASES, "UPDATE {t} SET refunded_total = '49.99' WHERE case_id = 'C0'", "refunded_total"),
        (CASES, "DELETE FROM {t} WHERE case_id = 'C1'", "row"),
        (DEDUCTIONS, "UPDATE {t} SET amount = '1.00' WHERE case_id = 'C1'", "amount"),
        (DEDUCTIONS, "DELETE FROM {t} WHERE case_id = 'C1'", "row"),
        (DEADLINES, "UPDATE {t} SET due_utc = '2030-01-01T00:00:00.000000Z'", "deadlines"),
        (DEADLINES, "DELETE FROM {t}", "row"),
    ],
)
def test_corrupted_read_model_row_is_found_and_exits_nonzero(
    store: str, table: str, corrupt: str, field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    app = AfterSales(store)
    build(app, ["ks_approved_refund", "km_seller_escalates", "ks_return_not_shipped"])
    order(app, "O3")  # an exchange pending review: its deadline row gets corrupted
    app.execute("apply", case="C3", order="O3", at=t(days=3), kind="exchange")
    app.projector.catch_up()
    for one in getattr(app, "partitions", [app]):  # the same rows, wherever they live
        with one.sql.write() as cur:
            cur.execute(corrupt.format(t=table))
    app.close()
    assert main(["--store", store, "audit", "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "mismatches: 1" in out and f" {field}:" in out


def test_forged_read_model_row_without_events_is_found(app: AfterSales) -> None:
    build(app, ["ks_approved_refund"])
    app.projector.catch_up()
    with app.sql.write() as cur:
        cur.execute(
            f"INSERT INTO {DEDUCTIONS} (case_uuid, version, case_id, seller_id, reason, amount,"
            " currency, at_utc, at, rule) VALUES ('x', 9, 'C9', 'S1', 'ruled_liable', '5.00',"
            " 'CNY', '2026-05-10T00:00:00.000000Z', '2026-05-10T08:00:00+08:00', 'KS-8')"
        )
    found = audit(app).mismatches
    assert [(m["table"], m["field"], m["events"], m["read_model"]) for m in found] == [
        ("deductions", "row", "missing", "present")
    ]


def test_cli_audit_json_and_progress_on_stderr(
    app: AfterSales, store: str, capsys: pytest.CaptureFixture[str]
) -> None:
    build(app, ["km_silent_refund"])
    app.close()
    assert main(["--store", store, "--json", "audit", "--progress"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    # KM-5: the money deduction and its points penalty (a unit of its own).
    assert (data["cases"], data["deductions"], data["deducted"]) == (
        1, 2, {"KES": "4200.00", "points": "2"},
    )  # fmt: skip
    assert "audit:" in captured.err and "audit:" not in captured.out


def _audit_in_subprocess(store: str, tz: str, seed: str, *flags: str) -> tuple[int, bytes]:
    env = {**os.environ, "TZ": tz, "PYTHONHASHSEED": seed}
    cmd = [sys.executable, "-m", "aftersales_es.cli", "--store", store, *flags, "audit"]
    done = subprocess.run(cmd, env=env, capture_output=True, timeout=300, check=False)
    assert done.returncode in (0, 1), done.stderr.decode()
    return done.returncode, done.stdout


@pytest.mark.parametrize("flags", [(), ("--json",)])
def test_audit_output_is_byte_identical_across_tz_and_hash_seed(
    generated: str,  # noqa: F811
    flags: tuple[str, ...],
) -> None:
    first = _audit_in_subprocess(generated, "Asia/Shanghai", "1", *flags)
    second = _audit_in_subprocess(generated, "America/Los_Angeles", "2024", *flags)
    assert first == second
    assert b"cases" in first[1] and b"deduct" in first[1]


def test_writes_during_the_audit_are_not_mismatches(app: AfterSales) -> None:
    """The audit compares one snapshot: a command and a projector catch-up that
    land mid-audit (here from its progress callback) change nothing it reports."""
    build(app, ["ks_approved_refund", "ks_return_not_shipped"])
    order(app, "O9")
    app.execute("apply", case="C9", order="O9", at=t(days=3), kind="refund_only", amount="5.00")

    def write_meanwhile(done: int, total: int) -> None:
        if app.get_case("C9").state == "refunded":
            return  # written once (a store of partitions reports progress per partition)
        app.execute("approve", case="C9", at=t(days=3, hours=1))
        app.projector.catch_up()

    report = audit(app, progress=write_meanwhile)
    assert report.mismatches == []
    assert app.get_case("C9").state == "refunded"
    assert audit(app).mismatches == []
