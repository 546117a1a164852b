"""The audit: re-derive every case and the whole ledger from the events alone,
and compare them with the stored read models.

The event log is streamed in large pages (not one ``repository.get`` per
case); what each case's events imply is kept in a private temporary SQLite
file, not in Python memory, so memory stays flat however many cases there
are. The derived rows and the read models are then merged in case order, a
page at a time. Everything printed is sorted and carries no wall-clock time,
so two runs on one store print the same bytes whatever ``TZ`` or
``PYTHONHASHSEED`` say.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from . import events as ev
from .chain import paged
from .projections import CASES, DEADLINES, DEDUCTIONS, EVENTS_TOPIC, PROJECTOR, TRACKING, utc_key
from .sqlstore import Cursor

if TYPE_CHECKING:
    from .application import AfterSales

PAGE = 2000
#: Read-model columns compared for each case, in table order.
CASE_FIELDS = (
    "case_id",
    "order_id",
    "seller_id",
    "platform",
    "kind",
    "state",
    "amount",
    "refunded_total",
    "currency",
    "version",
    "applied_at",
    "updated_at",
)
DEDUCTION_FIELDS = ("case_id", "seller_id", "reason", "amount", "currency", "at_utc", "at", "rule")
Progress = Callable[[int, int], None]


@dataclass
class Report:
    """The audit's result; ``mismatches`` is empty on a consistent store."""

    position: int = 0
    events: int = 0
    case_events: int = 0
    cases: int = 0
    deductions: int = 0
    refunded: dict[str, Decimal] = field(default_factory=dict)
    deducted: dict[str, Decimal] = field(default_factory=dict)
    mismatches: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Plain, sorted data for JSON output."""
        return {
            "position": self.position,
            "events": self.events,
            "case_events": self.case_events,
            "cases": self.cases,
            "deductions": self.deductions,
            "refunded": {c: f"{v:f}" for c, v in sorted(self.refunded.items())},
            "deducted": {c: f"{v:f}" for c, v in sorted(self.deducted.items())},
            "mismatches": sorted(
                self.mismatches, key=lambda m: json.dumps(m, sort_keys=True, default=str)
            ),
        }


_SCRATCH = (
    "CREATE TABLE cases (case_uuid TEXT PRIMARY KEY, case_id TEXT, order_id TEXT,"
    " seller_id TEXT, platform TEXT, kind TEXT, state TEXT, amount TEXT, refunded_total TEXT,"
    " currency TEXT, version INTEGER, applied_at TEXT, updated_at TEXT, deadlines TEXT)",
    "CREATE TABLE deductions (case_uuid TEXT, version INTEGER, seller_id TEXT, reason TEXT,"
    " amount TEXT, currency TEXT, at_utc TEXT, at TEXT, rule TEXT,"
    " PRIMARY KEY (case_uuid, version))",
)
# Later events only change what they carry; COALESCE keeps the rest.
_UPSERT = (
    "INSERT INTO cases VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (case_uuid) DO UPDATE SET"
    " case_id = COALESCE(excluded.case_id, case_id), order_id = COALESCE(excluded.order_id,"
    " order_id), seller_id = COALESCE(excluded.seller_id, seller_id), platform ="
    " COALESCE(excluded.platform, platform), kind = COALESCE(excluded.kind, kind),"
    " state = excluded.state, amount = COALESCE(excluded.amount, amount), refunded_total ="
    " COALESCE(excluded.refunded_total, refunded_total), currency = COALESCE(excluded.currency,"
    " currency), version = excluded.version, applied_at = COALESCE(excluded.applied_at,"
    " applied_at), updated_at = excluded.updated_at, deadlines = excluded.deadlines"
)


def deadline_key(deadlines: list[dict[str, Any]]) -> str:
    """A case's pending deadlines as one canonical string (name, due, action, rule)."""
    rows = sorted(
        (d["name"], utc_key(d["due"]), d["due"].isoformat(), d["action"], d["rule"])
        for d in deadlines
    )
    return json.dumps(rows, separators=(",", ":"))


def _derive(e: ev.CaseEvent) -> dict[str, Any]:
    """The case columns an event sets (the others stay None: unchanged)."""
    row: dict[str, Any] = dict.fromkeys(CASE_FIELDS)
    if isinstance(e, ev.Applied):
        row.update(case_id=e.case_id, order_id=e.order_id, seller_id=e.seller_id)
        row.update(platform=e.platform, currency=e.currency, applied_at=utc_key(e.at))
        row.update(refunded_total=str(e.amount - e.amount))
    if isinstance(e, (ev.Applied, ev.ProposalAccepted)):
        row.update(kind=e.kind, amount=str(e.amount))  # a plan in force replaces the ask
    if isinstance(e, ev.Refunded):
        row["refunded_total"] = str(e.refunded_total)
    row.update(state=e.state, version=e.originator_version, updated_at=utc_key(e.at))
    return row


def _deduction(e: ev.DeductionRecorded) -> tuple[Any, ...]:
    at = e.at
    amount = str(e.amount)
    return (str(e.originator_id), e.originator_version, e.seller_id, e.reason, amount,
            e.currency, utc_key(at), at.isoformat(), e.rule)  # fmt: skip


def _replay(
    app: AfterSales, db: sqlite3.Connection, stop: int, progress: Progress | None, report: Report
) -> None:
    """Stream the log up to ``stop`` and derive every case and deduction into ``db``.

    Within a page a case's events are folded first, so each case is written
    (and its deadlines encoded) once per page, not once per event.
    """
    start = 1
    while start <= stop:
        notes = app.recorder.select_notifications(start, PAGE, stop=stop)
        if not notes:
            break
        folded: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        deductions = []
        for note in notes:
            report.events += 1
            if not note.topic.startswith(EVENTS_TOPIC):
                continue
            e = app.mapper.to_domain_event(note)
            if not isinstance(e, ev.CaseEvent):
                continue
            report.case_events += 1
            key, row = str(e.originator_id), _derive(e)
            if key in folded:
                row = {k: v if v is not None else folded[key][0][k] for k, v in row.items()}
            folded[key] = (row, e.deadlines)
            if isinstance(e, ev.DeductionRecorded):
                deductions.append(_deduction(e))
        cases = [(k, *row.values(), deadline_key(dl)) for k, (row, dl) in folded.items()]
        db.executemany(_UPSERT, cases)
        db.executemany("INSERT OR REPLACE INTO deductions VALUES (?,?,?,?,?,?,?,?,?)", deductions)
        start = notes[-1].id + 1
        if progress is not None:
            progress(min(start - 1, stop), stop)


def _scratch(db: sqlite3.Connection, sql: str) -> Iterator[tuple[Any, ...]]:
    yield from db.execute(sql)


def _merge(
    derived: Iterator[tuple[Any, ...]], stored: Iterator[tuple[Any, ...]], width: int
) -> Iterator[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]]:
    """Pairs (derived, stored) with equal keys; None where one side has no row."""
    d, s = next(derived, None), next(stored, None)
    while d is not None or s is not None:
        dk = d[:width] if d is not None else None
        sk = s[:width] if s is not None else None
        if sk is None or (dk is not None and dk < sk):
            yield d, None
            d = next(derived, None)
        elif dk is None or sk < dk:
            yield None, s
            s = next(stored, None)
        else:
            yield d, s
            d, s = next(derived, None), next(stored, None)


def _grouped_deadlines(rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
    """Deadline rows (case_uuid, name, due_utc, due, action, rule) -> (case_uuid, key)."""
    current: str | None = None
    group: list[list[Any]] = []
    for r in rows:
        if r[0] != current and current is not None:
            yield current, json.dumps(sorted(group), separators=(",", ":"))
            group = []
        current = r[0]
        group.append([str(x) for x in r[1:]])
    if current is not None:
        yield current, json.dumps(sorted(group), separators=(",", ":"))


def _differ(a: Any, b: Any) -> bool:
    return (a is None) != (b is None) or (a is not None and str(a) != str(b))


def _compare(
    report: Report,
    table: str,
    pairs: Iterator[Any],
    fields: tuple[str, ...],
    width: int,
    label: Callable[[tuple[Any, ...]], str],
) -> None:
    for d, s in pairs:
        row = d if d is not None else s
        assert row is not None
        where: dict[str, Any] = {
            "table": table,
            "case_id": label(row) or "",
            "case_uuid": str(row[0]),
        }
        if width == 2:
            where["version"] = int(row[1])
        if d is None or s is None:
            where.update(
                field="row",
                events="present" if d else "missing",
                read_model="present" if s else "missing",
            )
            report.mismatches.append(where)
            continue
        for i, name in enumerate(fields, start=width):
            if _differ(d[i], s[i]):
                report.mismatches.append(
                    {**where, "field": name, "events": d[i], "read_model": s[i]}
                )


def audit(app: AfterSales, progress: Progress | None = None) -> Report:
    """Re-derive every case, deadline and deduction from the events and compare.

    The read models are first brought up to date. The comparison then reads
    them, and the projector's position, in one snapshot (one read transaction,
    repeatable-read on PostgreSQL), and replays the log up to that position:
    writers carrying on meanwhile do not show up as mismatches.
    """
    app.projector.catch_up()
    db = sqlite3.connect("")  # a private temporary file: memory stays flat
    try:
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        for stmt in _SCRATCH:
            db.execute(stmt)
        with app.sql.read() as cur:
            if app.sql.dialect == "postgres":
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cur.execute(f"SELECT position FROM {TRACKING} WHERE name = ?", (PROJECTOR,))
            report = Report(position=int(cur.fetchone()[0]))
            _replay(app, db, report.position, progress, report)
            _check_all(app, cur, db, report)
    finally:
        db.close()
    return report


def _check_all(app: AfterSales, cur: Cursor, db: sqlite3.Connection, report: Report) -> None:
    cols = ", ".join(CASE_FIELDS)
    derived = _scratch(db, f"SELECT case_uuid, {cols} FROM cases ORDER BY case_uuid")
    stored = paged(cur, f"SELECT case_uuid AS k0, {cols} FROM {CASES}", (), 1)
    _compare(report, "cases", _merge(derived, stored, 1), CASE_FIELDS, 1, lambda r: r[1])

    dcols = ", ".join(DEDUCTION_FIELDS)
    derived = _scratch(
        db,
        "SELECT d.case_uuid, d.version, c.case_id, d.seller_id, d.reason, d.amount, d.currency,"
        " d.at_utc, d.at, d.rule FROM deductions d LEFT JOIN cases c USING (case_uuid)"
        " ORDER BY d.case_uuid, d.version",
    )
    stored = paged(cur, f"SELECT case_uuid AS k0, version AS k1, {dcols} FROM {DEDUCTIONS}", (), 2)
    _compare(report, "deductions", _merge(derived, stored, 2), DEDUCTION_FIELDS, 2, lambda r: r[2])

    derived = _scratch(
        db, "SELECT case_uuid, deadlines FROM cases WHERE deadlines != '[]' ORDER BY case_uuid"
    )
    stored = _grouped_deadlines(
        paged(
            cur,
            f"SELECT case_uuid AS k0, name AS k1, due_utc, due, action, rule FROM {DEADLINES}",
            (),
            2,
        )
    )
    _compare(
        report,
        "deadlines",
        _merge(derived, stored, 1),
        ("deadlines",),
        1,
        lambda r: _label(db, r[0]),
    )

    for currency, total, n in db.execute(
        "SELECT currency, refunded_total, 1 FROM cases ORDER BY case_uuid"
    ):
        report.cases += n
        if currency is not None and total is not None:
            report.refunded[currency] = report.refunded.get(currency, Decimal(0)) + Decimal(total)
    for currency, amount in db.execute("SELECT currency, amount FROM deductions"):
        report.deductions += 1
        report.deducted[currency] = report.deducted.get(currency, Decimal(0)) + Decimal(amount)


def _label(db: sqlite3.Connection, key: str) -> str:
    row = db.execute("SELECT case_id FROM cases WHERE case_uuid = ?", (key,)).fetchone()
    return str(row[0]) if row and row[0] else ""
