"""SQL beside the event store: one small adapter over SQLite and PostgreSQL.

The read models (case list, deadline index, deduction ledger) live in the
same database as the events. Statements are written once with ``?``
placeholders; this adapter runs them on the event store's own connection
pool so that a read-model update and its tracking position commit together.

On PostgreSQL every transaction first sets its ``search_path`` to the
store's schema (``?schema=`` in the URL), so the read models sit beside that
schema's events and two schemas in one database never see each other's
rows. Table creation takes a transaction-scoped advisory lock, because
concurrent ``CREATE ... IF NOT EXISTS`` statements race on PostgreSQL.
On SQLite a write takes the file's write lock up front (``BEGIN IMMEDIATE``)
and waits for it up to the busy timeout.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol, TypeVar

from eventsourcing.persistence import OperationalError, PersistenceError

#: Key of the advisory lock that serialises DDL across processes (PostgreSQL).
DDL_LOCK = 0x61667465  # "afte"

T = TypeVar("T")


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


def is_busy(exc: BaseException) -> bool:
    """True for the transient lock errors that are safe to retry as a whole."""
    text = str(exc).lower()
    return (
        "database is locked" in text
        or "database table is locked" in text
        or "tuple concurrently updated" in text
        # A catalogue row: two processes created one table or type at once.
        or ("duplicate key value violates unique constraint" in text and '"pg_' in text)
    )


def where(clauses: Iterable[tuple[str, Any]]) -> tuple[str, list[Any]]:
    """``" AND <clause> AND ..."`` and its parameters, for each ``(clause, value)``
    whose value is not None: the read models' optional filters, built in one place."""
    kept = [(clause, value) for clause, value in clauses if value is not None]
    return "".join(f" AND {clause}" for clause, _ in kept), [value for _, value in kept]


def retry_busy(fn: Callable[[], T], *, tries: int = 8, wait: float = 0.05) -> T:
    """Run ``fn`` again (with backoff) while it fails on a transient lock.

    For whole operations that are safe to repeat: opening the application
    (table creation), a read, a catch-up page. Never wraps a decision.
    """
    for attempt in range(tries):
        try:
            return fn()
        except (sqlite3.OperationalError, OperationalError, PersistenceError) as exc:
            if attempt + 1 == tries or not is_busy(exc):
                raise
            time.sleep(wait * 2**attempt)
    raise AssertionError("unreachable")


def retrying(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` wrapped in :func:`retry_busy` (for table-creating factories)."""
    return lambda *args, **kwargs: retry_busy(lambda: fn(*args, **kwargs))


def create_schema(datastore: Any) -> None:
    """Create the PostgreSQL schema a store URL names (``?schema=``) if missing,
    so that, like the tables, it is made on first use."""
    schema = getattr(datastore, "schema", None)  # only PostgreSQL's datastore has one
    if schema in (None, "", "public"):
        return
    from psycopg import sql

    def run() -> None:
        with datastore.transaction(commit=True) as cur:
            cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))

    retry_busy(run)


class SqlStore:
    """Runs read-model SQL on the event store's database."""

    def __init__(self, datastore: Any, dialect: str) -> None:
        self.datastore = datastore
        self.dialect = dialect  # "sqlite" or "postgres"
        self.schema: str = getattr(datastore, "schema", "") or "public"

    @contextmanager
    def _pg(self, commit: bool) -> Iterator[Cursor]:
        from psycopg import sql
        from psycopg.rows import tuple_row

        with (
            self.datastore.get_connection() as conn,
            conn.transaction(force_rollback=not commit),
        ):
            cur = conn.cursor(row_factory=tuple_row)
            # The pool's connections are shared with eventsourcing, which
            # names its own schema; ours are unqualified, so scope them here.
            cur.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(self.schema)))
            yield _PgCursor(cur)

    @contextmanager
    def write(self) -> Iterator[Cursor]:
        """One write transaction. On SQLite it takes the write lock up front
        (``BEGIN IMMEDIATE``) so that two processes never deadlock upgrading."""
        if self.dialect == "postgres":
            with self._pg(commit=True) as cur:
                yield cur
            return
        with self.datastore.get_connection(commit=True) as conn:
            raw: sqlite3.Connection = conn._sqlite_conn
            lite = raw.cursor()
            lite.execute("BEGIN IMMEDIATE")
            try:
                yield lite  # type: ignore[misc]
            except BaseException:
                raw.rollback()
                raise
            else:
                raw.commit()
            finally:
                lite.close()

    @contextmanager
    def read(self) -> Iterator[Cursor]:
        """A read-only transaction."""
        if self.dialect == "postgres":
            with self._pg(commit=False) as cur:
                yield cur
            return
        with self.datastore.transaction(commit=False) as cur:
            yield cur.sqlite_cursor

    def script(self, statements: Sequence[str]) -> None:
        """Run DDL statements (idempotent ``CREATE ... IF NOT EXISTS``).

        Safe when several processes start at once: PostgreSQL takes an
        advisory lock first (two concurrent ``CREATE TABLE IF NOT EXISTS``
        can both pass the check and one then fails); SQLite's ``BEGIN
        IMMEDIATE`` already serialises them.
        """

        def run() -> None:
            with self.write() as cur:
                if self.dialect == "postgres":
                    cur.execute("SELECT pg_advisory_xact_lock(?)", (DDL_LOCK,))
                for stmt in statements:
                    cur.execute(stmt)

        retry_busy(run)
