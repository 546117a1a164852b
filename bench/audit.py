"""Workload 3: audit, a bulk replay that re-derives every case and the ledger.

The store holds generated histories (:data:`gen.BULK_MIX`: both platforms,
deadlines fired, disputes, warehouse fees; the newest ``OPEN_TAIL`` cases
still in progress), written fast through the domain (see
:func:`gen.bulk_cases`), with the read models caught up.

Measured: the project's ``aftersales_es.audit.audit(app)`` (re-derives
cases, deadlines and the ledger and compares them with the read models);
without that module, a log-order replay written here
(``recorder.select_notifications`` pages + ``mapper.to_domain_event``,
case aggregates kept until they end). Baseline: the same rows the audit
reads, the case events and the order events it cross-checks them with, raw
``SELECT`` by rowid in pages (the same topic filter) plus ``json.loads`` of
every payload; both sides are divided by that row count. Peak memory
(tracemalloc: what the audit allocates) on the full store is compared with a
store a tenth of its size.

For reference, a case-order replay (pages in primary-key order, every row
decoded and folded into its aggregate, one aggregate in memory at a time)
against the same raw read in key order.
"""

from __future__ import annotations

import importlib
import json
import sqlite3
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

from eventsourcing.persistence import StoredEvent

from aftersales_es.domain import events as ev
from aftersales_es.domain.case import Case
from aftersales_es.domain.statechart import TERMINAL
from aftersales_es.engine import AfterSales

from . import Config, Row, gen, median, paired, scratch, timed

PAGE = 1000
CASE_TOPIC = "aftersales_es.events:"
#: What the audit reads: the case events and the order events it reconciles
#: them with (rule-set records are a handful of rows).
AUDITED = (CASE_TOPIC, "aftersales_es.order:")
#: Cases whose flow is cut short, so that some end open whatever the size.
OPEN_TAIL = 300


@dataclass
class Audit:
    """What a replay re-derived: rows read, cases per state, the ledger."""

    rows: int = 0
    states: Counter[str] = field(default_factory=Counter)
    ledger: defaultdict[tuple[str, str, str], Decimal] = field(
        default_factory=lambda: defaultdict(Decimal)
    )
    deductions: int = 0

    def fold_case(self, case: Any) -> None:
        self.states[case.state] += 1

    def deduct(self, e: ev.DeductionRecorded) -> None:
        self.ledger[(e.seller_id, e.currency, e.reason)] += e.amount
        self.deductions += 1


def replay_case_order(app: AfterSales, page: int = PAGE) -> Audit:
    """Stream every aggregate's events in primary-key order; fold one at a time."""
    out = Audit()
    to_event = app.mapper.to_domain_event
    convert = app.recorder.convert_originator_id  # type: ignore[attr-defined]
    last: tuple[str, int] = ("", 0)
    current: Any = None
    while True:
        with app.sql.read() as cur:
            cur.execute(
                "SELECT originator_id, originator_version, topic, state FROM stored_events"
                " WHERE (originator_id, originator_version) > (?, ?)"
                " ORDER BY originator_id, originator_version LIMIT ?",
                (*last, page),
            )
            rows = cur.fetchall()
        if not rows:
            break
        for oid, version, topic, state in rows:
            e: Any = to_event(StoredEvent(convert(oid), version, topic, state))
            if version == 1:  # the previous aggregate is complete
                if isinstance(current, Case):
                    out.fold_case(current)
                current = None
            current = e.mutate(current)
            if isinstance(e, ev.DeductionRecorded):
                out.deduct(e)
        out.rows += len(rows)
        last = (rows[-1][0], rows[-1][1])
    if isinstance(current, Case):
        out.fold_case(current)
    return out


def replay_log_order(app: AfterSales, page: int = PAGE) -> Audit:
    """Stream the notification log; keep each case until it reaches an end state."""
    out = Audit()
    to_event = app.mapper.to_domain_event
    live: dict[Any, Any] = {}
    start = 1
    while True:
        notes = app.recorder.select_notifications(start, page)
        if not notes:
            break
        for note in notes:
            e: Any = to_event(note)
            if not note.topic.startswith(CASE_TOPIC):
                continue  # orders and rule sets: decoded, not kept (see module doc)
            case = e.mutate(live.pop(e.originator_id, None))
            if isinstance(e, ev.DeductionRecorded):
                out.deduct(e)
            if case.state in TERMINAL and not case.deadlines:
                out.fold_case(case)
            else:
                live[e.originator_id] = case
        out.rows += len(notes)
        start = notes[-1].id + 1
    for case in live.values():
        out.fold_case(case)
    return out


def raw_case_order(path: Path, page: int = PAGE) -> int:
    conn = sqlite3.connect(path)
    try:
        n, last = 0, ("", 0)
        while True:
            rows = conn.execute(
                "SELECT originator_id, originator_version, topic, state FROM stored_events"
                " WHERE (originator_id, originator_version) > (?, ?)"
                " ORDER BY originator_id, originator_version LIMIT ?",
                (*last, page),
            ).fetchall()
            if not rows:
                return n
            for row in rows:
                json.loads(row[3])
            n += len(rows)
            last = (rows[-1][0], rows[-1][1])
    finally:
        conn.close()


def raw_log_order(path: Path, page: int = PAGE, prefixes: tuple[str, ...] = ("",)) -> int:
    """Rows whose topic starts with one of ``prefixes``, by rowid in pages,
    each payload through ``json.loads``; returns how many."""
    where = " OR ".join("topic LIKE ?" for _ in prefixes)
    conn = sqlite3.connect(path)
    try:
        n, last = 0, 0
        while True:
            rows = conn.execute(
                "SELECT rowid, originator_id, originator_version, topic, state"
                f" FROM stored_events WHERE rowid > ? AND ({where}) ORDER BY rowid LIMIT ?",
                (last, *(p + "%" for p in prefixes), page),
            ).fetchall()
            if not rows:
                return n
            for row in rows:
                json.loads(row[4])
            n += len(rows)
            last = rows[-1][0]
    finally:
        conn.close()


def project_audit() -> Callable[[AfterSales], Any] | None:
    """The project's own audit, if it exists: ``audit(app) -> Report``."""
    try:
        module = importlib.import_module("aftersales_es.audit.check")
    except ModuleNotFoundError:
        return None
    fn = getattr(module, "audit", None)
    return fn if callable(fn) else None


def build(path: Path, n_cases: int, open_tail: int) -> int:
    """A store of ``n_cases`` generated histories, the newest ``open_tail`` of
    them still in progress; returns the case-event and the audited-row counts."""
    app = AfterSales(path)
    try:
        p = gen.plan(n_cases, mix=gen.BULK_MIX, seed=11)
        cut = n_cases - open_tail
        gen.bulk_cases(app, gen.Plan(p.orders[:cut], p.cases[:cut]))
        # The newest cases are still in progress: only their first step is done.
        gen.bulk_cases(app, gen.Plan(p.orders[cut:], p.cases[cut:]), steps=1)
        app.projector.catch_up()  # the audit compares with up-to-date read models
        with app.sql.read() as cur:
            counts = []
            for prefixes in ((CASE_TOPIC,), AUDITED):
                where = " OR ".join(f"topic LIKE '{p}%'" for p in prefixes)
                cur.execute(f"SELECT COUNT(*) FROM stored_events WHERE {where}")
                counts.append(int(cur.fetchone()[0]))
            return counts[0], counts[1]
    finally:
        app.close()


def peak(fn: Callable[[], Any]) -> float:
    """Peak bytes Python allocated while ``fn`` ran (tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return float(tracemalloc.get_traced_memory()[1])
    finally:
        tracemalloc.stop()


def run(cfg: Config) -> list[Row]:
    n = cfg.size(100_000, 2_000)
    tail = max(1, min(OPEN_TAIL, n // 20))
    small = max(tail * 2, n // 10)
    audit_fn = project_audit()
    primary_name = "aftersales_es.audit.check.audit(app)" if audit_fn else "bench log-order replay"

    def primary(app: AfterSales) -> Any:
        return audit_fn(app) if audit_fn is not None else replay_log_order(app)

    samples: dict[str, list[float]] = defaultdict(list)
    extra: dict[str, Any] = {"cases": n, "small_cases": small, "open_tail": tail}
    with scratch(cfg, "audit") as tmp:
        big, little = tmp / "big.db", tmp / "small.db"
        extra["case_events"], extra["audited_rows"] = build(big, n, tail)
        build(little, small, tail)
        app = AfterSales(big)
        try:
            extra["rows"] = app.notification_count()
            # Both sides read the same rows, the case and order events the
            # audit re-derives and reconciles, and are divided by their count.
            events = extra["audited_rows"]
            raw = partial(raw_log_order, big, prefixes=AUDITED)
            for rep in range(cfg.repeats):
                names = ["primary", "raw_log"] if rep % 2 == 0 else ["raw_log", "primary"]
                for name in names:
                    fn = partial(primary, app) if name == "primary" else raw
                    secs, result = timed(fn)
                    assert name == "primary" or result == events, (result, events)
                    samples[name].append(events / secs)
                    if name == "primary" and audit_fn is not None:
                        extra["mismatches"] = len(result.mismatches)
                        extra["report_events"] = result.events
            # The case-order replay: a reference for streaming designs, run once.
            total = extra["rows"]
            for name, ref in (
                ("case", partial(replay_case_order, app)),
                ("raw_case", partial(raw_case_order, big)),
            ):
                secs, result = timed(ref)
                samples[name].append(total / secs)
                if isinstance(result, Audit):
                    extra["deductions"] = result.deductions
                    extra["states"] = dict(result.states)
        finally:
            app.close()
        mem: dict[str, float] = {}
        for label, path in (("small", little), ("big", big)):
            app = AfterSales(path)
            try:
                mem[f"primary_{label}"] = peak(partial(primary, app))
                mem[f"case_{label}"] = peak(partial(replay_case_order, app))
            finally:
                app.close()
    extra["peak_bytes"] = mem
    sizes = f"{n:,} vs {small:,} cases"
    note = (
        f"{n:,} cases, {extra['case_events']:,} case events,"
        f" {extra['audited_rows']:,} audited rows (case + order events), {extra['rows']:,} rows"
    )
    if "mismatches" in extra:
        note += f"; mismatches reported: {extra['mismatches']}"
    return [
        Row(
            "3 audit replay",
            f"{primary_name}",
            "events/s",
            median(samples["primary"]),
            median(samples["raw_log"]),
            "raw SELECT of the case and order events by rowid in pages + json.loads",
            ">=",
            0.5,
            note=note,
            samples={k: samples[k] for k in ("primary", "raw_log")},
            ratios=paired(samples["primary"], samples["raw_log"]),
            extra=extra,
        ),
        Row(
            "3 audit replay",
            f"{primary_name} peak memory, {sizes}",
            "MB",
            mem["primary_big"] / 1e6,
            mem["primary_small"] / 1e6,
            f"same audit on {small:,} cases",
            "<=",
            1.2,
            higher_is_better=False,
            note="tracemalloc peak of what the audit allocates",
        ),
        Row(
            "3 audit replay",
            "bench case-order replay (reference, 1 run)",
            "rows/s",
            median(samples["case"]),
            median(samples["raw_case"]),
            "raw SELECT in key order + json.loads",
            "",
            None,
            note="decode every row with the app's mapper, fold each aggregate, one at a time",
        ),
        Row(
            "3 audit replay",
            f"bench case-order replay peak memory, {sizes}",
            "MB",
            mem["case_big"] / 1e6,
            mem["case_small"] / 1e6,
            f"same replay on {small:,} cases",
            "",
            None,
            higher_is_better=False,
            note="reported",
        ),
    ]
