"""The benchmark suite runs and reports complete, consistent rows.

Shapes only, at tiny sizes: every workload returns rows naming ours, the
baseline, a ratio and a target where it has one, and each row's verdict is
what its own figures say (the ratio is ours / baseline, or the median of its
side-by-side ratios; passed is the ratio against the target). Timings are
never asserted (the figures come from ``make bench`` on a quiet machine).
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest
from bench import Config, Row, audit, commands, load, simulate, startup, sweep
from bench import __main__ as bench_main
from bench import http as http_bench

TINY = 0.05  # of the quick sizes: 50 commands, 100 audited cases, 10 due deadlines


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    return Config(quick=True, repeats=1, scale=TINY, workdir=tmp_path)


def assert_row_shape(row: Row, *, targeted: bool) -> None:
    assert row.workload and row.metric and row.unit and row.baseline_name
    assert math.isfinite(row.ours) and row.ours > 0
    assert row.baseline is not None and math.isfinite(row.baseline) and row.baseline > 0
    assert row.ratio is not None and math.isfinite(row.ratio)
    expected = statistics.median(row.ratios) if row.ratios else row.ours / row.baseline
    assert row.ratio == pytest.approx(expected)
    if targeted:
        assert row.op in (">=", "<=") and row.target is not None
        # The verdict must follow from the row's own figures, whichever way it went.
        holds = row.ratio >= row.target if row.op == ">=" else row.ratio <= row.target
        assert row.passed is holds
    else:
        assert row.passed is None and row.target is None
    d = row.as_dict()
    assert {"workload", "metric", "ours", "baseline", "ratio", "target", "passed"} <= set(d)
    json.dumps(d)  # results.json must be able to hold it


@pytest.mark.parametrize(
    ("module", "rows", "targets"),
    [
        (commands, 2, 1),  # vs bare eventsourcing; vs raw sqlite3 reported (the physical limit)
        (load, 3, 2),  # 10-event cold load; 1,000-event vs 10-event; 1,049 reported
        (audit, 4, 2),  # events/s and peak memory targeted; case-order reference
        (sweep, 1, 1),
        (simulate, 1, 1),
        (http_bench, 2, 2),  # distinct and shared cases, over HTTP vs the Python API
        (startup, 3, 2),  # --help, show and show by replay, against python -c pass
    ],
    ids=lambda v: getattr(v, "__name__", str(v)).rsplit(".", 1)[-1],
)
def test_workload_at_tiny_size_reports_ours_baseline_ratio_and_target(
    cfg: Config, module: object, rows: int, targets: int
) -> None:
    got: list[Row] = module.run(cfg)  # type: ignore[attr-defined]
    assert len(got) == rows
    assert sum(1 for r in got if r.op) == targets
    for r in got:
        assert_row_shape(r, targeted=bool(r.op))


def test_sweep_at_tiny_size_fires_every_due_deadline_once(cfg: Config) -> None:
    (row,) = sweep.run(cfg)
    assert row.extra["pending_before"] == row.extra["due"] + row.extra["backlog"]


def test_main_quick_only_writes_results_json_without_judging_timings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "results.json"
    args = ["--quick", "--only", "load", "--scale", str(TINY), "--out", str(out)]
    code = bench_main.main([*args, "--workdir", str(tmp_path), "--check"])
    assert code == 0  # quick mode never fails on timings, even with --check
    printed = capsys.readouterr().out
    for column in ("workload", "ours", "baseline", "ratio", "target", "result"):
        assert column in printed
    data = json.loads(out.read_text())
    assert data["mode"] == "quick" and data["errors"] == {}
    assert [r["workload"] for r in data["rows"]] == ["2 load case"] * 3
    assert all(r["ratio"] is not None for r in data["rows"])


@pytest.mark.parametrize(
    ("op", "target", "ours", "baseline", "passed"),
    [(">=", 0.5, 4.0, 10.0, False), (">=", 0.5, 6.0, 10.0, True),
     ("<=", 2.0, 30.0, 10.0, False), ("<=", 2.0, 15.0, 10.0, True),
     ("", None, 1.0, 10.0, None)],
)  # fmt: skip
def test_row_verdict_follows_ratio_and_target(
    op: str, target: float | None, ours: float, baseline: float, passed: bool | None
) -> None:
    """Given a row's figures, its ratio and verdict are computed, and can say it failed."""
    row = Row("w", "m", "u", ours, baseline, "b", op, target)
    assert row.ratio == pytest.approx(ours / baseline)
    assert row.passed is passed
    assert row.as_dict()["passed"] is passed


def test_main_unknown_workload_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench_main.main(["--quick", "--only", "nope"]) == 2
    assert "unknown workload" in capsys.readouterr().out


@pytest.mark.postgres
def test_postgres_workload_reports_baselines_partitions_and_the_sweep_ratio(cfg: Config) -> None:
    """Workload 6 at tiny size: ours against bare eventsourcing (targeted) and
    raw psycopg (reported), 1 and 2 processes, 2 processes on 2 partitions
    (targeted against 1 partition), two sweeps and the sweep/commands ratio
    (targeted)."""
    from bench import postgres

    from .stores import pg_url, require_pg

    require_pg()
    cfg.pg_url = pg_url()
    got = postgres.run(cfg)
    kinds = [r.metric.split(" ")[0].rstrip(",") for r in got]
    assert kinds == ["commands"] * 5 + ["sweep"] * 3
    assert sum(1 for r in got if r.op) == 3
    for r in got:
        assert_row_shape(r, targeted=bool(r.op))
    assert all(r.extra["lock_samples"] > 0 for r in got[2:5])
