"""Queries on the read models: the case list, due deadlines, the deduction ledger.

Each first brings the tracking projector up to date with the event log, so a
query sees every command that returned before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aftersales_es.adapters.sql import SqlStore
from aftersales_es.domain.errors import InvalidInputError
from aftersales_es.readmodels import ledger
from aftersales_es.readmodels.projector import CASE_FIELDS, CASES, DEADLINES, Projector, utc_key

if TYPE_CHECKING:
    from eventsourcing.persistence import ApplicationRecorder

#: A case as :meth:`Queries.cases` lists it.
CASE_COLUMNS = tuple(c for c in CASE_FIELDS if c not in ("seller_id", "applied_at", "updated_at"))
DEDUCTION_COLUMNS = ("seller_id", "case_id", "reason", "amount", "currency", "at", "rule")


class Queries:
    """Read-model queries, mixed into the application."""

    sql: SqlStore
    projector: Projector
    recorder: ApplicationRecorder

    def due(self, now: datetime, limit: int = 100) -> list[tuple[str, str, datetime]]:
        """Deadlines due at ``now`` (case id, name, due), earliest first.

        ``now`` must carry a timezone: read as local time, a naive instant
        would fire different deadlines on machines in different zones.
        """
        if now.tzinfo is None:
            raise InvalidInputError("now: needs a timezone (e.g. 2026-05-10T20:00:00+08:00)")
        self.projector.catch_up()
        with self.sql.read() as cur:
            cur.execute(
                f"SELECT case_id, name, due FROM {DEADLINES} WHERE due_utc <= ?"
                " ORDER BY due_utc, case_id, name LIMIT ?",
                (utc_key(now), limit),
            )
            return [(r[0], r[1], datetime.fromisoformat(r[2])) for r in cur.fetchall()]

    def cases(self, state: str | None = None, platform: str | None = None) -> list[dict[str, Any]]:
        """Cases from the read model, optionally by state and platform."""
        self.projector.catch_up()
        sql = f"SELECT {', '.join(CASE_COLUMNS)} FROM {CASES} WHERE 1 = 1"
        params: list[Any] = []
        if state:
            sql += " AND state = ?"
            params.append(state)
        if platform:
            sql += " AND platform = ?"
            params.append(platform)
        with self.sql.read() as cur:
            cur.execute(sql + " ORDER BY case_id", params)
            return [dict(zip(CASE_COLUMNS, tuple(r), strict=True)) for r in cur.fetchall()]

    def deductions(self, seller: str | None = None) -> list[dict[str, Any]]:
        """The seller deduction ledger (read model), in time order
        (:func:`.ledger.deductions` has more filters)."""
        rows = ledger.deductions(self, seller=seller)
        return [{k: r[k] for k in DEDUCTION_COLUMNS} for r in rows]

    def notification_count(self) -> int:
        """How many events the store holds (tests use it to prove nothing was written)."""
        return int(self.recorder.max_notification_id() or 0)

    def iter_case_ids(self) -> Iterator[str]:
        """Every case id, in order."""
        for row in self.cases():
            yield row["case_id"]
