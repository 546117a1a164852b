"""Every query on the read models: the case list, the deadline index (due
rows, worker claims, the backlog), the deduction ledger.

:class:`ReadModels` owns the projector that keeps the tables and every SQL
statement that reads them; each query first brings the projector up to
date with the event log, so it sees every command that returned before it.
It is the :class:`~aftersales_es.app.ports.DeadlineIndex` the service and
its workers sweep.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from eventsourcing.persistence import ApplicationRecorder

from aftersales_es.adapters.sql import SqlStore, retry_busy, where
from aftersales_es.domain.errors import InvalidInputError
from aftersales_es.readmodels import ledger
from aftersales_es.readmodels.projector import CASE_FIELDS, CASES, DEADLINES, Projector, utc_key

#: A case as :meth:`ReadModels.cases` lists it.
CASE_COLUMNS = tuple(c for c in CASE_FIELDS if c not in ("seller_id", "applied_at", "updated_at"))
DEDUCTION_COLUMNS = ("seller_id", "case_id", "reason", "amount", "currency", "at", "rule")
#: A deadline as :meth:`ReadModels.deadlines` lists it.
DEADLINE_COLUMNS = ("case_id", "name", "due", "action", "rule")
#: Every indexed deadline keyed (k0, k1) by case and name, for a keyset-paged
#: comparison with the deadlines derived from the events (the audit).
DEADLINES_BY_CASE = (
    f"SELECT case_uuid AS k0, name AS k1, due_utc, due, action, rule FROM {DEADLINES}"
)
_DUE = (
    f"SELECT case_id, name, due FROM {DEADLINES} WHERE due_utc <= ?"
    " ORDER BY due_utc, case_id, name LIMIT ?"
)
Row = tuple[str, str, datetime]


def _rows(raw: list[Any]) -> list[Row]:
    return [(r[0], r[1], datetime.fromisoformat(r[2])) for r in raw]


class ReadModels:
    """The read models of one store: kept by :attr:`projector`, read here."""

    def __init__(
        self, sql: SqlStore, recorder: ApplicationRecorder, decode: Callable[[Any], Any]
    ) -> None:
        self.sql = sql
        self.recorder = recorder
        self.projector = Projector(
            sql,
            lambda start, limit: recorder.select_notifications(start=start, limit=limit),
            decode,
        )

    def catch_up(self) -> int:
        """Project the events not yet projected; how many."""
        return self.projector.catch_up()

    # ------------------------------------------------------- deadline index
    def due(self, now: datetime, limit: int = 100) -> list[Row]:
        """Deadlines due at ``now`` (case id, name, due), earliest first.

        ``now`` must carry a timezone: read as local time, a naive instant
        would fire different deadlines on machines in different zones.
        """
        if now.tzinfo is None:
            raise InvalidInputError("now: needs a timezone (e.g. 2026-05-10T20:00:00+08:00)")
        self.projector.catch_up()
        with self.sql.read() as cur:
            cur.execute(_DUE, (utc_key(now), limit))
            return _rows(cur.fetchall())

    @contextmanager
    def claim(self, now: datetime, limit: int, lease: int) -> Iterator[list[Row]]:
        """Due rows a worker fires while the context is open (no catch-up first).

        PostgreSQL locks them (``FOR UPDATE SKIP LOCKED``: other workers skip
        them) in a transaction that lapses after ``lease`` idle seconds (a
        hung worker). SQLite locks no rows: its workers take a file lock.
        """
        params = (utc_key(now), limit)
        if self.sql.dialect != "postgres":
            with self.sql.read() as cur:
                cur.execute(_DUE, params)
                rows = _rows(cur.fetchall())
            yield rows
            return
        with self.sql.write() as cur:
            # The claim's connection idles while the batch fires on others.
            cur.execute(f"SET LOCAL idle_in_transaction_session_timeout = {int(lease)}000")
            cur.execute(_DUE + " FOR UPDATE SKIP LOCKED", params)
            yield _rows(cur.fetchall())

    def deadlines(self, before: datetime | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Pending deadlines (due by ``before`` if given), earliest first."""
        retry_busy(self.projector.catch_up)
        sql = f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM {DEADLINES}"
        params: list[Any] = []
        if before is not None:
            sql += " WHERE due_utc <= ?"
            params.append(utc_key(before))
        params.append(limit)
        with self.sql.read() as cur:
            cur.execute(sql + " ORDER BY due_utc, case_id, name LIMIT ?", params)
            return [dict(zip(DEADLINE_COLUMNS, tuple(r), strict=True)) for r in cur.fetchall()]

    def backlog(self, now: datetime) -> dict[str, Any]:
        """What the workers face at ``now``: pending and due counts, oldest overdue."""
        retry_busy(self.projector.catch_up)
        with self.sql.read() as cur:
            cur.execute(f"SELECT COUNT(*) FROM {DEADLINES}")
            pending = int(cur.fetchone()[0])
            cur.execute(f"SELECT COUNT(*) FROM {DEADLINES} WHERE due_utc <= ?", (utc_key(now),))
            due_now = int(cur.fetchone()[0])
            cur.execute(
                f"SELECT {', '.join(DEADLINE_COLUMNS)} FROM {DEADLINES}"
                " ORDER BY due_utc, case_id, name LIMIT 1"
            )
            first = cur.fetchone()
        oldest: dict[str, Any] | None = None
        next_due: dict[str, Any] | None = None
        if first is not None:
            row = dict(zip(DEADLINE_COLUMNS, tuple(first), strict=True))
            due = datetime.fromisoformat(row["due"])
            if due <= now:
                oldest = {**row, "overdue_seconds": round((now - due).total_seconds(), 3)}
            else:
                next_due = row
        return {
            "now": now.isoformat(),
            "pending": pending,
            "due_now": due_now,
            "oldest_overdue": oldest,
            "next_due": next_due,
            "events": int(self.recorder.max_notification_id() or 0),
            "projected": self.projector.position(),
        }

    # ------------------------------------------------------ cases, ledger
    def cases(
        self,
        state: str | None = None,
        platform: str | None = None,
        *,
        order: str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Cases from the read model in case id order, optionally by state,
        platform and order; ``after``/``limit`` page through them."""
        self.projector.catch_up()
        cond, params = where(
            (
                ("state = ?", state or None),
                ("platform = ?", platform or None),
                ("order_id = ?", order or None),
                ("case_id > ?", after),
            )
        )
        sql = f"SELECT {', '.join(CASE_COLUMNS)} FROM {CASES} WHERE 1 = 1{cond} ORDER BY case_id"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        with self.sql.read() as cur:
            cur.execute(sql, params)
            return [dict(zip(CASE_COLUMNS, tuple(r), strict=True)) for r in cur.fetchall()]

    def deductions(self, seller: str | None = None) -> list[dict[str, Any]]:
        """The seller deduction ledger (read model), in time order
        (:func:`.ledger.deductions` has more filters)."""
        rows = ledger.deductions(self, seller=seller)
        return [{k: r[k] for k in DEDUCTION_COLUMNS} for r in rows]
