"""The deadline worker: every deadline fires exactly once, whatever the
crashes, restarts, races or outages. Real processes, real stores.

The PostgreSQL backlog (2,000 cases, 2,200 deadlines due in one window) is
seeded once per module into a template database and copied per test.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import pytest

from aftersales_es.app.worker import Worker
from aftersales_es.domain.errors import InvalidInputError
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.projector import DEADLINES

from .helpers import order, t
from .stores import (
    AFTER_ALL,
    T_APPLY,
    Lines,
    assert_fired_exactly_once,
    cli_args,
    deadline_count,
    events_by_case,
    finish,
    fired_lines,
    pg_database,
    py_args,
    seed_backlog,
    seed_in_processes,
    spawn,
)

CASES = 2000


@pytest.fixture(scope="module", params=[1, 3], ids=["1-partition", "3-partitions"])
def pg_backlog(request: pytest.FixtureRequest) -> Iterator[tuple[str, str]]:
    """A template database holding the 2,000-case backlog (seeded by two
    processes) in a store of 1 or 3 partitions: (template, URL suffix)."""
    suffix = "" if request.param == 1 else f"?partitions={request.param}"
    with pg_database() as url:
        AfterSales(url + suffix).close()  # tables first; then two writers at once
        started = time.monotonic()
        seed_in_processes(url + suffix, CASES, processes=2)
        print(f"\nseeded {CASES} cases in {time.monotonic() - started:.1f} s")
        yield urlparse(url).path.lstrip("/"), suffix


@contextmanager
def backlog_copy(pg_backlog: tuple[str, str]) -> Iterator[str]:
    """A fresh copy of the backlog database; yields its store URL."""
    template, suffix = pg_backlog
    with pg_database(template=template) as url:
        yield url + suffix


def workers_once(url: str, n: int) -> list[str]:
    """Run ``n`` ``worker --once`` processes at once; their logs."""
    argv = cli_args(url, "worker", "--once", "--now", AFTER_ALL.isoformat())
    procs = [Lines(spawn(argv)) for _ in range(n)]  # each log read as it comes
    logs = [p.rest(timeout=300) for p in procs]
    assert [p.proc.returncode for p in procs] == [0] * n, [p.err[-2000:] for p in procs]
    return logs


def assert_unique(logs: list[str]) -> list[tuple[str, str]]:
    keys = [(r["case"], r["deadline"]) for log in logs for r in fired_lines(log)]
    assert len(keys) == len(set(keys)), "a deadline was logged as fired twice"
    return keys


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize("workers", [2, 3])
def test_workers_share_2000_cases_each_deadline_fired_once_ks1_ks4_ks5(
    pg_backlog: tuple[str, str], workers: int
) -> None:
    """Given 2,000 cases whose 48 h deadlines (KS-1, KS-4) and the 10-day
    KS-5 deadlines chained after them are all due, when 2 (then 3) workers
    run at once (over 1 or 3 partitions), then each deadline fires exactly
    once and none is missed."""
    with backlog_copy(pg_backlog) as url:
        started = time.monotonic()
        logs = workers_once(url, workers)
        elapsed = time.monotonic() - started
        keys = assert_unique(logs)
        shares = [len(fired_lines(log)) for log in logs]
        assert len(keys) == deadline_count(CASES) == 2200
        assert all(shares), f"a worker got no work: {shares}"
        assert_fired_exactly_once(url, CASES)
        app = AfterSales(url)
        state = app.read_models.backlog(AFTER_ALL)
        app.close()
        assert (state["pending"], state["due_now"]) == (0, 0)
        print(f"\n{workers} workers: {len(keys)} deadlines {shares} in {elapsed:.1f} s")


@pytest.mark.slow
@pytest.mark.postgres
def test_workers_killed_mid_batch_twice_then_restarted_none_lost_or_duplicated(
    pg_backlog: tuple[str, str],
) -> None:
    """Given the backlog, a steady worker and a second one, when the second is
    SIGKILLed in the middle of a batch, replaced, killed again and replaced by
    a --once worker, then every deadline fired exactly once: a dead worker's
    claims die with its connection and every fire is version-checked (one
    store, or 3 partitions whose rows each worker claims in turn)."""
    with backlog_copy(pg_backlog) as url:
        argv = cli_args(url, "worker", "--poll", "0.2", "--now", AFTER_ALL.isoformat())
        steady = Lines(spawn(argv))
        logs = []
        for _ in range(2):
            victim = Lines(spawn(argv))
            victim.wait_for('"deadline_fired"', 150)
            victim.proc.kill()
            assert victim.proc.wait(10) == -signal.SIGKILL
            logs.append(victim.rest())
        logs += workers_once(url, 1)  # the restarted one
        app = AfterSales(url)
        deadline = time.monotonic() + 120
        while app.read_models.backlog(AFTER_ALL)["pending"] and time.monotonic() < deadline:
            time.sleep(0.2)  # the steady worker finishes its last batch
        app.close()
        steady.proc.send_signal(signal.SIGTERM)
        assert steady.proc.wait(30) == 0
        logs.append(steady.rest())
        keys = assert_unique(logs)
        # Log lines follow their batch's commit: a kill loses at most one batch's.
        assert deadline_count(CASES) - 2 * 25 <= len(keys) <= deadline_count(CASES)
        assert_fired_exactly_once(url, CASES)
        print(f"\n2 kills; fired per worker {[len(fired_lines(x)) for x in logs]}")


CRASH_AFTER_COMMIT = """
    import os, signal
    from datetime import datetime
    from aftersales_es.engine import AfterSales
    from aftersales_es.app.worker import Worker
    from aftersales_es.cli.worker import json_line, run

    fired = []
    def crash(f):
        fired.append(f)
        if len(fired) == 5:  # the event is committed; the index not yet updated
            os.kill(os.getpid(), signal.SIGKILL)
    app = AfterSales({store!r})
    now = datetime.fromisoformat({now!r})
    run(Worker(app, clock=lambda: now, log=json_line, on_fired=crash, batch=4), once=True)
"""


@pytest.mark.single_store
def test_kill_after_event_commit_before_index_update_fires_once_ks1(store: str) -> None:
    """Given 12 due cases, when the worker (firing batches of 4 per
    transaction) dies right after its second batch is committed (at its 5th
    fire, before the index is updated), then the index still lists those
    deadlines, and the restarted worker re-derives the index from the log and
    fires only the others: none lost, none twice."""
    seed_backlog(store, 0, 12)
    crashed = spawn(py_args(CRASH_AFTER_COMMIT.format(store=store, now=AFTER_ALL.isoformat())))
    crashed.communicate(timeout=60)
    assert crashed.returncode == -signal.SIGKILL

    app = AfterSales(store)  # opening does not catch up: look at the index as the crash left it
    with app.sql.read() as cur:
        cur.execute(f"SELECT case_id FROM {DEADLINES} ORDER BY due_utc")
        indexed = [r[0] for r in cur.fetchall()]
    # The first batch was indexed by the next round's catch-up; the second is
    # stale: already fired.
    assert indexed[:4] == ["C4", "C5", "C6", "C7"]
    assert [e.__class__.__name__ for e in app.case_events("C4")][-1] == "Refunded"
    assert app.projector.position() < app.notification_count()
    app.close()

    out, _ = finish(spawn(cli_args(store, "worker", "--once", "--now", AFTER_ALL.isoformat())))
    assert sorted(r["case"] for r in fired_lines(out)) == sorted(
        ["C0", "C8", "C9", "C10", "C10", "C11"]
    )
    assert_fired_exactly_once(store, 12)


APPROVER = """
    import json, sys
    from datetime import datetime, timedelta
    from aftersales_es.engine import AfterSales
    from aftersales_es.domain.errors import CommandRefusedError
    from tests.stores import T_APPLY

    app = AfterSales({store!r})
    # Warm, as a seller's running service is: its first approval then lands
    # within milliseconds of "go", not after loading the rule set.
    app.ruleset_of(app.get_case("C{last}"))
    print("ready", flush=True)
    sys.stdin.readline()  # go: the worker is firing from the first case on
    results = {{}}
    for i in reversed(range({n})):  # from the last case: the two meet half-way
        due = T_APPLY + timedelta(seconds=7 * i, hours=48)
        try:
            app.execute("approve", case=f"C{{i}}", at=due + timedelta(seconds={offset}))
            results[f"C{{i}}"] = "ok"
        except CommandRefusedError as exc:
            results[f"C{{i}}"] = str(exc)
    print(json.dumps(results))
"""


@pytest.mark.parametrize("offset", [0, -1], ids=["same-instant", "second-before"])
def test_seller_approve_racing_the_48h_deadline_exactly_one_takes_effect_ks1(
    store: str, offset: int
) -> None:
    """Given 120 cases whose 48 h deadline (KS-1 auto-refund, KS-4 auto-approve)
    falls due, when a seller process approves them (at the due instant, or one
    second before) from the last while a worker fires them from the first, then
    each case holds exactly one approval; a losing command gets a clear refusal
    naming the case, its state and the rule, and writes nothing."""
    n = 120
    seed_backlog(store, 0, n)
    last_due = T_APPLY + timedelta(seconds=7 * (n - 1), hours=48)
    code = APPROVER.format(store=store, n=n, offset=offset, last=n - 1)
    seller = spawn(py_args(code), stdin=subprocess.PIPE)
    assert seller.stdout is not None and seller.stdout.readline().strip() == "ready"
    worker = Lines(
        spawn(cli_args(store, "worker", "--once", "--batch", "5", "--now", last_due.isoformat()))
    )
    worker.wait_for('"deadline_fired"')
    results: dict[str, str] = json.loads(seller.communicate("go\n", timeout=120)[0])
    assert seller.returncode == 0
    auto = {r["case"] for r in fired_lines(worker.rest())}
    assert worker.proc.returncode == 0
    found = events_by_case(store)
    for case_id, outcome in results.items():
        approvals = [e for e in found[case_id] if e[0] == "Approved"]
        assert len(approvals) == 1, (case_id, found[case_id])
        if outcome == "ok":
            assert approvals[0][2] is False and case_id not in auto
        else:
            assert approvals[0][2] is True and case_id in auto
            assert f"case {case_id} (state " in outcome and "refused [" in outcome
    manual = sum(v == "ok" for v in results.values())
    assert manual + len(auto) == n
    if offset == 0:  # at the due instant the deadline always comes first
        assert manual == 0
    else:
        assert 0 < manual < n, "the two processes never met"
    print(f"\nmanual wins {manual}, auto wins {len(auto)}")


@pytest.mark.single_store
def test_worker_after_30_day_outage_fires_in_due_order_chained_ks4_ks5(app: AfterSales) -> None:
    """Given returns and refunds whose deadlines all passed during a 30-day
    outage, when the worker sweeps, then it fires every overdue deadline in due
    order, each stamped with its due instant, the chained KS-5 auto-close (10
    days after the KS-4 auto-approve) included, before a later KS-1."""
    for n, (kind, day) in enumerate(
        [("return_refund", 3), ("refund_only", 3.5), ("refund_only", 14)]
    ):
        order(app, f"O{n}")
        app.execute(
            "apply", case=f"C{n}", order=f"O{n}", at=t(days=day), kind=kind,
            amount="50.00", reason="changed_mind",
        )  # fmt: skip
    records: list[dict[str, Any]] = []
    worker = Worker(app, clock=lambda: t(days=45), log=records.append)
    assert worker.sweep() == 4
    fired = [(r["case"], r["rule"], datetime.fromisoformat(r["due"])) for r in records]
    assert fired == [
        ("C0", "KS-4", t(days=5)),
        ("C1", "KS-1", t(days=5.5)),
        ("C0", "KS-5", t(days=15)),
        ("C2", "KS-1", t(days=16)),
    ]
    assert records[0]["lag_seconds"] == (t(days=45) - t(days=5)).total_seconds()
    assert [(e.__class__.__name__, e.at) for e in app.case_events("C0")][1:] == [
        ("Approved", t(days=5)),
        ("Closed", t(days=15)),
    ]
    assert app.get_case("C0").state == "closed"
    assert worker.sweep() == 0


def test_sigterm_mid_backlog_finishes_case_in_hand_and_exits_0(tmp_path: Any) -> None:
    """Given a backlog on SQLite, when the worker gets SIGTERM while firing,
    then it finishes the case in hand, logs worker_stopped and exits 0; a
    later --once fires the rest, each deadline once."""
    store = str(tmp_path / "a.db")
    seed_backlog(store, 0, 400)
    lines = Lines(spawn(cli_args(store, "worker", "--poll", "0.2", "--now", AFTER_ALL.isoformat())))
    lines.wait_for('"deadline_fired"', 20)
    lines.proc.send_signal(signal.SIGTERM)
    assert lines.proc.wait(20) == 0
    first = lines.rest()
    assert json.loads(first.splitlines()[-1])["event"] == "worker_stopped"
    assert len(fired_lines(first)) < deadline_count(400)
    out, _ = finish(spawn(cli_args(store, "worker", "--once", "--now", AFTER_ALL.isoformat())))
    assert len(fired_lines(first)) + len(fired_lines(out)) == deadline_count(400)
    assert_fired_exactly_once(store, 400)


def test_idle_worker_stops_on_sigint_at_once(tmp_path: Any) -> None:
    """Given a worker sleeping between polls, when SIGINT comes, then it exits 0 at once."""
    lines = Lines(spawn(cli_args(str(tmp_path / "a.db"), "worker", "--poll", "60")))
    lines.wait_for('"worker_started"')
    started = time.monotonic()
    lines.proc.send_signal(signal.SIGINT)
    assert lines.proc.wait(10) == 0
    assert time.monotonic() - started < 5
    assert '"worker_stopped"' in lines.rest()


def test_status_shows_backlog_and_oldest_overdue_ks1(tmp_path: Any) -> None:
    """Given 20 cases, 5 of them past their 48 h deadline, then status shows
    20 pending, 5 due now and the oldest overdue deadline with its rule."""
    store = str(tmp_path / "a.db")
    seed_backlog(store, 0, 20)
    now = T_APPLY + timedelta(hours=48, seconds=7 * 4)
    out, _ = finish(spawn(cli_args(store, "--json", "status", "--now", now.isoformat())))
    data = json.loads(out)
    assert (data["pending"], data["due_now"]) == (20, 5)
    oldest = data["oldest_overdue"]
    assert (oldest["case_id"], oldest["rule"], oldest["overdue_seconds"]) == ("C0", "KS-4", 28.0)
    text, _ = finish(spawn(cli_args(store, "status", "--now", now.isoformat())))
    assert "oldest overdue   C0 seller_review" in text


def test_deadlines_rebuild_rederives_the_index_from_events_alone(tmp_path: Any) -> None:
    """Given an index that lost its rows, when ``deadlines rebuild`` runs, then
    the index is derived again from the events: the same rows as before."""
    store = str(tmp_path / "a.db")
    seed_backlog(store, 0, 15)
    first_due = (T_APPLY + timedelta(hours=49)).isoformat()
    finish(spawn(cli_args(store, "worker", "--once", "--now", first_due)))
    before, _ = finish(spawn(cli_args(store, "--json", "deadlines", "list")))
    assert [r["case_id"] for r in json.loads(before)] == ["C0", "C10"]  # KS-5 left
    app = AfterSales(store)
    with app.sql.write() as cur:
        cur.execute(f"DELETE FROM {DEADLINES}")
    app.close()
    gone, _ = finish(spawn(cli_args(store, "--json", "deadlines", "list")))
    assert json.loads(gone) == []
    rebuilt, _ = finish(spawn(cli_args(store, "--json", "deadlines", "rebuild")))
    assert json.loads(rebuilt)["rebuilt_from_events"] > 0
    after, _ = finish(spawn(cli_args(store, "--json", "deadlines", "list")))
    assert json.loads(after) == json.loads(before)


def test_sweep_at_a_naive_instant_is_refused_and_fires_nothing(app: AfterSales) -> None:
    """Given a deadline long due, when a sweep is asked for at an instant
    without a timezone, then it is refused (local time differs by machine)
    and nothing is written."""
    order(app)
    app.execute(
        "apply", case="C1", order="O1", at=t(days=3), kind="refund_only",
        amount="50.00", reason="changed_mind",
    )  # fmt: skip
    before = app.notification_count()
    with pytest.raises(InvalidInputError, match="now: needs a timezone"):
        app.fire_due(t(days=30).replace(tzinfo=None))
    assert app.notification_count() == before
