"""CLI plugin: ``aftersales serve``, the HTTP API and web console on the store."""

from __future__ import annotations

import argparse
import os
from typing import Any

from aftersales_es.domain.errors import InvalidInputError


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from aftersales_es.engine import AfterSales
    from aftersales_es.http.app import create_app

    if args.workers > 1 and str(args.store) in ("memory", ":memory:"):
        raise InvalidInputError("serve --workers: a memory store lives in one process")
    where = args.store or "the default store"
    print(f"aftersales: serving {where} on http://{args.host}:{args.port}/")
    options: dict[str, Any] = {"host": args.host, "port": args.port, "log_level": args.log_level}
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
    p = sub.add_parser("serve", help="the HTTP API (/docs) and web console (/console)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server processes sharing the port, each with its own application (default 1)",
    )
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info"])
    p.set_defaults(func=_serve)
