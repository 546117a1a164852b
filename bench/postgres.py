"""Workload 6: PostgreSQL: baselines, 1, 2 and 4 processes, partitions, the sweep.

Baselines (:mod:`.pgbase`): in one process, ours against the bare
eventsourcing ``Ticket`` on PostgreSQL and raw psycopg one-row
transactions, side by side a chunk at a time. Commands: the workload-1 mix
split by case over N processes (disjoint cases, so no conflicts), each with
its own application and pool, on one partition and (4 processes) on 4
partitions; a :class:`.pgbase.LockMeter` samples how many transactions
wait on the events tables' lock. Sweep: the
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
from functools import partial
from typing import Any

from . import Config, Row, gen, median, paired, timed
from .pgbase import BarePg, LockMeter, RawPg, little

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
    # The application scopes its read-model tables to ``?schema=`` itself;
    # ``schema`` may carry ``&partitions=N``.
    from aftersales_es.engine import AfterSales

    return AfterSales(f"{url}?schema={schema}")


def _bulk_orders(app: Any, orders: list[dict[str, Any]]) -> None:
    """Register the orders untimed, each in its partition."""
    if not hasattr(app, "partitions"):
        gen.bulk_orders(app, orders)
        return
    by_part: dict[int, list[dict[str, Any]]] = {}
    for o in orders:
        by_part.setdefault(app.partitions.index(app.partition(o["id"])), []).append(o)
    for i, part in by_part.items():
        gen.bulk_orders(app.partitions[i], part)


def _recorders(app: Any) -> list[Any]:
    return [p.recorder for p in getattr(app, "partitions", [app])]


def _time_inserts(app: Any) -> list[float]:
    """Wrap the recorder's insert so each transaction's duration is kept."""
    spent: list[float] = []
    for recorder in _recorders(app):
        insert = recorder.insert_events

        def timed_insert(*args: Any, _insert: Any = insert, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return _insert(*args, **kwargs)
            finally:
                spent.append(time.perf_counter() - start)

        recorder.insert_events = timed_insert
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


def commands_run(
    cfg: Config, n_workers: int, cmds: list[Any], p: gen.Plan, partitions: int = 1
) -> dict[str, Any]:
    schema = f"bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    _admin(cfg.pg_url, f"CREATE SCHEMA {schema}")
    where = schema if partitions == 1 else f"{schema}&partitions={partitions}"
    try:
        app = _open(cfg.pg_url, where)
        try:
            _bulk_orders(app, p.orders)
        finally:
            app.close()
        cases = sorted({d["case"] for _, d in cmds})
        owner = {c: i % n_workers for i, c in enumerate(cases)}
        parts: list[list[Any]] = [[] for _ in range(n_workers)]
        for name, data in cmds:
            parts[owner[data["case"]]].append((name, data))
        with LockMeter(cfg.pg_url, schema) as meter:
            summary = _summary(
                _spawn(_commands_worker, [(cfg.pg_url, where, part) for part in parts])
            )
        summary["lock_waiting"] = meter.waiting
        summary["lock_wait_ms"] = little(meter.waiting, summary["txns"], summary["wall_s"])
        summary["lock_samples"] = len(meter.samples)
        return summary
    finally:
        _drop(cfg.pg_url, schema)


def _drop(url: str, schema: str) -> None:
    """Drop a run's schema and its partitions' schemas."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        names = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = %s OR nspname LIKE %s",
            (schema, schema + "\\_p%"),
        ).fetchall()
        for (name,) in names:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')  # type: ignore[arg-type]


def baselines_run(cfg: Config, cmds: list[Any], p: gen.Plan) -> dict[str, list[float]]:
    """Ours, bare eventsourcing and raw psycopg in one process, side by side:
    commands per second of each, per repeat."""
    samples: dict[str, list[float]] = {"ours": [], "bare": [], "raw": []}
    chunk = max(1, min(500, len(cmds) // 4))
    for _ in range(cfg.repeats):
        schemas = {k: f"bench_{k}_{uuid.uuid4().hex[:8]}" for k in samples}
        for name in schemas.values():
            _admin(cfg.pg_url, f"CREATE SCHEMA {name}")
        sides: dict[str, Any] = {}
        try:
            sides["ours"] = _Ours(cfg.pg_url, schemas["ours"], p)
            sides["bare"] = BarePg(cfg.pg_url, schemas["bare"])
            sides["raw"] = RawPg(cfg.pg_url, schemas["raw"])
            spent = dict.fromkeys(sides, 0.0)
            for k, part in enumerate(gen.chunks(cmds, chunk)):
                names = list(sides)
                for name in names[k % 3 :] + names[: k % 3]:
                    seconds, _ = timed(partial(sides[name], part))
                    spent[name] += seconds
            for name, seconds in spent.items():
                samples[name].append(len(cmds) / seconds)
        finally:
            for side in sides.values():
                side.close()
            for name in schemas.values():
                _drop(cfg.pg_url, name)
    return samples


class _Ours:
    def __init__(self, url: str, schema: str, p: gen.Plan) -> None:
        self.app = _open(url, schema)
        gen.bulk_orders(self.app, p.orders)

    def __call__(self, cmds: list[Any]) -> None:
        for name, data in cmds:
            self.app.execute(name, **data)

    def close(self) -> None:
        self.app.close()


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
        _drop(cfg.pg_url, schema)


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
    rows = _baseline_rows(baselines_run(cfg, cmds, p), len(cmds))
    one: dict[str, float] = {}
    runs = [(k, 1) for k in workers] + [(workers[-1], workers[-1])]
    for k, parts in runs:
        s = commands_run(cfg, k, cmds, p, partitions=parts)
        rate = s["done"] / s["wall_s"]
        one.setdefault("cmd", rate)
        one[f"{k}x{parts}"] = rate
        s["inserts_in_flight"] = s["txns"] / s["wall_s"] * s["insert_ms_mean"] / 1000
        label = f"commands, {k} process{'es' if k > 1 else ''}" + (
            f", {parts} partitions" if parts > 1 else ""
        )
        base, base_name, op, target = one["cmd"], "1 process", "", None
        if parts > 1:
            base, base_name = one[f"{k}x1"], f"{k} processes, 1 partition"
            op, target = ">=", 1.5
        rows.append(
            Row(
                "6 postgres", label, "cmd/s", rate, base, base_name, op, target,
                note=(
                    f"waiting on the table lock: {s['lock_waiting']:.2f} txns on average"
                    f" (pg_locks sampled), so {s['lock_wait_ms']:.2f} ms per txn by Little's"
                    f" law; insert txn {s['insert_ms_mean']:.2f} ms mean,"
                    f" {s['inserts_in_flight']:.2f} in flight"
                ),
                extra=s,
            )
        )  # fmt: skip
    for k in workers:
        s = sweep_run(cfg, k, due, backlog)
        one.setdefault("sweep", s["wall_s"])
        s["inserts_in_flight"] = s["txns"] / s["wall_s"] * s["insert_ms_mean"] / 1000
        rows.append(
            Row(
                "6 postgres",
                f"sweep {due} due + {backlog} pending, {k} worker{'s' if k > 1 else ''}",
                "s", s["wall_s"], one["sweep"], "1 worker", "", None,
                higher_is_better=False,
                note=(
                    f"fired {s['done']} exactly once in {s['txns']} txns;"
                    f" insert txn {s['insert_ms_mean']:.2f} ms, in flight"
                    f" {s['inserts_in_flight']:.2f}"
                ),
                extra=s,
            )
        )  # fmt: skip
    per_s = due / one["sweep"]
    rows.append(
        Row(
            "6 postgres", "sweep deadlines/s vs commands/s, 1 process", "1/s", per_s,
            one["cmd"], "commands/s, 1 process, 1 partition", ">=", 0.8,
            note=f"{due} due fired by one worker; commands from the run above",
        )
    )  # fmt: skip
    return rows


def _baseline_rows(samples: dict[str, list[float]], n: int) -> list[Row]:
    note = f"{n:,} commands, 1 process, 1 per transaction, sides interleaved by chunk"
    out = []
    for base, name, metric, op, target in (
        ("bare", "bare ES get+1 event+save, PostgreSQL", "vs bare eventsourcing", ">=", 0.8),
        ("raw", "raw psycopg INSERT+COMMIT", "vs raw psycopg row per txn", "", None),
    ):
        out.append(
            Row(
                "6 postgres", f"commands, 1 partition, {metric}", "cmd/s",
                median(samples["ours"]), median(samples[base]), name, op, target,
                note=note, samples={"ours": samples["ours"], base: samples[base]},
                ratios=paired(samples["ours"], samples[base]),
            )
        )  # fmt: skip
    return out
