"""CLI plugin: ``aftersales serve``, the HTTP API and web console on the store."""

from __future__ import annotations

import argparse
import os
from typing import Any

from aftersales_es.cli.common import add_command, positive
from aftersales_es.domain.errors import InvalidInputError

#: How many commands a server process runs at once (``serve --command-threads``).
COMMAND_THREADS_ENV = "AFTERSALES_COMMAND_THREADS"


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from aftersales_es.adapters.location import check_location
    from aftersales_es.engine import AfterSales
    from aftersales_es.http.app import create_app

    if args.workers > 1 and str(args.store) in ("memory", ":memory:"):
        raise InvalidInputError("serve --workers: a memory store lives in one process")
    check_location(args.store, must_exist=False)
    where = args.store or "the default store"
    print(f"aftersales: serving {where} on http://{args.host}:{args.port}/")
    options: dict[str, Any] = {"host": args.host, "port": args.port, "log_level": args.log_level}
    # Below info the access log is never shown: don't format a line per request.
    options["access_log"] = args.log_level == "info"
    if args.command_threads:  # read by create_app in each worker process
        os.environ[COMMAND_THREADS_ENV] = str(args.command_threads)
    if args.workers <= 1:
        uvicorn.run(create_app(args.store), workers=1, **options)
        return 0
    # Each worker is a process of its own (started afresh, not forked) that
    # builds its own application on the store named in its environment: no
    # connection or cache crosses a process, and the engine checks every
    # If-Match in the write itself, so workers need no shared lock.
    if args.store is not None:
        os.environ["AFTERSALES_STORE"] = str(args.store)
    AfterSales(args.store).close()  # the tables exist before the workers race to them
    uvicorn.run("aftersales_es.http.app:create_app", factory=True, workers=args.workers, **options)
    return 0


def register(sub: Any) -> None:
    """Add ``serve``."""
    p = add_command(
        sub,
        "serve",
        "the HTTP API (/docs) and web console (/console)",
        _serve,
        writes=True,
        examples=("serve --port 8000", "serve --host 0.0.0.0"),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=_port, default=8000, help="port, 1-65535 (default 8000)")
    p.add_argument(
        "--workers",
        type=positive(int, 1, strict=False),
        default=1,
        help="server processes sharing the port, each with its own application (default 1)",
    )
    p.add_argument(
        "--command-threads",
        type=positive(int, 1, strict=False),
        default=None,
        metavar="N",
        help="commands each process runs at once (default: 2 on SQLite, whose writers take"
        " turns; 10 on PostgreSQL)",
    )
    p.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info"],
        help="how much the server logs (default info)",
    )


def _port(text: str) -> int:
    port = int(positive(int, 1, strict=False)(text))
    if port > 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a port is at most 65535")
    return port
