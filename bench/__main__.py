"""``python -m bench [--quick] [--only a,b] [--repeats N] [--scale F] [--check]``.

Runs the workloads, prints the table (workload, ours, baseline, ratio,
target, pass/fail) and writes it as JSON: ``bench/results.json`` in full
mode, ``bench/results-quick.json`` in quick mode (so a CI run never
overwrites the figures the README quotes). Exit status: 1 if a workload
failed to run (or, with ``--check`` in full mode, missed its target).
``--merge`` keeps the rows of workloads not run this time, so a slow suite
can be run a workload at a time when the machine is quiet.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import sqlite3
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from . import Config, Row

WORKLOADS = ("commands", "load", "audit", "sweep", "simulate", "postgres", "http", "startup")
HERE = Path(__file__).parent


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value != value:  # NaN
        return "nan"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def verdict(row: Row, quick: bool) -> str:
    passed = row.passed
    if passed is None:
        return "info"
    if quick:
        return "(pass)" if passed else "(fail)"
    return "pass" if passed else "FAIL"


def table(rows: list[Row], quick: bool) -> str:
    header = ["workload", "metric", "ours", "baseline", "ratio", "target", "result"]
    cells = [
        [
            r.workload,
            r.metric,
            f"{fmt(r.ours)} {r.unit}",
            f"{fmt(r.baseline)} {r.unit}" if r.baseline is not None else "-",
            fmt(r.ratio),
            f"{r.op} {r.target}" if r.op else "-",
            verdict(r, quick),
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    right = {2, 3, 4}
    lines = []
    for line in [header, ["-" * w for w in widths], *cells]:
        lines.append(
            "  ".join(
                c.rjust(w) if i in right else c.ljust(w)
                for i, (c, w) in enumerate(zip(line, widths, strict=True))
            ).rstrip()
        )
    lines.append("")
    for i, r in enumerate(rows, 1):
        lines.append(f"[{i}] {r.workload} / {r.metric}: baseline = {r.baseline_name}. {r.note}")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    def version(pkg: str) -> str:
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return "-"

    try:
        commit = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True,
            text=True,
            cwd=HERE,
            check=False,
        ).stdout.strip()
    except OSError:
        commit = ""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu": cpu or platform.processor(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "eventsourcing": version("eventsourcing"),
        "pydantic": version("pydantic"),
        "commit": commit,
        "loadavg_start": os.getloadavg(),
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI sizes; checks shapes, not timings")
    p.add_argument("--only", default="", help=f"comma-separated subset of {','.join(WORKLOADS)}")
    p.add_argument("--repeats", type=int, default=None, help="runs per side (default 3; quick 1)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply full-mode sizes")
    p.add_argument("--out", type=Path, default=None, help="where to write the JSON")
    p.add_argument("--workdir", type=Path, default=None, help="where scratch databases go")
    p.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", Config.pg_url))
    p.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    p.add_argument(
        "--merge", action="store_true", help="keep other workloads' rows already in --out"
    )
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(WORKLOADS)
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        print(f"unknown workload(s): {', '.join(unknown)} (known: {', '.join(WORKLOADS)})")
        return 2
    cfg = Config(
        quick=args.quick,
        repeats=args.repeats or (1 if args.quick else 3),
        scale=args.scale,
        pg_url=args.pg_url,
    )
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
        cfg.workdir = args.workdir
    info = machine()
    rows: list[Row] = []
    errors: dict[str, str] = {}
    runs: dict[str, dict[str, Any]] = {}
    for name in names:
        print(f"-- {name} ...", file=sys.stderr, flush=True)
        run: dict[str, Any] = {"started": datetime.now(UTC).isoformat(), "repeats": cfg.repeats}
        run.update(scale=cfg.scale, commit=info["commit"], loadavg_start=os.getloadavg())
        t0 = time.perf_counter()
        try:
            module = importlib.import_module(f"bench.{name}")
            got: list[Row] = module.run(cfg)
        except Exception:
            errors[name] = traceback.format_exc()
            print(errors[name], file=sys.stderr)
            continue
        finally:
            run.update(seconds=round(time.perf_counter() - t0, 1), loadavg_end=os.getloadavg())
            runs[name] = run
        for r in got:
            r.extra.setdefault("module", name)
            print(f"   {r.metric}: {fmt(r.ours)} vs {fmt(r.baseline)} {r.unit}", file=sys.stderr)
        rows += got
    mode = "quick" if cfg.quick else "full"
    out = args.out or HERE / ("results-quick.json" if cfg.quick else "results.json")
    if args.merge and out.exists():
        old = json.loads(out.read_text(encoding="utf-8"))
        kept = [d for d in old.get("rows", []) if d.get("extra", {}).get("module") not in runs]
        rows = [_row(d) for d in kept] + rows
        runs = {**{k: v for k, v in old.get("runs", {}).items() if k not in runs}, **runs}
        rows.sort(key=lambda r: r.workload)
    print(f"\naftersales_es benchmarks ({mode}, medians of the repeats)")
    print(f"{info['cpu']} x{info['cpus']}, Python {info['python']}, SQLite {info['sqlite']}")
    print(table(rows, cfg.quick))
    if cfg.quick:
        print("quick mode: sizes too small to judge; (pass)/(fail) are indicative only")
    for name, tb in errors.items():
        print(f"\nworkload {name} FAILED:\n{tb}")
    result = {
        "mode": mode,
        "machine": info,
        "runs": runs,
        "rows": [r.as_dict() for r in rows],
        "errors": errors,
    }
    out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
    print(f"\nwritten: {out}")
    if errors:
        return 1
    if args.check and not cfg.quick and any(r.passed is False for r in rows):
        return 1
    return 0


def _row(d: dict[str, Any]) -> Row:
    """A row read back from a results file."""
    return Row(**{k: v for k, v in d.items() if k in Row.__dataclass_fields__})


if __name__ == "__main__":
    sys.exit(main())
