"""Workload 4: the deadline sweep's cost follows the due work, not the backlog.

Both stores hold the same real cases whose review deadline (KS-1 refund
only, KS-4 return) is due, applied 20 s apart, and are caught up before the
clock starts. The backlog store also holds 1,000,000 pending deadlines due
in the next ten days, written straight into the deadline index table: they
are derived data (the index of pending deadlines) and need no case behind
them, since the sweep must never touch them. Timed: ``app.fire_due(now)``
on a fresh copy of each store, ours = with backlog, baseline = without.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.projector import DEADLINES

from . import Config, Row, copy_db, gen, median, paired, scratch, timed

SPACING = timedelta(seconds=20)
DUE_MIX = {"due_refund": 1, "due_return": 1}


def build_due(app: AfterSales, n: int, prefix: str = "") -> datetime:
    """``n`` cases whose review deadline is due; return the sweep's ``now``."""
    p = gen.plan(n, mix=DUE_MIX, spacing=SPACING, prefix=prefix)
    gen.bulk_cases(app, p)
    app.projector.catch_up()
    with app.sql.read() as cur:
        cur.execute(f"SELECT MAX(due_utc), COUNT(*) FROM {DEADLINES}")
        last, count = cur.fetchone()
    assert count >= n, (count, n)
    return datetime.fromisoformat(last.replace("Z", "+00:00")) + timedelta(minutes=1)


def fill_backlog(app: AfterSales, n: int, now: datetime) -> None:
    """``n`` index rows due between ``now`` + 1 h and about ``now`` + 11 days."""
    with app.sql.write() as cur:
        cur.execute(f"SELECT * FROM {DEADLINES} LIMIT 1")
        template = cur.fetchone()
        raw: Any = getattr(cur, "_cur", cur)
        columns = [d[0] for d in raw.description]
    start = int((now + timedelta(hours=1)).astimezone(UTC).timestamp())
    step = max(1, 10 * 86400 // n)
    pg = app.sql.dialect == "postgres"

    def stamp(suffix: str) -> str:
        if pg:
            return (
                f"to_char(to_timestamp({start} + i * {step}) AT TIME ZONE 'UTC',"
                f" 'YYYY-MM-DD\"T\"HH24:MI:SS') || '{suffix}'"
            )
        return f"strftime('%Y-%m-%dT%H:%M:%S', {start} + i * {step}, 'unixepoch') || '{suffix}'"

    exprs: list[str] = []
    params: list[Any] = []
    for col, value in zip(columns, tuple(template), strict=True):
        if col == "case_uuid":
            exprs.append("'backlog-' || i")
        elif col == "case_id":
            exprs.append("'BL' || i")
        elif col == "due_utc":
            exprs.append(stamp(".000000Z"))
        elif col == "due":
            exprs.append(stamp("+00:00"))
        else:
            exprs.append("?")
            params.append(value)
    source = (
        f"generate_series(0, {n - 1}) AS s(i)"
        if pg
        else f"(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < {n - 1})"
        " SELECT i FROM s)"
    )
    sql = f"INSERT INTO {DEADLINES} ({', '.join(columns)}) SELECT {', '.join(exprs)} FROM {source}"
    with app.sql.write() as cur:
        cur.execute(sql, params)


def pending_count(app: AfterSales) -> int:
    with app.sql.read() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {DEADLINES}")
        return int(cur.fetchone()[0])


def build(tmp: Path, due: int, backlog: int) -> tuple[Path, Path, datetime, int]:
    base, big = tmp / "due.db", tmp / "backlog.db"
    app = AfterSales(base)
    try:
        now = build_due(app, due)
    finally:
        app.close()
    copy_db(base, big)
    app = AfterSales(big)
    try:
        fill_backlog(app, backlog, now)
        pending = pending_count(app)
    finally:
        app.close()
    return base, big, now, pending


def sweep_once(path: Path, now: datetime, expect: int) -> float:
    app = AfterSales(path)
    try:
        secs, fired = timed(lambda: app.fire_due(now))
        assert len(fired) == expect, (len(fired), expect)
        return float(secs)
    finally:
        app.close()


def run(cfg: Config) -> list[Row]:
    due = cfg.size(10_000, 200)
    backlog = cfg.size(1_000_000, 20_000)
    samples: dict[str, list[float]] = {"backlog": [], "alone": []}
    with scratch(cfg, "sweep") as tmp:
        base, big, now, pending = build(tmp, due, backlog)
        for rep in range(cfg.repeats):
            order = ["backlog", "alone"] if rep % 2 == 0 else ["alone", "backlog"]
            for name in order:
                src = big if name == "backlog" else base
                run_path = copy_db(src, tmp / f"run-{name}.db")
                samples[name].append(sweep_once(run_path, now, due))
                run_path.unlink()
    return [
        Row(
            "4 deadline sweep",
            f"{due} due, {backlog} pending vs none",
            "s",
            median(samples["backlog"]),
            median(samples["alone"]),
            f"{due} due, nothing else pending",
            "<=",
            1.2,
            higher_is_better=False,
            note=(
                f"fire_due(now) fired {due} real cases; the {backlog} not-due rows were written"
                " directly into the deadline index (derived data)"
            ),
            samples=samples,
            ratios=paired(samples["backlog"], samples["alone"]),
            extra={
                "due": due,
                "backlog": backlog,
                "pending_before": pending,
                "per_fire_ms": 1000 * median(samples["alone"]) / due,
            },
        )
    ]
