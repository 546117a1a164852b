"""The base of every tracking projection: a table kept from the event log,
exactly once, with a tracking position.

A projection reads the notification log in pages and, in one transaction per
page, writes its rows and moves its position. Two processes racing to
project the same page cannot both commit it: the position is checked under
the write lock. Emptying the tables and catching up from 0 rebuilds them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aftersales_es.adapters.sql import Cursor, SqlStore

TRACKING = "aftersales_tracking"
TRACKING_DDL = (
    f"CREATE TABLE IF NOT EXISTS {TRACKING} (name TEXT PRIMARY KEY, position BIGINT NOT NULL)"
)


class TrackingProjection:
    """A projection of the notification log with its own tracking position.

    Subclasses name their ``tracker`` row, their ``tables`` (emptied by
    :meth:`rebuild`) and their ``ddl``, and write each page in :meth:`project`.
    """

    #: The projection's row in the tracking table.
    tracker: str
    #: Its tables, in the order :meth:`rebuild` empties them.
    tables: tuple[str, ...] = ()
    #: Its ``CREATE ... IF NOT EXISTS`` statements.
    ddl: tuple[str, ...] = ()
    #: Topic prefix of the notifications it decodes (the others only move it on).
    topics = ""

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
        sql.script((TRACKING_DDL, *self.ddl))
        with sql.write() as cur:
            cur.execute(f"SELECT position FROM {TRACKING} WHERE name = ?", (self.tracker,))
            if cur.fetchone() is None:
                cur.execute(
                    f"INSERT INTO {TRACKING} (name, position) VALUES (?, 0)"
                    " ON CONFLICT (name) DO NOTHING",
                    (self.tracker,),
                )

    def position(self) -> int:
        """The id of the last notification projected."""
        with self.sql.read() as cur:
            cur.execute(f"SELECT position FROM {TRACKING} WHERE name = ?", (self.tracker,))
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
            events = [self._decode(n) for n in notes if n.topic.startswith(self.topics)]
            with self.sql.write() as cur:
                cur.execute(
                    f"SELECT position FROM {TRACKING} WHERE name = ?{lock}", (self.tracker,)
                )
                if int(cur.fetchone()[0]) != pos:
                    continue  # another process projected this page first
                self.project(cur, events)
                cur.execute(
                    f"UPDATE {TRACKING} SET position = ? WHERE name = ?",
                    (notes[-1].id, self.tracker),
                )
            done += len(notes)

    def rebuild(self) -> int:
        """Empty the projection's tables and project the whole log again."""
        with self.sql.write() as cur:
            for table in self.tables:
                cur.execute(f"DELETE FROM {table}")
            cur.execute(f"UPDATE {TRACKING} SET position = 0 WHERE name = ?", (self.tracker,))
        return self.catch_up()

    def project(self, cur: Cursor, events: Sequence[Any]) -> None:
        """Write one page of decoded events (in the page's transaction)."""
        raise NotImplementedError
