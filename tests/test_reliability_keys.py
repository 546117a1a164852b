"""Duplicate idempotency keys under load.

Keyed commands (apply, approve, apply again, approve again on each order),
each sent 1-5 times by 6 senders: 2 processes (``spawn``, each with its own
:class:`AfterSales` on the shared store) x 3 threads. Copies of one command go
to different senders that work through the same list in the same order, so
most duplicates race each other; some are plain sequential retries. For a
fifth of the approve keys (at most 100) one copy carries a different payload
(reject instead of approve) and races the others.

Sizes: ``AFTERSALES_FUZZ=long`` (``make fuzz``) sends 5,000 unique commands
on SQLite and on PostgreSQL. The default run sends 1,200 on SQLite and 200 on
PostgreSQL (a commit there costs ~5 ms of fsync on the CI machine), keeping
this file near 30 s on 2 cores.

Then: effects per unique key = 1.000 (counted from the stored events), every
copy of a key returned the same case version, a different payload under a used
key was refused and wrote nothing, and there were no other errors. Figures are
printed (``pytest -s``).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from aftersales_es.app.idempotency import IdempotencyKeyReusedError
from aftersales_es.domain.errors import AfterSalesError
from aftersales_es.engine import AfterSales

from .helpers import order, t

LONG = os.environ.get("AFTERSALES_FUZZ") == "long"
#: Orders per store; each gets 4 keyed commands (1,250 -> 5,000 unique keys).
ORDERS = {"sqlite": 1250 if LONG else 300, "postgres": 1250 if LONG else 50}
PROCESSES = 2
THREADS = 3
MIXED = 100  # at most this many approve keys raced by a reject under the same key
PHASES = ("apply", "approve", "apply", "approve")


@dataclass(frozen=True)
class Send:
    """One copy of a keyed command, as one sender sends it."""

    index: int
    key: str
    command: str
    data: dict[str, Any]


def command_of(phase: int, i: int) -> tuple[str, str, dict[str, Any]]:
    """Phase ``phase`` of order ``i``: (key, command, fields)."""
    case = f"C{i}{'ab'[phase // 2]}"
    key = f"key-{phase}-{i}"
    at = t(days=3, hours=phase)
    if PHASES[phase] == "apply":
        fields = {"order": f"O{i}", "kind": "refund_only", "amount": "50.00", "reason": "other"}
        return key, "apply", {"case": case, "at": at, **fields}
    return key, "approve", {"case": case, "at": at}


def plan(orders: int, seed: int) -> tuple[list[list[list[Send]]], Counter[int], set[str]]:
    """Per phase, per sender, the copies it sends; plus the copy-count histogram
    and the keys raced by a different payload."""
    rng = random.Random(seed)
    senders = PROCESSES * THREADS
    mixed = {f"key-1-{i}" for i in rng.sample(range(orders), min(MIXED, orders // 5))}
    copies_hist: Counter[int] = Counter()
    phases: list[list[list[Send]]] = []
    for phase in range(len(PHASES)):
        lists: list[list[Send]] = [[] for _ in range(senders)]
        for i in range(orders):
            key, command, data = command_of(phase, i)
            copies = rng.randint(1, 5)
            copies_hist[copies] += 1
            first = rng.randrange(senders)
            retry = rng.random() < 0.2  # a client retrying after its own success
            for c in range(copies):
                sender = first if retry and c == 1 else (first + c) % senders
                cmd, fields = command, data
                if key in mixed and c == copies - 1:
                    cmd, fields = (
                        "reject",
                        {
                            **data,
                            "category": "other",
                            "buyer_contacted": True,
                            "reason": "raced by another payload",
                        },
                    )
                lists[sender].append(Send(phase * orders + i, key, cmd, fields))
        phases.append(lists)
    # A key in the mixed set always has two copies at least: approve and reject.
    for lists in phases[1:2]:
        for key in mixed:
            kinds = {s.command for ss in lists for s in ss if s.key == key}
            if kinds == {"reject"}:
                i = int(key.rsplit("-", 1)[1])
                _, command, data = command_of(1, i)
                lists[0].append(Send(orders + i, key, command, data))
        for ss in lists:
            ss.sort(key=lambda s: s.index)
    return phases, copies_hist, mixed


def send_all(app: AfterSales, sends: list[Send]) -> list[tuple[str, str, str]]:
    """Send each copy; record (key, outcome, detail) where outcome is ok, reused or error."""
    out: list[tuple[str, str, str]] = []
    for s in sends:
        try:
            case = app.execute(s.command, idempotency_key=s.key, **s.data)
        except IdempotencyKeyReusedError:
            out.append((s.key, "reused", s.command))
        except AfterSalesError as exc:
            out.append((s.key, "error", f"{type(exc).__name__}: {exc}"))
        else:
            out.append((s.key, "ok", f"{s.command}@{case.version}"))
    return out


def sender_process(
    store: str,
    slots: list[int],
    phases: list[list[list[Send]]],
    barrier: Any,
    results: Any,
) -> None:
    """One process: its own application, one thread per sender slot, a barrier
    (shared by every sender of every process) between phases."""
    app = AfterSales(store)
    collected: list[tuple[str, str, str]] = []
    lock = threading.Lock()

    def run(slot: int) -> None:
        for lists in phases:
            barrier.wait(timeout=300)
            done = send_all(app, lists[slot])
            with lock:
                collected.extend(done)

    threads = [threading.Thread(target=run, args=(slot,)) for slot in slots]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    app.close()
    results.put(collected)


def topic_counts(app: AfterSales) -> Counter[str]:
    """Stored events by class name, read from the notification log in pages."""
    counts: Counter[str] = Counter()
    for one in getattr(app, "partitions", [app]):  # each partition's log
        start = 1
        while page := one.recorder.select_notifications(start=start, limit=1000):
            counts.update(n.topic.rsplit(":", 1)[1] for n in page)
            start = page[-1].id + 1
    return counts


def kind_of(store: str) -> str:
    return "postgres" if store.startswith("postgres") else "sqlite"


@pytest.fixture
def loaded(store: str) -> Iterator[tuple[str, AfterSales, int]]:
    """Given: the orders registered, and the tables created before any worker starts."""
    app = AfterSales(store)
    orders = ORDERS[kind_of(store)]
    for i in range(orders):
        order(app, f"O{i}", amount="100.00")
    yield store, app, orders
    app.close()


def test_duplicate_keys_from_threads_and_processes_have_one_effect(
    loaded: tuple[str, AfterSales, int],
) -> None:
    store, app, orders = loaded
    phases, copies_hist, mixed = plan(orders, seed=6)
    before = topic_counts(app)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES * THREADS)
    results = ctx.Queue()
    started = time.perf_counter()
    procs = [
        ctx.Process(
            target=sender_process,
            args=(store, list(range(p * THREADS, (p + 1) * THREADS)), phases, barrier, results),
        )
        for p in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    outcomes: list[tuple[str, str, str]] = []
    for _ in procs:
        outcomes += results.get(timeout=600)
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    elapsed = time.perf_counter() - started

    # Then: each key had one effect, counted from the stored events.
    counts = topic_counts(app) - before
    unique = orders * len(PHASES)
    effects = counts["Applied"] + counts["Approved"] + counts["Rejected"]
    per_key = effects / unique
    by_key: dict[str, set[str]] = {}
    for key, outcome, detail in outcomes:
        if outcome == "ok":
            by_key.setdefault(key, set()).add(detail)
    errors = [d for _, o, d in outcomes if o == "error"]
    reused = [k for k, o, _ in outcomes if o == "reused"]
    divergent = {k: v for k, v in by_key.items() if len(v) != 1}

    # And: afterwards, another payload under a used key is refused and writes nothing.
    rng = random.Random(7)
    refused_after = 0
    written_after = 0
    for i in rng.sample(range(orders), min(200, orders)):
        n = app.notification_count()
        with pytest.raises(IdempotencyKeyReusedError):
            app.execute(
                "apply", case=f"X{i}", order=f"O{i}", at=t(days=4), kind="refund_only",
                amount="1.00", reason="other", idempotency_key=f"key-0-{i}",
            )  # fmt: skip
        refused_after += 1
        written_after += app.notification_count() - n

    kind = kind_of(store)
    print(
        f"\nkeys [{kind}]: {unique} unique commands, {len(outcomes)} sends"
        f" (copies 1-5: {dict(sorted(copies_hist.items()))}) from {PROCESSES} processes"
        f" x {THREADS} threads in {elapsed:.1f} s"
        f"\n  effects per unique key = {per_key:.3f} (Applied {counts['Applied']}"
        f" + Approved {counts['Approved']} + Rejected {counts['Rejected']}; Refunded"
        f" {counts['Refunded']}; KeyRecorded {counts['KeyRecorded']})"
        f"\n  copies returning another outcome than their key's first: {len(divergent)}"
        f"\n  same key, other payload: {len(mixed)} raced -> {len(reused)} refused sends;"
        f" {refused_after} sent afterwards -> {refused_after} refused, {written_after} events"
        f" written\n  other errors: {len(errors)} {errors[:3]}"
    )
    assert errors == []
    assert per_key == 1.0
    assert counts["KeyRecorded"] == unique
    assert counts["Refunded"] == counts["Approved"]
    assert divergent == {}
    assert set(by_key) == {f"key-{p}-{i}" for p in range(len(PHASES)) for i in range(orders)}
    assert set(reused) <= mixed and reused
    assert written_after == 0
    for i in range(orders):
        cases = [app.get_case(f"C{i}{x}") for x in "ab"]
        refunded = sum(c.refunded_total for c in cases)
        assert app.get_order(f"O{i}").refunded_total == refunded
        assert refunded <= app.get_order(f"O{i}").amount


def test_key_is_remembered_for_the_retention_period_then_may_be_reused(store: str) -> None:
    """Keys are retained for ``AfterSales.key_retention`` (30 days by default): a
    retry inside it has no new effect; after it the key names a new command."""
    app = AfterSales(store)
    app.key_retention = timedelta(days=1)
    order(app, "O1", amount="100.00")
    order(app, "O2", amount="100.00")

    def apply(case: str, order_id: str, at: datetime) -> None:
        app.execute(
            "apply", case=case, order=order_id, at=at, kind="refund_only", amount="10.00",
            reason="other", idempotency_key="client-key-1",
        )  # fmt: skip

    apply("C1", "O1", t(days=3))
    before = app.notification_count()
    with pytest.raises(IdempotencyKeyReusedError):  # within a day: remembered
        apply("C2", "O2", t(days=3, hours=23))
    assert app.notification_count() == before
    apply("C2", "O2", t(days=4, hours=1))  # a day later: a new command
    assert app.get_case("C2").state == "requested"
    assert app.get_case("C1").state == "requested"
    app.close()
