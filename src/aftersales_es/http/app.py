"""The ASGI application: :func:`create_app` wires the API, the feed and the console."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from aftersales_es.app.tokens import Tokens
from aftersales_es.engine import AfterSales
from aftersales_es.http import api, console, feed, payouts, problems
from aftersales_es.http.limits import Limits
from aftersales_es.http.service import Service

HERE = Path(__file__).parent
#: Largest request body accepted (a command or an order with its lines).
MAX_BODY = 256 * 1024
#: Largest request carrying files (a form to ``apply``, ``message``,
#: ``submit_evidence``): a few files at the rule sets' 10 MiB each; each
#: file's own limit is the rule set's, checked by the case.
MAX_UPLOAD = 32 * 2**20
#: Longest a request may take before it is answered 503.
TIMEOUT = 30.0


def create_app(
    store: str | os.PathLike[str] | None = None,
    *,
    app: AfterSales | None = None,
    settings: Mapping[str, Any] | None = None,
    max_body: int = MAX_BODY,
    max_upload: int = MAX_UPLOAD,
    timeout: float = TIMEOUT,
    command_threads: int | None = None,
) -> Any:
    """The service on ``store`` (or on an open application ``app``), as an ASGI app.

    OpenAPI is at ``/openapi.json``, the interactive docs at ``/docs`` (their
    page loads Swagger UI from a CDN; the console loads nothing from outside).
    ``command_threads``: commands run at once (default ``$AFTERSALES_COMMAND_THREADS``,
    else by store kind: :data:`~aftersales_es.http.service.COMMAND_THREADS`).
    """
    engine = app or AfterSales(store, settings=settings)
    fast = FastAPI(
        title="aftersales_es",
        summary="After-sales cases as event-sourced aggregates",
        version="0.1.0",
        redoc_url=None,
    )
    if command_threads is None:
        command_threads = int(os.environ.get("AFTERSALES_COMMAND_THREADS") or 0)
    fast.state.service = Service(engine, Tokens(engine.sql), command_threads)
    problems.install(fast, html=console.error_page)
    fast.include_router(api.router)
    fast.include_router(feed.router)
    fast.include_router(payouts.router)
    fast.include_router(console.router)
    plain_openapi = fast.openapi

    def openapi() -> dict[str, Any]:
        # The command routes read their bodies themselves: their schemas are
        # added here, where the routes' request bodies refer to them.
        schema = plain_openapi()
        schema.setdefault("components", {}).setdefault("schemas", {}).update(api.body_schemas())
        return schema

    fast.openapi = openapi  # type: ignore[method-assign]
    fast.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    @fast.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/console/cases", status_code=303)

    return Limits(
        fast,
        max_body=max_body,
        timeout=timeout,
        streams=("/events",),
        uploads=(api.upload_path, max_upload),
    )
