"""Read models kept from the event stream, exactly once, with tracking.

One projector reads the notification log in pages and, in one transaction
per page, updates the case list, the deadline index and the deduction
ledger and moves its tracking position. Two processes racing to project the
same page cannot both commit it: the position is checked under the write
lock. Dropping the tables and catching up from 0 rebuilds them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from aftersales_es.adapters.sql import Cursor, SqlStore
from aftersales_es.domain import events as ev

TRACKING = "aftersales_tracking"
CASES = "aftersales_cases"
DEADLINES = "aftersales_deadlines"
DEDUCTIONS = "aftersales_deductions"
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
    f"CREATE TABLE IF NOT EXISTS {TRACKING} (name TEXT PRIMARY KEY, position BIGINT NOT NULL)",
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


class Projector:
    """Keeps the read models up to date with the notification log."""

    def __init__(
        self,
        sql: SqlStore,
        select: Callable[[int, int], Sequence[Any]],
        decode: Callable[[Any], Any],
        page: int = 1000,
    ) -> None:
        self.sql = sql
        self._select = select
        self._decode = decode
        self.page = page
        sql.script(DDL)
        with sql.write() as cur:
            cur.execute(f"SELECT position FROM {TRACKING} WHERE name = ?", (PROJECTOR,))
            if cur.fetchone() is None:
                cur.execute(
                    f"INSERT INTO {TRACKING} (name, position) VALUES (?, 0)"
                    " ON CONFLICT (name) DO NOTHING",
                    (PROJECTOR,),
                )

    def position(self) -> int:
        with self.sql.read() as cur:
            cur.execute(f"SELECT position FROM {TRACKING} WHERE name = ?", (PROJECTOR,))
            return int(cur.fetchone()[0])

    def catch_up(self) -> int:
        """Project every notification not yet projected; return how many."""
        done = 0
        while True:
            pos = self.position()
            notes = self._select(pos + 1, self.page)
            if not notes:
                return done
            lock = " FOR UPDATE" if self.sql.dialect == "postgres" else ""
            # Decode before taking the lock: the transaction then only writes.
            events = [self._decode(n) for n in notes if n.topic.startswith(EVENTS_TOPIC)]
            with self.sql.write() as cur:
                cur.execute(f"SELECT position FROM {TRACKING} WHERE name = ?{lock}", (PROJECTOR,))
                if int(cur.fetchone()[0]) != pos:
                    continue  # another process projected this page first
                self._project(cur, events)
                cur.execute(
                    f"UPDATE {TRACKING} SET position = ? WHERE name = ?", (notes[-1].id, PROJECTOR)
                )
            done += len(notes)

    def rebuild(self) -> int:
        """Drop every read-model row and project the whole log again."""
        with self.sql.write() as cur:
            for table in (CASES, DEADLINES, DEDUCTIONS):
                cur.execute(f"DELETE FROM {table}")
            cur.execute(f"UPDATE {TRACKING} SET position = 0 WHERE name = ?", (PROJECTOR,))
        return self.catch_up()

    def _project(self, cur: Cursor, events: Sequence[Any]) -> None:
        inserts: dict[str, tuple[Any, ...]] = {}
        updates: dict[str, dict[str, Any]] = {}
        deadlines: dict[str, tuple[str, list[dict[str, Any]]]] = {}
        deductions: list[tuple[Any, ...]] = []
        for e in events:
            key = str(e.originator_id)
            if isinstance(e, ev.Applied):
                inserts[key] = (
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
                case_id = e.case_id
            else:
                case_id = deadlines[key][0] if key in deadlines else ""
            row = updates.setdefault(key, {})
            row.update(state=e.state, version=e.originator_version, updated_at=utc_key(e.at))
            if isinstance(e, ev.ProposalAccepted):
                row["kind"] = e.kind
                row["amount"] = str(e.amount)
            elif isinstance(e, ev.Refunded):
                row["refunded_total"] = str(e.refunded_total)
            elif isinstance(e, ev.DeductionRecorded):
                deductions.append(
                    (
                        key,
                        e.originator_version,
                        e.seller_id,
                        e.reason,
                        str(e.amount),
                        e.currency,
                        utc_key(e.at),
                        e.at.isoformat(),
                        e.rule,
                    )
                )
            deadlines[key] = (case_id, e.deadlines)
        if inserts:
            cur.executemany(
                f"INSERT INTO {CASES} (case_uuid, case_id, order_id, seller_id, platform, kind,"
                " state, amount, refunded_total, currency, version, applied_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (case_uuid) DO NOTHING",
                list(inserts.values()),
            )
        for key, row in updates.items():
            cols = ", ".join(f"{c} = ?" for c in row)
            cur.execute(f"UPDATE {CASES} SET {cols} WHERE case_uuid = ?", (*row.values(), key))
        if deductions:
            cur.executemany(
                f"INSERT INTO {DEDUCTIONS} (case_uuid, version, case_id, seller_id, reason,"
                " amount, currency, at_utc, at, rule) SELECT ?, ?, case_id, ?, ?, ?, ?, ?, ?, ?"
                f" FROM {CASES} WHERE case_uuid = ? ON CONFLICT DO NOTHING",
                [(*d, d[0]) for d in deductions],
            )
        for key, (_, pending) in deadlines.items():
            cur.execute(f"DELETE FROM {DEADLINES} WHERE case_uuid = ?", (key,))
            if pending:
                cur.executemany(
                    f"INSERT INTO {DEADLINES} (case_uuid, name, case_id, due_utc, due, action,"
                    f" rule) SELECT ?, ?, case_id, ?, ?, ?, ? FROM {CASES} WHERE case_uuid = ?",
                    [
                        (
                            key,
                            d["name"],
                            utc_key(d["due"]),
                            d["due"].isoformat(),
                            d["action"],
                            d["rule"],
                            key,
                        )
                        for d in pending
                    ],
                )
