"""SQL beside the event store: one small adapter over SQLite and PostgreSQL.

The read models (case list, deadline index, deduction ledger) live in the
same database as the events. Statements are written once with ``?``
placeholders; this adapter runs them on the event store's own connection
pool so that a read-model update and its tracking position commit together.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol


class Cursor(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...
    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...
    def fetchall(self) -> list[Any]: ...
    def fetchone(self) -> Any: ...


class _PgCursor:
    def __init__(self, cur: Any) -> None:
        self._cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._cur.execute(sql.replace("?", "%s"), tuple(params))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._cur.executemany(sql.replace("?", "%s"), [tuple(r) for r in rows])

    def fetchall(self) -> list[Any]:
        return list(self._cur.fetchall())

    def fetchone(self) -> Any:
        return self._cur.fetchone()


class SqlStore:
    """Runs read-model SQL on the event store's database."""

    def __init__(self, datastore: Any, dialect: str) -> None:
        self.datastore = datastore
        self.dialect = dialect  # "sqlite" or "postgres"

    @contextmanager
    def write(self) -> Iterator[Cursor]:
        """One write transaction. On SQLite it takes the write lock up front
        (``BEGIN IMMEDIATE``) so that two processes never deadlock upgrading."""
        if self.dialect == "postgres":
            with self.datastore.transaction(commit=True) as cur:
                yield _PgCursor(cur)
            return
        with self.datastore.get_connection(commit=True) as conn:
            raw: sqlite3.Connection = conn._sqlite_conn
            cur = raw.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                raw.rollback()
                raise
            else:
                raw.commit()
            finally:
                cur.close()

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        """A read-only transaction."""
        if self.dialect == "postgres":
            with self.datastore.transaction(commit=False) as cur:
                yield _PgCursor(cur)
            return
        with self.datastore.transaction(commit=False) as cur:
            yield cur.sqlite_cursor

    def script(self, statements: Sequence[str]) -> None:
        """Run DDL statements (idempotent ``CREATE ... IF NOT EXISTS``)."""
        with self.write() as cur:
            for stmt in statements:
                cur.execute(stmt)
