"""The deadline worker: fires due deadlines, exactly once, across processes.

Each sweep catches the read models up with the log, claims a batch of due
rows from the deadline index (earliest first) and fires them through
:meth:`AfterSales.fire`, which re-checks on the case that the deadline is
still pending and saves version-checked. Exactly-once therefore rests on
the event store; claims only keep workers from doing the same work twice:

- PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` in a transaction held
  while the batch fires. Another worker skips those rows; a worker that dies
  drops its connection and PostgreSQL releases them; a hung one loses them
  after ``CLAIM_LEASE`` idle seconds. Projecting a fired case deletes its
  claimed row, so other processes' catch-ups wait for the claim: a batch
  holds it at most ``hold`` seconds, never catches up inside (it would wait
  on itself) and writes its log lines only once the claim is released (a
  slow log reader must not keep rows locked).
- SQLite: one machine, one writer: an exclusive ``flock`` beside the file.

A deadline that a fired one leads to (auto-approve at 48 h, then auto-close
ten days later) enters the index at the next catch-up; a batch ends early
when such a deadline is due before the rest of it, so one worker fires in
due order, as :meth:`AfterSales.fire_due` does in-process. The worker is not
domain code: it may read the clock (or a virtual one, for drills).
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import Any

from aftersales_es.adapters.sql import retry_busy
from aftersales_es.app.service import AfterSales, Fired
from aftersales_es.domain.base import case_uuid
from aftersales_es.domain.errors import AfterSalesError
from aftersales_es.readmodels.projector import DEADLINES, utc_key

Clock = Callable[[], datetime]
#: Seconds a claim may sit idle before PostgreSQL ends it (a hung worker).
CLAIM_LEASE = 60
Row = tuple[str, str, datetime]


def wall_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def virtual_clock(start: datetime) -> Clock:
    """A clock that starts at ``start`` and runs at wall speed (drills, tests)."""
    t0 = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)


def json_line(record: dict[str, Any]) -> None:
    """Default log sink: one JSON object per line on stdout, flushed."""
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class Worker:
    """Fires due deadlines until stopped (or once, for cron)."""

    def __init__(
        self,
        app: AfterSales,
        *,
        clock: Clock = wall_clock,
        batch: int = 25,
        hold: float = 2.0,
        log: Callable[[dict[str, Any]], None] = json_line,
        on_fired: Callable[[Fired], None] | None = None,
    ) -> None:
        self.app = app
        self.clock = clock
        self.batch = batch
        self.hold = hold  # seconds a batch may hold its claim before re-claiming
        self.log = log
        self.on_fired = on_fired
        self.ident = f"{socket.gethostname()}:{os.getpid()}"
        self.fired = 0
        self.failed = 0
        self._stop = threading.Event()

    # ------------------------------------------------------------- control
    def stop(self, *_: Any) -> None:
        """Ask the worker to stop after the case in hand (signal-handler safe)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def handle_signals(self) -> None:
        """SIGTERM and SIGINT stop the worker cleanly (main thread only)."""

        def handler(signum: int, frame: FrameType | None) -> None:
            self.stop()

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)

    def run(self, *, poll: float = 5.0, once: bool = False) -> int:
        """Sweep every ``poll`` seconds until stopped; exit status (0 = clean)."""
        self.log({"event": "worker_started", "worker": self.ident, "once": once, "poll": poll})
        while not self.stopping:
            try:
                self.sweep()
            except Exception as exc:  # the database went away: back off, go on
                if once:
                    raise
                self.log({"event": "sweep_failed", "worker": self.ident, "error": repr(exc)})
            if once:
                break
            self._stop.wait(poll)
        self.log(
            {
                "event": "worker_stopped",
                "worker": self.ident,
                "fired": self.fired,
                "failed": self.failed,
            }
        )
        return 1 if once and self.failed else 0

    # -------------------------------------------------------------- sweeps
    def sweep(self) -> int:
        """Fire every deadline due now, in due order; how many fired."""
        done = 0
        tried: set[Row] = set()
        while not self.stopping:
            retry_busy(self.app.projector.catch_up)
            now = self.clock()
            with self._deferred_log(), self._claim(now) as rows:  # logs after release
                batch = [r for r in rows if r not in tried]
                if not batch:
                    return done
                chained: datetime | None = None  # earliest deadline a fire led to
                held = time.monotonic() + self.hold
                for row in batch:
                    if self.stopping or time.monotonic() > held:
                        break  # stop, or let the projector (waiting on our rows) in
                    if chained is not None and chained < row[2]:
                        break  # re-index first: a newer deadline comes before the rest
                    tried.add(row)
                    if not self._fire(row):
                        continue
                    done += 1
                    nxt = self._next_due(row[0])
                    if nxt is not None and nxt <= now and (chained is None or nxt < chained):
                        chained = nxt
        return done

    def _fire(self, row: Row) -> bool:
        case_id, name, due = row
        try:
            fired = self.app.fire(case_id, name, due)
        except AfterSalesError as exc:  # logged; the row stays for the next sweep
            self.failed += 1
            self.log({"event": "fire_failed", "case": case_id, "deadline": name, "error": str(exc)})
            return False
        if fired is None:
            return False  # no longer pending: another worker or a command came first
        at = self.clock()
        self.fired += 1
        self.log(
            {
                "event": "deadline_fired",
                "case": case_id,
                "deadline": name,
                "rule": fired.rule,
                "due": due.isoformat(),
                "fired_at": at.isoformat(),
                "lag_seconds": round((at - due).total_seconds(), 3),
                "worker": self.ident,
            }
        )
        if self.on_fired is not None:
            self.on_fired(fired)
        return True

    @contextmanager
    def _deferred_log(self) -> Iterator[None]:
        """Hold log records while a claim is held; emit them once it is released."""
        held: list[dict[str, Any]] = []
        sink, self.log = self.log, held.append
        try:
            yield
        finally:
            self.log = sink
            for record in held:
                sink(record)

    def _next_due(self, case_id: str) -> datetime | None:
        """The earliest deadline pending after the case's latest event.

        Events carry the deadlines pending after them, so one row answers
        (cheaper than rebuilding the case)."""
        app = self.app
        last = app.recorder.select_events(case_uuid(case_id), desc=True, limit=1)
        dues = [d["due"] for d in getattr(app.mapper.to_domain_event(last[0]), "deadlines", [])]
        return min(dues) if dues else None

    @contextmanager
    def _claim(self, now: datetime) -> Iterator[list[Row]]:
        sql = (
            f"SELECT case_id, name, due FROM {DEADLINES} WHERE due_utc <= ?"
            " ORDER BY due_utc, case_id, name LIMIT ?"
        )
        params = (utc_key(now), self.batch)
        if self.app.sql.dialect == "postgres":
            with self.app.sql.write() as cur:
                # The claim's connection idles while the batch fires on others;
                # a hung worker's claim lapses after CLAIM_LEASE seconds.
                cur.execute(f"SET LOCAL idle_in_transaction_session_timeout = {CLAIM_LEASE}000")
                cur.execute(sql + " FOR UPDATE SKIP LOCKED", params)
                yield _rows(cur.fetchall())
            return
        with self._file_lock() as held:
            if not held:
                yield []
                return
            with self.app.sql.read() as cur:
                cur.execute(sql, params)
                rows = _rows(cur.fetchall())
            yield rows

    @contextmanager
    def _file_lock(self) -> Iterator[bool]:
        pool = self.app.recorder.datastore.pool  # type: ignore[attr-defined]
        if pool.is_sqlite_memory_mode:
            yield True
            return
        with open(f"{pool.db_name}.worker-lock", "a") as fh:
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if self._stop.wait(0.05):
                        yield False
                        return
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)


def _rows(raw: list[Any]) -> list[Row]:
    return [(r[0], r[1], datetime.fromisoformat(r[2])) for r in raw]


def backlog(app: AfterSales, now: datetime) -> dict[str, Any]:
    """What the workers face at ``now``: pending and due counts, oldest overdue."""
    retry_busy(app.projector.catch_up)
    with app.sql.read() as cur:
        cur.execute(f"SELECT COUNT(*) FROM {DEADLINES}")
        pending = int(cur.fetchone()[0])
        cur.execute(f"SELECT COUNT(*) FROM {DEADLINES} WHERE due_utc <= ?", (utc_key(now),))
        due_now = int(cur.fetchone()[0])
        cur.execute(
            f"SELECT case_id, name, due, action, rule FROM {DEADLINES}"
            " ORDER BY due_utc, case_id, name LIMIT 1"
        )
        first = cur.fetchone()
    oldest: dict[str, Any] | None = None
    next_due: dict[str, Any] | None = None
    if first is not None:
        keys = ("case_id", "name", "due", "action", "rule")
        row = dict(zip(keys, tuple(first), strict=True))
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
        "events": app.notification_count(),
        "projected": app.projector.position(),
    }
