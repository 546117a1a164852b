"""CLI plugin: ``aftersales serve``, the HTTP API and web console on the store."""

from __future__ import annotations

import argparse
from typing import Any


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from aftersales_es.http.app import create_app

    app = create_app(args.store)
    print(
        f"aftersales: serving {args.store or 'the default store'} on http://{args.host}:{args.port}/"
    )
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, workers=1)
    return 0


def register(sub: Any) -> None:
    p = sub.add_parser("serve", help="the HTTP API (/docs) and web console (/console)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info"])
    p.set_defaults(func=_serve)
