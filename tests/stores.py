"""Where the suite's stores live: a SQLite file, and a PostgreSQL schema.

Every test that takes the ``store`` fixture runs on both. PostgreSQL is the
server at ``$AFTERSALES_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/test``); each test gets a fresh schema
of its own (``?schema=`` in the store URL), dropped afterwards, so tests
never see each other's rows. Without a server the PostgreSQL cases are
skipped, except in CI (``CI=true``), where a missing server fails them.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

STORE_PARAMS = ["sqlite", "postgres", "postgres-3"]
#: Partitions of the ``postgres-3`` store (a schema per partition, beside the base schema).
PARTITIONS = 3
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


def pg_url() -> str:
    """The test server's URL (a database the tests may create schemas in)."""
    return os.environ.get("AFTERSALES_TEST_PG", DEFAULT_PG)


def _conninfo(url: str, dbname: str | None = None) -> str:
    u = urlparse(url)
    parts = {
        "host": u.hostname or "127.0.0.1",
        "port": str(u.port or 5432),
        "user": u.username or "postgres",
        "dbname": dbname or (u.path.lstrip("/") or "postgres"),
        "connect_timeout": "3",
    }
    if u.password:
        parts["password"] = u.password
    return " ".join(f"{k}={v}" for k, v in parts.items())


@cache
def pg_problem() -> str | None:
    """None when the server answers, else why not (checked once per run)."""
    try:
        import psycopg

        with psycopg.connect(_conninfo(pg_url())) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def require_pg() -> None:
    """Skip (fail in CI) when PostgreSQL is not reachable."""
    problem = pg_problem()
    if problem is None:
        return
    message = (
        f"PostgreSQL not reachable at {pg_url()} ({problem}); start it"
        " (README: Running on PostgreSQL) or set AFTERSALES_TEST_PG"
    )
    if os.environ.get("CI") == "true":
        pytest.fail("CI=true requires PostgreSQL: " + message, pytrace=False)
    pytest.skip(message)


def pg_admin(sql: str, dbname: str | None = None) -> None:
    """Run one statement in autocommit mode (CREATE/DROP SCHEMA or DATABASE)."""
    import psycopg

    with psycopg.connect(_conninfo(pg_url(), dbname), autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


@contextmanager
def pg_schema(partitions: int = 1) -> Iterator[str]:
    """A fresh schema in the test database (with ``partitions`` > 1: a store
    of that many partitions, each in a schema of its own); yields its store URL."""
    require_pg()
    name = f"t_{uuid.uuid4().hex[:16]}"
    pg_admin(f'CREATE SCHEMA "{name}"')
    sep = "&" if "?" in pg_url() else "?"
    extra = f"&partitions={partitions}" if partitions > 1 else ""
    try:
        yield f"{pg_url()}{sep}schema={name}{extra}"
    finally:
        for i in range(partitions if partitions > 1 else 0):
            pg_admin(f'DROP SCHEMA IF EXISTS "{name}_p{i}" CASCADE')
        pg_admin(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


@contextmanager
def pg_database(template: str | None = None) -> Iterator[str]:
    """A fresh database (a copy of ``template`` if given); yields its store URL."""
    require_pg()
    name = f"aftersales_t_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    pg_admin(f'CREATE DATABASE "{name}"{copy}')
    u = urlparse(pg_url())
    try:
        yield u._replace(path=f"/{name}", query="").geturl()
    finally:
        pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def make_store(kind: str, tmp: pytest.TempPathFactory) -> Iterator[str]:
    """A fresh, empty store location of ``kind`` for one test."""
    if kind == "sqlite":
        yield str(tmp.mktemp("store") / "aftersales.db")
        return
    if kind == "postgres":
        with pg_schema() as url:
            yield url
        return
    if kind == "postgres-3":
        with pg_schema(PARTITIONS) as url:
            yield url
        return
    raise ValueError(kind)


# ------------------------------------------------ processes on one store
# Used by the multi-process tests (workers, feed, SQLite): real interpreters
# running the CLI or a few lines of Python against the same store.

ROOT = Path(__file__).resolve().parents[1]
T_APPLY = datetime.fromisoformat("2026-05-13T20:00:00+08:00")  # 3 days after helpers.T0
AFTER_ALL = datetime.fromisoformat("2026-06-30T00:00:00+08:00")  # every deadline is due


def cli_args(store: str, *args: str) -> list[str]:
    """The ``aftersales`` command line on ``store``, as a subprocess argv."""
    return [sys.executable, "-m", "aftersales_es.cli", "--store", store, *args]


def py_args(code: str) -> list[str]:
    """``python -c code`` run from the project root (``tests`` importable)."""
    return [sys.executable, "-c", textwrap.dedent(code)]


def spawn(argv: list[str], **kw: Any) -> subprocess.Popen[str]:
    """Start a process from the project root with text pipes."""
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen(argv, cwd=ROOT, text=True, **kw)


class Lines:
    """Reads a process's stdout on a thread, so a test can wait with a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.seen: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, text: str, count: int = 1, timeout: float = 60) -> None:
        """Block until ``count`` lines containing ``text`` have been seen."""
        deadline = time.monotonic() + timeout
        while sum(text in line for line in self.seen) < count:
            line = self._queue.get(timeout=max(0.01, deadline - time.monotonic()))
            if line is None:
                raise AssertionError(f"process ended before {count} x {text!r}")
            self.seen.append(line)

    def rest(self, timeout: float = 60) -> str:
        """Everything the process printed, once it has ended (pipes closed)."""
        while (line := self._queue.get(timeout=timeout)) is not None:
            self.seen.append(line)
        self.proc.wait(timeout)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self.proc.stdout.close()
        self.err = self.proc.stderr.read()
        self.proc.stderr.close()
        assert "database is locked" not in self.err, self.err[-3000:]
        return "".join(self.seen)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[str, str]:
    """Wait for ``proc``; fail with its stderr unless it exited 0."""
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"exit {proc.returncode}: {err[-3000:]}"
    assert "database is locked" not in err, err[-3000:]
    return out, err


def kind_of(i: int) -> str:
    """Every tenth backlog case is a return (two chained deadlines, KS-4 then KS-5)."""
    return "return_refund" if i % 10 == 0 else "refund_only"


def seed_backlog(store: str, start: int, stop: int, prefix: str = "") -> None:
    """Cases ``C{prefix}{i}`` on Kuaishou orders, applied within one window,
    each with a 48 h deadline (KS-1 auto-refund or KS-4 auto-approve)."""
    from aftersales_es.engine import AfterSales

    from .helpers import order

    app = AfterSales(store)
    try:
        for i in range(start, stop):
            order(app, f"O{prefix}{i}")
            app.execute(
                "apply",
                case=f"C{prefix}{i}",
                order=f"O{prefix}{i}",
                at=T_APPLY + timedelta(seconds=7 * i),
                kind=kind_of(i),
                amount="50.00",
                reason="changed_mind",
            )
    finally:
        app.close()


def seed_in_processes(store: str, cases: int, processes: int = 2, prefix: str = "") -> None:
    """:func:`seed_backlog` split over several processes writing at once."""
    step = -(-cases // processes)
    procs = [
        spawn(
            py_args(
                f"from tests.stores import seed_backlog\n"
                f"seed_backlog({store!r}, {a}, {min(a + step, cases)}, {prefix!r})"
            )
        )
        for a in range(0, cases, step)
    ]
    for p in procs:
        finish(p, timeout=300)


def expected_events(i: int) -> list[tuple[str, str, bool, str | None]]:
    """(type, at, auto, rule) of backlog case ``i`` once every deadline fired."""
    applied = T_APPLY + timedelta(seconds=7 * i)
    due = (applied + timedelta(hours=48)).isoformat()
    head = [("Applied", applied.isoformat(), False, None)]
    if kind_of(i) == "refund_only":
        return [*head, ("Approved", due, True, "KS-1"), ("Refunded", due, True, "KS-1")]
    closed = (applied + timedelta(hours=48, days=10)).isoformat()
    return [*head, ("Approved", due, True, "KS-4"), ("Closed", closed, True, "KS-5")]


def deadline_count(cases: int) -> int:
    """How many deadlines the first ``cases`` backlog cases fire in all."""
    return sum(2 if kind_of(i) == "return_refund" else 1 for i in range(cases))


def events_by_case(store: str) -> dict[str, list[tuple[str, str, bool, str | None]]]:
    """Every case's stored events, (type, at, auto, rule), read through the feed."""
    from aftersales_es.audit.feed import iter_events
    from aftersales_es.engine import AfterSales

    app = AfterSales(store)
    try:
        out: dict[str, list[tuple[str, str, bool, str | None]]] = {}
        for _, e in iter_events(app):
            out.setdefault(e["case_id"], []).append((e["type"], e["at"], e["auto"], e["rule"]))
        return out
    finally:
        app.close()


def assert_fired_exactly_once(store: str, cases: int, prefix: str = "") -> None:
    """Then: every backlog case holds exactly its expected events (none missed,
    none twice), each deadline's events stamped with its due instant."""
    found = events_by_case(store)
    wrong = {
        f"C{prefix}{i}": found.get(f"C{prefix}{i}")
        for i in range(cases)
        if found.get(f"C{prefix}{i}") != expected_events(i)
    }
    assert not wrong, f"{len(wrong)} cases differ, e.g. {next(iter(wrong.items()))}"


def fired_lines(out: str) -> list[dict[str, Any]]:
    """The ``deadline_fired`` records of a worker's JSON-lines log."""
    records = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return [r for r in records if r.get("event") == "deadline_fired"]
