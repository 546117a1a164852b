"""aftersales: e-commerce after-sales cases, event-sourced, on the command line.

Human tables by default, ``--json`` for machines (before or after the
command). The store is a SQLite file (``./aftersales.db``) unless ``--store``
or ``$AFTERSALES_STORE`` says otherwise (``memory``, ``postgresql://...``).
Every failure a user can cause ends in one line on stderr naming what is
wrong and how to fix it: exit status 2 for a mistake in the input, 1 for
the environment (a store that cannot be opened, a file that cannot be
written), and nothing written. Commands import what they need when they run,
so that ``--help`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aftersales_es.cli.common import (
    COMMON,
    Parser,
    add_command,
    emit,
    instant,
    open_app,
    positive,
    views_env,
    writable_folder,
)
from aftersales_es.cli.render import progress, render_table

#: Modules that add subcommands (each has ``register(sub)``), in help order.
PLUGINS = (
    "aftersales_es.cli.orders",
    "aftersales_es.cli.cases",
    "aftersales_es.cli.evidence",
    "aftersales_es.cli.audit",
    "aftersales_es.cli.integrity",
    "aftersales_es.cli.ops",
    "aftersales_es.cli.payouts",
    "aftersales_es.cli.rules",
    "aftersales_es.cli.tokens",
    "aftersales_es.cli.serve",
)
__all__ = ["build_parser", "main", "render_table"]


def _fire_due(args: argparse.Namespace) -> int:
    fired = open_app(args).fire_due(args.now or datetime.now(UTC))
    rows = [{"case_id": f.case_id, "deadline": f.name, "due": f.due, "rule": f.rule} for f in fired]
    emit(args, rows, lambda r: render_table(r, ["case_id", "deadline", "due", "rule"]))
    return 0


def _simulate(args: argparse.Namespace) -> int:
    from aftersales_es.sim.simulate import load_scenario, run, to_json

    print(to_json(run(load_scenario(args.file))))
    return 0


def _demo(args: argparse.Namespace) -> int:
    from aftersales_es.adapters.location import check_location, location
    from aftersales_es.domain.errors import InvalidInputError
    from aftersales_es.engine import AfterSales
    from aftersales_es.sim.demo import demo_rulesets, is_empty, run_demo

    store = args.store if args.store is not None else "demo.db"
    check_location(store, must_exist=False)
    app = AfterSales(store, rulesets=demo_rulesets(), env=views_env())
    if not args.force and not is_empty(app):
        raise InvalidInputError(
            f"demo: store {location(store)} already holds data, and the demo's final sweep"
            " fires every deadline due in it; use a new store (--store demo.db) or --force"
        )
    with progress("demo") as bar:
        report = run_demo(app, cases=args.cases, seed=args.seed, progress=bar)
    if args.json:
        emit(
            args,
            {
                "summary": report.summary,
                "tables": [{"title": t, "rows": rows} for t, rows, _ in report.tables],
            },
        )
        return 0
    print(report.summary)
    for title, rows, cols in report.tables:
        print(f"\n{title}\n{render_table(rows, cols)}")
    return 0


def _diagrams(args: argparse.Namespace) -> int:
    from aftersales_es.domain.diagrams import write_all

    for path in write_all(args.out):
        print(path)
    return 0


def _core(sub: Any) -> None:
    p = add_command(
        sub,
        "fire-due",
        "fire every deadline due now (or at --now), then exit",
        _fire_due,
        writes=True,
        examples=("fire-due --now 2026-06-01T00:00:00+08:00",),
    )
    p.add_argument(
        "--now",
        type=instant,
        metavar="TIME",
        help="fire what is due at this instant, ISO 8601 (default: now)",
    )
    p = add_command(
        sub,
        "simulate",
        "run a scenario file on a fresh in-memory store; JSON out",
        _simulate,
        writes=False,
        examples=("simulate src/aftersales_es/scenarios/kuaishou-merchant-silent.yaml",),
    )
    p.add_argument("file", help="a YAML or JSON scenario (see the README's Scenarios)")
    p = add_command(
        sub,
        "demo",
        "a realistic marketplace day, on a new store (demo.db)",
        _demo,
        writes=True,
        examples=("demo --store demo.db", "demo --cases 50 --seed 1"),
    )
    p.add_argument(
        "--cases",
        type=positive(int, 1, strict=False),
        default=300,
        help="how many cases (at least 1; default 300)",
    )
    p.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    p.add_argument(
        "--force", action="store_true", help="write into a store that already holds data"
    )
    p = add_command(
        sub,
        "diagrams",
        "write the Mermaid statecharts",
        _diagrams,
        writes=False,
        examples=("diagrams --out statecharts",),
    )
    p.add_argument(
        "--out",
        type=writable_folder,
        default="statecharts",
        help="folder to write into (default: statecharts)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (core commands plus plugins)."""
    parser = Parser(
        prog="aftersales",
        description=__doc__.split("\n\n")[0].splitlines()[0],
        parents=[COMMON],
        epilog="Run 'aftersales COMMAND --help' for a command's options and examples.",
    )
    sub = parser.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for name in PLUGINS:
        importlib.import_module(name).register(sub)
    _core(sub)
    return parser


def _environment_line(exc: BaseException, store: str | None) -> str | None:
    """One line for a failure of the machine rather than of the input, or None
    for anything else (a bug, whose traceback is worth seeing)."""
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    store = store or os.environ.get("AFTERSALES_STORE") or "aftersales.db"
    errors: list[type[BaseException]] = []
    for module, name in (
        ("sqlite3", "Error"),
        ("eventsourcing.persistence", "PersistenceError"),
        ("psycopg", "Error"),
        ("psycopg_pool", "PoolTimeout"),
    ):
        if module in sys.modules:
            errors.append(getattr(sys.modules[module], name))
    if errors and isinstance(exc, tuple(errors)):
        reason = " ".join(str(exc).split()) or type(exc).__name__
        return f"store: {reason} (store {store!r} unless --store says otherwise)"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aftersales`` console script."""
    try:
        return _main(argv)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _main(argv: Sequence[str] | None) -> int:
    from aftersales_es.domain.errors import AfterSalesError

    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    args.store = getattr(args, "store", None)
    try:
        code: int = args.func(args)
    except AfterSalesError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 2))
    except BrokenPipeError:
        # The reader (e.g. ``| head``) went away; that is not an error of ours.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:
        line = _environment_line(exc, args.store)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
