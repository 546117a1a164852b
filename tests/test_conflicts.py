"""Conflicting commands on one case: exactly one winner per version.

Each round opens a fresh refund-only case; then 32 threads (or 8 processes,
each with its own :class:`AfterSales` on the shared store), released together
by a barrier, send conflicting seller decisions at it: approve, reject and
propose, each allowed from ``requested`` and each leaving a state where none
of the others is (``withdraw`` and ``escalate`` stay allowed after a
rejection or a proposal, so they would not conflict). The application
retries a version conflict on fresh state (at most ``max_tries``); a loser
ends with a :class:`CommandRefusedError` (the state changed) or a
:class:`ConcurrencyError`: both count as conflicts, never as a lost update.

Checked per round and printed (``pytest -s``): winners (must be 1), conflicts
and refusals, other errors (0), duplicate or missing versions in the case's
stored history (0), and the winner's event being the only decision stored.

Sizes: the default run plays 50 rounds of 32 threads and 20 rounds of 8
processes per store (about 45 s on 2 cores for both stores);
``AFTERSALES_FUZZ=long`` (``make fuzz``) plays 200 rounds of each.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import RecordConflictError

from aftersales_es.domain.errors import CommandRefusedError, ConcurrencyError
from aftersales_es.engine import AfterSales

from .helpers import T0, order

LONG = os.environ.get("AFTERSALES_FUZZ") == "long"
THREADS = 32
PROCESSES = 8
THREAD_ROUNDS = 200 if LONG else 50
PROCESS_ROUNDS = 200 if LONG else 20
#: The racing commands: (name, fields, the event recording its decision).
RACERS: tuple[tuple[str, dict[str, Any], str], ...] = (
    ("approve", {}, "Approved"),
    (
        "reject",
        {"category": "other", "buyer_contacted": True, "reason": "the buyer agreed by phone"},
        "Rejected",
    ),
    ("propose", {"kind": "refund_only", "amount": "20.00"}, "Proposed"),
)
DECISIONS = {event for _, _, event in RACERS}


class CountingAfterSales(AfterSales):
    """The real application, counting the version conflicts its saves hit
    (each one is retried by ``execute`` on fresh state)."""

    # eventsourcing names an application's PostgreSQL tables after its class
    # name unless ``name`` is set: keep the tables of the application itself.
    name = AfterSales.name

    def __init__(self, store: str) -> None:
        super().__init__(store)
        self.version_conflicts = 0
        self._count_lock = threading.Lock()

    def _save(self, *aggregates: Any, **kwargs: Any) -> None:
        try:
            super()._save(*aggregates, **kwargs)
        except RecordConflictError:
            with self._count_lock:
                self.version_conflicts += 1
            raise


def round_at(n: int) -> datetime:
    """Round ``n``'s application time: every round on its own order and case."""
    return T0 + timedelta(days=3, minutes=n)


def open_round(app: AfterSales, n: int) -> None:
    """Given: order R<n> and its refund-only case R<n>, awaiting the seller."""
    order(app, f"R{n}", amount="100.00")
    app.execute(
        "apply", case=f"R{n}", order=f"R{n}", at=round_at(n), kind="refund_only",
        amount="60.00", reason="quality_issue",
    )  # fmt: skip


def race(app: AfterSales, n: int, sender: int) -> tuple[str, str]:
    """Send sender's command at round ``n``'s case; (outcome, detail)."""
    name, fields, _ = RACERS[(n + sender) % len(RACERS)]
    at = round_at(n) + timedelta(hours=1)
    try:
        case = app.execute(name, case=f"R{n}", at=at, **fields)
    except CommandRefusedError as exc:
        return "refused", type(exc).__name__
    except ConcurrencyError:
        return "conflict", "ConcurrencyError"
    except Exception as exc:  # every other error is counted and shown
        return "error", f"{type(exc).__name__}: {exc}"
    return "won", f"{name}@{case.version}"


def check_round(
    app: AfterSales, n: int, outcomes: list[tuple[str, str]], tally: Counter[str]
) -> None:
    """Then: one winner, its decision the only one stored, versions 1..N exactly."""
    events = app.case_events(f"R{n}")
    versions = [e.originator_version for e in events]
    expected = list(range(1, len(events) + 1))
    dupes = len(versions) - len(set(versions))
    missing = len(set(expected) - set(versions))
    decisions = [type(e).__name__ for e in events if type(e).__name__ in DECISIONS]
    winners = [d for o, d in outcomes if o == "won"]
    tally["rounds"] += 1
    tally["winners"] += len(winners)
    tally["rounds with 1 winner"] += len(winners) == 1
    tally["refused"] += sum(o == "refused" for o, _ in outcomes)
    tally["ConcurrencyError"] += sum(o == "conflict" for o, _ in outcomes)
    tally["other errors"] += sum(o == "error" for o, _ in outcomes)
    tally["duplicate versions"] += dupes
    tally["missing versions"] += missing
    tally["extra decisions"] += len(decisions) - 1
    errors = [d for o, d in outcomes if o == "error"]
    assert errors == [], errors[:3]
    assert len(winners) == 1, (n, winners)
    assert versions == expected and dupes == missing == 0
    assert decisions and len(decisions) == 1
    assert winners[0].endswith(f"@{events[-1].originator_version}")
    case, held = app.get_case(f"R{n}"), app.get_order(f"R{n}")
    assert held.refunded_total == case.refunded_total  # the order saw the same outcome


def report(title: str, tally: Counter[str], elapsed: float) -> None:
    keys = (
        "rounds", "rounds with 1 winner", "winners", "version conflicts retried", "refused",
        "ConcurrencyError",
        "other errors", "duplicate versions", "missing versions", "extra decisions",
    )  # fmt: skip
    print(f"\n{title} in {elapsed:.1f} s: " + ", ".join(f"{k} {tally[k]}" for k in keys))


def kind_of(store: str) -> str:
    return "postgres" if store.startswith("postgres") else "sqlite"


@pytest.mark.single_store
def test_conflicting_threads_have_one_winner_per_round(store: str) -> None:
    app = CountingAfterSales(store)
    results: list[list[tuple[str, str]]] = [[] for _ in range(THREAD_ROUNDS)]
    barrier = threading.Barrier(THREADS + 1)
    lock = threading.Lock()

    def sender(i: int) -> None:
        for n in range(THREAD_ROUNDS):
            barrier.wait(timeout=120)  # the round's case is open: go
            outcome = race(app, n, i)
            with lock:
                results[n].append(outcome)
            barrier.wait(timeout=120)  # everyone has sent

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(THREADS)]
    for th in threads:
        th.start()
    tally: Counter[str] = Counter()
    started = time.perf_counter()
    try:
        for n in range(THREAD_ROUNDS):
            open_round(app, n)
            barrier.wait(timeout=120)
            barrier.wait(timeout=120)
            check_round(app, n, results[n], tally)
    except BaseException:
        barrier.abort()
        raise
    finally:
        for th in threads:
            th.join(timeout=60)
        app.close()
    tally["version conflicts retried"] = app.version_conflicts
    report(f"conflicts [{kind_of(store)}] {THREADS} threads", tally, time.perf_counter() - started)
    assert tally["rounds with 1 winner"] == THREAD_ROUNDS


def process_sender(store: str, i: int, rounds: int, barrier: Any, results: Any) -> None:
    """One process: its own application; one command per round, barrier-synchronised."""
    app = CountingAfterSales(store)
    out: list[tuple[int, str, str]] = []
    for n in range(rounds):
        barrier.wait(timeout=120)
        out.append((n, *race(app, n, i)))
        barrier.wait(timeout=120)
    app.close()
    results.put((app.version_conflicts, out))


@pytest.mark.single_store
def test_conflicting_processes_have_one_winner_per_round(store: str) -> None:
    app = AfterSales(store)  # creates the tables before the processes start
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=process_sender, args=(store, i, PROCESS_ROUNDS, barrier, results))
        for i in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    started = time.perf_counter()
    try:
        for n in range(PROCESS_ROUNDS):
            open_round(app, n)
            barrier.wait(timeout=120)
            barrier.wait(timeout=120)
    except BaseException:
        barrier.abort()
        for p in procs:
            p.terminate()
        raise
    gathered = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    by_round: list[list[tuple[str, str]]] = [[] for _ in range(PROCESS_ROUNDS)]
    tally: Counter[str] = Counter()
    for conflicts, out in gathered:
        tally["version conflicts retried"] += conflicts
        for n, outcome, detail in out:
            by_round[n].append((outcome, detail))
    for n in range(PROCESS_ROUNDS):
        check_round(app, n, by_round[n], tally)
    app.close()
    elapsed = time.perf_counter() - started
    report(f"conflicts [{kind_of(store)}] {PROCESSES} processes", tally, elapsed)
    assert all(p.exitcode == 0 for p in procs)
    assert tally["rounds with 1 winner"] == PROCESS_ROUNDS
