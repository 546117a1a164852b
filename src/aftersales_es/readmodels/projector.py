"""Read models kept from the event stream, exactly once, with tracking.

One projector (a :class:`.tracking.TrackingProjection`) reads the
notification log in pages and, in one transaction per page, updates the
case list, the deadline index and the deduction ledger and moves its
tracking position. Emptying the tables and catching up from 0 rebuilds them.
The queries on these tables are in :mod:`.queries`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aftersales_es.adapters.sql import Cursor
from aftersales_es.domain import events as ev
from aftersales_es.readmodels.tracking import TRACKING, TrackingProjection

__all__ = ["CASES", "DEADLINES", "DEDUCTIONS", "PROJECTOR", "TRACKING", "Projector", "utc_key"]

CASES = "aftersales_cases"
DEADLINES = "aftersales_deadlines"
DEDUCTIONS = "aftersales_deductions"
#: The ledger unit of a points penalty (a currency column value, never a currency).
POINTS = "points"
#: The case read model's columns after its key, in table order.
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
PROJECTOR = "read_models"
EVENTS_TOPIC = "aftersales_es.events:"

DDL = (
    f"CREATE TABLE IF NOT EXISTS {CASES} (case_uuid TEXT PRIMARY KEY, case_id TEXT NOT NULL,"
    " order_id TEXT NOT NULL, seller_id TEXT NOT NULL, platform TEXT NOT NULL,"
    " kind TEXT NOT NULL, state TEXT NOT NULL, amount TEXT NOT NULL,"
    " refunded_total TEXT NOT NULL, currency TEXT NOT NULL, version INTEGER NOT NULL,"
    " applied_at TEXT NOT NULL, updated_at TEXT NOT NULL)",
    f"CREATE INDEX IF NOT EXISTS {CASES}_state ON {CASES} (state, case_id)",
    f"CREATE TABLE IF NOT EXISTS {DEADLINES} (case_uuid TEXT NOT NULL, name TEXT NOT NULL,"
    " case_id TEXT NOT NULL, due_utc TEXT NOT NULL, due TEXT NOT NULL, action TEXT NOT NULL,"
    " rule TEXT NOT NULL, PRIMARY KEY (case_uuid, name))",
    f"CREATE INDEX IF NOT EXISTS {DEADLINES}_due ON {DEADLINES} (due_utc, case_id)",
    f"CREATE TABLE IF NOT EXISTS {DEDUCTIONS} (case_uuid TEXT NOT NULL, version INTEGER NOT NULL,"
    " case_id TEXT NOT NULL, seller_id TEXT NOT NULL, reason TEXT NOT NULL, amount TEXT NOT NULL,"
    " currency TEXT NOT NULL, at_utc TEXT NOT NULL, at TEXT NOT NULL, rule TEXT,"
    " PRIMARY KEY (case_uuid, version))",
    f"CREATE INDEX IF NOT EXISTS {DEDUCTIONS}_seller ON {DEDUCTIONS} (seller_id, at_utc)",
)


def utc_key(at: datetime) -> str:
    """A fixed-width UTC string: sorts as the instants do, whatever the offsets."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ledger_entry(e: Any) -> tuple[str, str, str]:
    """(reason, amount, unit) of a ledger row: a deduction as recorded; a waiver
    as its reversing entry (``<reason>_waived``, the amount negated, KM-1); a
    points penalty in the unit ``points`` (KM-5)."""
    if isinstance(e, ev.DeductionWaived):
        return f"{e.reason}_waived", str(-e.amount), e.currency
    if isinstance(e, ev.PointsDeducted):
        return e.reason, str(e.points), POINTS
    return e.reason, str(e.amount), e.currency


@dataclass
class _Page:
    """What one page of events changes in the read models, folded per case."""

    inserts: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    updates: dict[str, dict[str, Any]] = field(default_factory=dict)
    deadlines: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    deductions: list[tuple[Any, ...]] = field(default_factory=list)

    def add(self, e: Any) -> None:
        key = str(e.originator_id)
        if isinstance(e, ev.Applied):
            self.inserts[key] = (
                key,
                e.case_id,
                e.order_id,
                e.seller_id,
                e.platform,
                e.kind,
                e.state,
                str(e.amount),
                str(e.amount - e.amount),
                e.currency,
                e.originator_version,
                utc_key(e.at),
                utc_key(e.at),
            )
        row = self.updates.setdefault(key, {})
        row.update(state=e.state, version=e.originator_version, updated_at=utc_key(e.at))
        if isinstance(e, ev.ProposalAccepted):
            row["kind"] = e.kind
            row["amount"] = str(e.amount)
        elif isinstance(e, ev.Arbitrated) and e.kind:  # a ruling's remedy (KM-8)
            row["kind"] = e.kind
            row["amount"] = str(e.refund_amount)
        elif isinstance(e, ev.Refunded):
            row["refunded_total"] = str(e.refunded_total)
        elif isinstance(e, (ev.DeductionRecorded, ev.DeductionWaived, ev.PointsDeducted)):
            reason, amount, unit = ledger_entry(e)
            self.deductions.append(
                (
                    key,
                    e.originator_version,
                    e.seller_id,
                    reason,
                    amount,
                    unit,
                    utc_key(e.at),
                    e.at.isoformat(),
                    e.rule,
                )
            )
        self.deadlines[key] = e.deadlines  # those pending after the case's last event


class Projector(TrackingProjection):
    """Keeps the case list, the deadline index and the deduction ledger."""

    tracker = PROJECTOR
    tables = (CASES, DEADLINES, DEDUCTIONS)
    ddl = DDL
    topics = EVENTS_TOPIC

    def project(self, cur: Cursor, events: Sequence[Any]) -> None:
        page = _Page()
        for e in events:
            page.add(e)
        self._cases(cur, page)
        if page.deductions:
            cur.executemany(
                f"INSERT INTO {DEDUCTIONS} (case_uuid, version, case_id, seller_id, reason,"
                " amount, currency, at_utc, at, rule) SELECT ?, ?, case_id, ?, ?, ?, ?, ?, ?, ?"
                f" FROM {CASES} WHERE case_uuid = ? ON CONFLICT DO NOTHING",
                [(*d, d[0]) for d in page.deductions],
            )
        self._deadlines(cur, page.deadlines)

    @staticmethod
    def _cases(cur: Cursor, page: _Page) -> None:
        if page.inserts:
            cur.executemany(
                f"INSERT INTO {CASES} (case_uuid, case_id, order_id, seller_id, platform, kind,"
                " state, amount, refunded_total, currency, version, applied_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (case_uuid) DO NOTHING",
                list(page.inserts.values()),
            )
        # One statement per set of columns, for all the cases that change
        # them (PostgreSQL pipelines an executemany: one round trip, not one
        # per case).
        by_columns: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
        for key, row in page.updates.items():
            by_columns.setdefault(tuple(row), []).append((*row.values(), key))
        for columns, rows in by_columns.items():
            cols = ", ".join(f"{c} = ?" for c in columns)
            cur.executemany(f"UPDATE {CASES} SET {cols} WHERE case_uuid = ?", rows)

    @staticmethod
    def _deadlines(cur: Cursor, pending: dict[str, list[dict[str, Any]]]) -> None:
        if not pending:
            return
        cur.executemany(f"DELETE FROM {DEADLINES} WHERE case_uuid = ?", [(k,) for k in pending])
        rows = [
            (key, d["name"], utc_key(d["due"]), d["due"].isoformat(), d["action"], d["rule"], key)
            for key, deadlines in pending.items()
            for d in deadlines
        ]
        if rows:
            cur.executemany(
                f"INSERT INTO {DEADLINES} (case_uuid, name, case_id, due_utc, due, action,"
                f" rule) SELECT ?, ?, case_id, ?, ?, ?, ? FROM {CASES} WHERE case_uuid = ?",
                rows,
            )
