"""The worker process: ``aftersales worker`` around :class:`.app.worker.Worker`.

It handles SIGTERM and SIGINT (finish the case in hand, then exit 0), sweeps
every ``poll`` seconds (backing off a poll when the database is away) and
prints one JSON object per line, flushed, for programs to read. The sweep
itself, with its claims, is in :mod:`aftersales_es.app.worker`.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

from aftersales_es.app.payouts import PayoutWorker
from aftersales_es.app.service import CaseService
from aftersales_es.app.worker import Clock, Worker, wall_clock


def virtual_clock(start: datetime) -> Clock:
    """A clock that starts at ``start`` and runs at wall speed (drills, tests)."""
    t0 = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)


def json_line(record: dict[str, Any]) -> None:
    """The worker's log sink: one JSON object per line on stdout, flushed."""
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def handle_signals(worker: Worker) -> None:
    """SIGTERM and SIGINT stop ``worker`` cleanly (main thread only)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        worker.stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run(worker: Worker, *, poll: float = 5.0, once: bool = False, payouts: Any = None) -> int:
    """Sweep every ``poll`` seconds until stopped, sending due refund payouts
    after each sweep; exit status (0 = clean)."""
    log = worker.log
    log({"event": "worker_started", "worker": worker.ident, "once": once, "poll": poll})
    while not worker.stopping:
        try:
            worker.sweep()
            if payouts is not None and not worker.stopping:
                payouts.run_once()
        except Exception as exc:  # the database went away: back off, go on
            if once:
                raise
            log({"event": "sweep_failed", "worker": worker.ident, "error": repr(exc)})
        if once:
            break
        worker.wait(poll)
    log(
        {
            "event": "worker_stopped",
            "worker": worker.ident,
            "fired": worker.fired,
            "failed": worker.failed,
        }
    )
    return 1 if once and worker.failed else 0


def serve(
    app: CaseService,
    *,
    start: datetime | None = None,
    batch: int = 25,
    poll: float = 5.0,
    once: bool = False,
) -> int:
    """Run a worker on ``app`` as a process does: signals handled, JSON lines
    on stdout, the wall clock (or a virtual one from ``start``); exit status."""
    worker = Worker(
        app,
        clock=wall_clock if start is None else virtual_clock(start),
        batch=batch,
        log=json_line,
    )
    handle_signals(worker)
    from aftersales_es.adapters.providers import provider_from_env

    # One payout worker per partition (a payout lives in its case's partition).
    senders = [
        PayoutWorker(part, provider_from_env(), queue, clock=worker.clock, log=json_line)
        for part in getattr(app, "partitions", [app])
        if (queue := getattr(part, "payout_index", None)) is not None
    ]
    return run(worker, poll=poll, once=once, payouts=_Each(senders) if senders else None)


class _Each:
    """Payout workers run one after the other, as one."""

    def __init__(self, workers: list[PayoutWorker]) -> None:
        self.workers = workers

    def run_once(self) -> int:
        return sum(w.run_once() for w in self.workers)
