"""Profile our side of a workload: ``python -m bench.profile commands [--size N]``.

Builds the workload's store as the benchmark does (untimed), then runs only
our side under cProfile and prints the top functions by own time and by
cumulative time, plus own time summed per package (the project's modules,
eventsourcing, pydantic, sqlite3, json, ...), which is where hot spots show.
``--out FILE`` keeps the raw stats for ``python -m pstats`` or snakeviz.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aftersales_es.engine import AfterSales

from . import gen

Setup = Callable[[Path, int], Callable[[], Any]]


def _commands(tmp: Path, n: int) -> Callable[[], Any]:
    from functools import partial

    from .commands import Ours

    p = gen.plan(gen.cases_for(n))
    return partial(Ours(tmp / "ours.db", p), gen.commands(p, limit=n))


def _load(tmp: Path, n: int) -> Callable[[], Any]:
    from .load import build_ours

    build_ours(tmp / "ours.db", n)
    app = AfterSales(tmp / "ours.db")
    return lambda: [app.get_case(f"C{i}") for i in range(n)]


def _audit(tmp: Path, n: int) -> Callable[[], Any]:
    from .audit import build, project_audit, replay_log_order

    build(tmp / "a.db", n, max(1, n // 20))
    app = AfterSales(tmp / "a.db")
    fn = project_audit() or replay_log_order
    return lambda: fn(app)


def _sweep(tmp: Path, n: int) -> Callable[[], Any]:
    from .sweep import build_due, fill_backlog

    app = AfterSales(tmp / "s.db")
    now = build_due(app, n)
    fill_backlog(app, 100 * n, now)
    return lambda: app.fire_due(now)


def _simulate(tmp: Path, n: int) -> Callable[[], Any]:
    import json

    from .simulate import through_cli

    path = tmp / "scenario.json"
    path.write_text(json.dumps(gen.scenario(gen.plan(n))), encoding="utf-8")
    return lambda: through_cli(path)


SETUPS: dict[str, tuple[Setup, int]] = {
    "commands": (_commands, 2000),
    "load": (_load, 1000),
    "audit": (_audit, 5000),
    "sweep": (_sweep, 1000),
    "simulate": (_simulate, 500),
}


def package(filename: str) -> str:
    """A coarse owner for a profiled function's file."""
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C: sqlite3, json, re, ...)"
    for marker in ("aftersales_es/", "eventsourcing/", "pydantic", "transitions/", "psycopg"):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            return marker.rstrip("/") + ("/" + tail if marker == "aftersales_es/" else "")
    if "/bench/" in filename:
        return "bench"
    return "python stdlib"


def by_package(stats: pstats.Stats) -> list[tuple[str, float]]:
    totals: dict[str, float] = defaultdict(float)
    for (filename, _, _), (_, _, tottime, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        totals[package(filename)] += tottime
    return sorted(totals.items(), key=lambda kv: -kv[1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    p.add_argument("workload", choices=sorted(SETUPS))
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    setup, default = SETUPS[args.workload]
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as tmp:
        run = setup(Path(tmp), args.size or default)
        prof = cProfile.Profile()
        prof.runcall(run)
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    total = sum(t for _, t in by_package(stats))
    print(f"profile of {args.workload} (size {args.size or default}): {total:.2f} s own time")
    print("\nown time per package:")
    for name, t in by_package(stats)[:20]:
        print(f"  {100 * t / total:5.1f}%  {t:7.3f} s  {name}")
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    print(buf.getvalue())
    if args.out:
        stats.dump_stats(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
