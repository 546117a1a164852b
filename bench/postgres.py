"""Workload 6: PostgreSQL with 1, 2 and 4 worker processes (reported, no target).

Commands: the workload-1 mix split by case over N processes (disjoint
cases, so no conflicts), each with its own application and pool. Sweep: the
workload-4 stores (due cases + 1,000,000 not-due index rows), fired by N
processes at once (the project's ``Worker`` when it exists, which claims
rows with ``FOR UPDATE SKIP LOCKED``; else ``fire_due``). Every run gets a
fresh schema, dropped afterwards.

eventsourcing takes ``LOCK TABLE ... IN EXCLUSIVE MODE`` on every insert,
so writers of one application are serialised. Each process times its
inserts (lock wait + insert + commit). By Little's law, throughput x mean
insert time is the mean number of transactions inside an insert at any
moment; only one of them can hold the lock, so a value near or above 1
means the table lock is busy all the time and bounds write throughput.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import os
import time
import uuid
from datetime import datetime
from typing import Any

from . import Config, Row, gen

WORKERS = (1, 2, 4)


def reachable(url: str) -> str | None:
    """None if PostgreSQL answers, else why not."""
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}".splitlines()[0]
    return None


def _admin(url: str, sql: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql)


def _open(url: str, schema: str) -> Any:
    # The application scopes its read-model tables to ``?schema=`` itself.
    from aftersales_es.engine import AfterSales

    return AfterSales(f"{url}?schema={schema}")


def _time_inserts(app: Any) -> list[float]:
    """Wrap the recorder's insert so each transaction's duration is kept."""
    spent: list[float] = []
    insert = app.recorder.insert_events

    def timed_insert(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return insert(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - start)

    app.recorder.insert_events = timed_insert
    return spent


def _commands_worker(url: str, schema: str, cmds: list[Any], barrier: Any, out: Any) -> None:
    app = _open(url, schema)
    try:
        spent = _time_inserts(app)
        barrier.wait()
        start = time.time()
        for name, data in cmds:
            app.execute(name, **data)
        end = time.time()
        out.put({"start": start, "end": end, "done": len(cmds), "inserts": spent})
    finally:
        app.close()


def _sweep_worker(url: str, schema: str, now: datetime, barrier: Any, out: Any) -> None:
    app = _open(url, schema)
    try:
        spent = _time_inserts(app)
        try:
            worker_mod = importlib.import_module("aftersales_es.app.worker")
        except ModuleNotFoundError:
            worker_mod = None
        barrier.wait()
        start = time.time()
        if worker_mod is not None:
            w = worker_mod.Worker(app, clock=lambda: now, log=lambda record: None)
            done = w.sweep()
        else:
            done = len(app.fire_due(now))
        end = time.time()
        out.put({"start": start, "end": end, "done": done, "inserts": spent})
    finally:
        app.close()


def _spawn(target: Any, args_per_worker: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    barrier, out = ctx.Barrier(len(args_per_worker)), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*a, barrier, out)) for a in args_per_worker]
    for p in procs:
        p.start()
    results = [out.get(timeout=3600) for _ in procs]
    for p in procs:
        p.join()
        assert p.exitcode == 0, p.exitcode
    return results


def _summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    inserts = [s for r in results for s in r["inserts"]]
    return {
        "wall_s": wall,
        "done": sum(r["done"] for r in results),
        "txns": len(inserts),
        "insert_ms_mean": 1000 * sum(inserts) / max(1, len(inserts)),
    }


def commands_run(cfg: Config, n_workers: int, cmds: list[Any], p: gen.Plan) -> dict[str, Any]:
    schema = f"bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin(cfg.pg_url, f"CREATE SCHEMA {schema}")
    try:
        app = _open(cfg.pg_url, schema)
        try:
            gen.bulk_orders(app, p.orders)
        finally:
            app.close()
        cases = sorted({d["case"] for _, d in cmds})
        owner = {c: i % n_workers for i, c in enumerate(cases)}
        parts: list[list[Any]] = [[] for _ in range(n_workers)]
        for name, data in cmds:
            parts[owner[data["case"]]].append((name, data))
        return _summary(_spawn(_commands_worker, [(cfg.pg_url, schema, part) for part in parts]))
    finally:
        _admin(cfg.pg_url, f"DROP SCHEMA {schema} CASCADE")


def sweep_run(cfg: Config, n_workers: int, due: int, backlog: int) -> dict[str, Any]:
    from .sweep import build_due, fill_backlog

    schema = f"bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin(cfg.pg_url, f"CREATE SCHEMA {schema}")
    try:
        app = _open(cfg.pg_url, schema)
        try:
            now = build_due(app, due)
            fill_backlog(app, backlog, now)
        finally:
            app.close()
        summary = _summary(_spawn(_sweep_worker, [(cfg.pg_url, schema, now)] * n_workers))
        assert summary["done"] == due, (summary["done"], due)  # each fired exactly once
        return summary
    finally:
        _admin(cfg.pg_url, f"DROP SCHEMA {schema} CASCADE")


def run(cfg: Config) -> list[Row]:
    why = reachable(cfg.pg_url)
    if why is not None:
        return [Row("6 postgres", "skipped", "-", 0.0, None, "-", "", None, note=why)]
    workers = WORKERS[:2] if cfg.quick else WORKERS
    # Smaller than workloads 1 and 4 (5,000 commands, 2,000 due): a PostgreSQL
    # commit costs milliseconds here, and every size runs three times.
    n = cfg.size(5_000, 150)
    due, backlog = cfg.size(2_000, 50), cfg.size(1_000_000, 5_000)
    p = gen.plan(gen.cases_for(n))
    cmds = gen.commands(p, limit=n)
    rows: list[Row] = []
    one: dict[str, float] = {}
    for k in workers:
        s = commands_run(cfg, k, cmds, p)
        rate = s["done"] / s["wall_s"]
        one.setdefault("cmd", rate)
        s["inserts_in_flight"] = s["txns"] / s["wall_s"] * s["insert_ms_mean"] / 1000
        rows.append(
            Row(
                "6 postgres",
                f"commands, {k} worker{'s' if k > 1 else ''}",
                "cmd/s",
                rate,
                one["cmd"],
                "1 worker",
                "",
                None,
                note=(
                    f"insert txn {s['insert_ms_mean']:.2f} ms mean (lock wait+hold);"
                    f" inserts in flight {s['inserts_in_flight']:.2f} (>= ~1: table lock saturated)"
                ),
                extra=s,
            )
        )
    for k in workers:
        s = sweep_run(cfg, k, due, backlog)
        one.setdefault("sweep", s["wall_s"])
        s["inserts_in_flight"] = s["txns"] / s["wall_s"] * s["insert_ms_mean"] / 1000
        rows.append(
            Row(
                "6 postgres",
                f"sweep {due} due + {backlog} pending, {k} worker{'s' if k > 1 else ''}",
                "s",
                s["wall_s"],
                one["sweep"],
                "1 worker",
                "",
                None,
                higher_is_better=False,
                note=(
                    f"fired {s['done']} exactly once; insert txn {s['insert_ms_mean']:.2f} ms,"
                    f" in flight {s['inserts_in_flight']:.2f}"
                ),
                extra=s,
            )
        )
    return rows
