"""The deadline worker: fires due deadlines, exactly once, across processes.

Each sweep (:func:`.sweep.sweep`, the loop :meth:`CaseService.fire_due` runs
too) catches the deadline index up with the log, claims a batch of due rows
(earliest first) and fires them through :meth:`CaseService.fire`, which
re-checks on the case that the deadline is still pending and saves
version-checked. Exactly-once therefore rests on the event store; claims only
keep workers from doing the same work twice:

- PostgreSQL: the index locks the claimed rows (skipping those another
  worker holds) in a transaction held while the batch fires; a worker that
  dies drops its connection and PostgreSQL releases them; a hung one loses
  them after ``CLAIM_LEASE`` idle seconds. Projecting a fired case deletes
  its claimed row, so other processes' catch-ups wait for the claim: a batch
  holds it at most ``hold`` seconds, never catches up inside (it would wait
  on itself) and writes its log lines only once the claim is released (a
  slow log reader must not keep rows locked).
- SQLite: one machine, one writer: an exclusive ``flock`` beside the file.

The process around it (signals, the poll loop, JSON log lines) is
:mod:`aftersales_es.cli.worker`. The worker is not domain code: it may read
the clock (or a virtual one, for drills).
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from aftersales_es.adapters.sql import retry_busy
from aftersales_es.app.ports import DeadlineIndex, Row
from aftersales_es.app.service import CaseService
from aftersales_es.app.sweep import Fired, sweep
from aftersales_es.domain.errors import AfterSalesError, InvalidInputError

Clock = Callable[[], datetime]
#: Seconds a claim may sit idle before PostgreSQL ends it (a hung worker).
CLAIM_LEASE = 60


def wall_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def _discard(record: dict[str, Any]) -> None:
    """Log sink that drops records (the CLI's worker prints them as JSON lines)."""


class Worker:
    """Fires due deadlines, in batches claimed from the shared deadline index."""

    def __init__(
        self,
        app: CaseService,
        *,
        index: DeadlineIndex | None = None,
        clock: Clock = wall_clock,
        batch: int = 25,
        hold: float = 2.0,
        log: Callable[[dict[str, Any]], None] = _discard,
        on_fired: Callable[[Fired], None] | None = None,
    ) -> None:
        # A store of partitions: one worker per partition, swept in turn
        # (each claims rows in its partition's own index).
        parts: list[Any] = getattr(app, "partitions", [])
        self._parts = [
            Worker(p, clock=clock, batch=batch, hold=hold, log=self._relay, on_fired=on_fired)
            for p in parts
        ]
        found = index or app.deadlines
        if found is None:
            raise InvalidInputError("worker: no deadline index to claim from")
        self.app = app
        self.index: DeadlineIndex = found
        self.clock = clock
        self.batch = batch
        self.hold = hold  # seconds a batch may hold its claim before re-claiming
        self.log = log
        self.on_fired = on_fired
        self.ident = f"{socket.gethostname()}:{os.getpid()}"
        self.fired = 0
        self.failed = 0
        self._stop = threading.Event()
        self._held = 0.0  # when the batch in hand must let go of its claim
        for part in self._parts:
            part._stop = self._stop
            part.ident = self.ident

    def _relay(self, record: dict[str, Any]) -> None:
        self.log(record)

    # ------------------------------------------------------------- control
    def stop(self, *_: Any) -> None:
        """Ask the worker to stop after the case in hand (signal-handler safe)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``, waking early when stopped; whether stopped."""
        return self._stop.wait(seconds)

    # -------------------------------------------------------------- sweeps
    def sweep(self) -> int:
        """Fire every deadline due now, in due order; how many fired."""
        if self._parts:  # each partition in turn, from one chosen by the pid
            start = os.getpid() % len(self._parts)
            done = 0
            for part in self._parts[start:] + self._parts[:start]:
                if not self.stopping:
                    done += part.sweep()
            self.fired = sum(p.fired for p in self._parts)
            self.failed = sum(p.failed for p in self._parts)
            return done
        return sweep(
            self._round,
            self._fire,
            self.app.next_due,
            stopped=lambda: self.stopping,
            # Stop, or let the projector (waiting on our rows) in.
            pause=lambda: self.stopping or time.monotonic() > self._held,
        )

    @contextmanager
    def _round(self) -> Iterator[tuple[datetime, list[Row]]]:
        retry_busy(self.index.catch_up)
        now = self.clock()
        with self._deferred_log(), self._claim(now) as rows:  # logs after release
            self._held = time.monotonic() + self.hold
            yield now, rows

    def _fire(self, rows: list[Row]) -> list[bool]:
        """Fire a batch of the claimed rows in one transaction (:mod:`.firing`);
        whether each fired."""
        fired: list[bool] = []
        for (case_id, name, _), outcome in zip(rows, self.app.fire_batch(rows), strict=False):
            if isinstance(outcome, AfterSalesError):  # logged; the row stays for the next sweep
                self.failed += 1
                self.log(
                    {
                        "event": "fire_failed",
                        "case": case_id,
                        "deadline": name,
                        "error": str(outcome),
                    }
                )
            elif outcome is not None:
                self._fired(outcome)
            # None: no longer pending, another worker or a command came first
            fired.append(isinstance(outcome, Fired))
        return fired

    def _fired(self, fired: Fired) -> None:
        at = self.clock()
        self.fired += 1
        self.log(
            {
                "event": "deadline_fired",
                "case": fired.case_id,
                "deadline": fired.name,
                "rule": fired.rule,
                "due": fired.due.isoformat(),
                "fired_at": at.isoformat(),
                "lag_seconds": round((at - fired.due).total_seconds(), 3),
                "worker": self.ident,
            }
        )
        if self.on_fired is not None:
            self.on_fired(fired)

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

    @contextmanager
    def _claim(self, now: datetime) -> Iterator[list[Row]]:
        if self.app.sql.dialect == "postgres":
            with self.index.claim(now, self.batch, CLAIM_LEASE) as rows:
                yield rows
            return
        with self._file_lock() as held:
            if not held:
                yield []
                return
            with self.index.claim(now, self.batch, CLAIM_LEASE) as rows:
                pass  # SQLite locks no rows: the file lock is the claim
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
