"""SQLite across processes: several processes on one file under
normal load never fail with "database is locked".

Writes wait for the file's single write lock (busy timeout 30 s; read-model
writes take it up front with BEGIN IMMEDIATE); table creation on a fresh
file is retried. The limit: one machine, writers take turns.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from aftersales_es.engine import AfterSales

from .stores import (
    AFTER_ALL,
    Lines,
    assert_fired_exactly_once,
    cli_args,
    deadline_count,
    finish,
    fired_lines,
    py_args,
    spawn,
)

SEED = """
    from tests.stores import seed_backlog
    seed_backlog({store!r}, 0, {n}, {prefix!r})
"""


def test_six_processes_writing_a_fresh_file_at_once_never_see_a_lock_error(
    tmp_path: Path,
) -> None:
    """When six processes create the tables of one new SQLite file and write
    40 cases each at the same time, then all succeed, every case stored."""
    store = str(tmp_path / "fresh.db")
    procs = [spawn(py_args(SEED.format(store=store, n=40, prefix=p))) for p in "ABCDEF"]
    for p in procs:
        finish(p)
    app = AfterSales(store)
    assert len(app.cases()) == 240
    app.close()


def test_writers_and_two_workers_on_one_file_fire_each_deadline_once_ks1(
    tmp_path: Path,
) -> None:
    """Given two long-running workers on a SQLite file, when three processes
    write 100 cases each whose deadlines are already due, then the workers
    fire every deadline exactly once and nobody sees "database is locked"."""
    store = str(tmp_path / "shared.db")
    AfterSales(store).close()
    argv = cli_args(store, "worker", "--poll", "0.1", "--now", AFTER_ALL.isoformat())
    workers = [Lines(spawn(argv)) for _ in range(2)]
    for w in workers:
        w.wait_for('"worker_started"')
    writers = [spawn(py_args(SEED.format(store=store, n=100, prefix=p))) for p in "ABC"]
    for p in writers:
        finish(p)
    app = AfterSales(store)
    deadline = time.monotonic() + 60
    while app.read_models.backlog(AFTER_ALL)["pending"] and time.monotonic() < deadline:
        time.sleep(0.2)
    app.close()
    for w in workers:
        w.proc.send_signal(signal.SIGTERM)
    logs = []
    for w in workers:
        assert w.proc.wait(20) == 0
        logs.append(w.rest())
    keys = [(r["case"], r["deadline"]) for log in logs for r in fired_lines(log)]
    assert len(keys) == len(set(keys)) == 3 * deadline_count(100)
    for prefix in "ABC":
        assert_fired_exactly_once(store, 100, prefix)
