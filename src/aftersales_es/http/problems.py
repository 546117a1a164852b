"""Errors as ``application/problem+json`` (RFC 9457), never a stack trace.

Every refusal of the engine becomes a problem document carrying the rule id,
the case, its state and the command, so a client acts on fields, not on
message text. Anything unexpected is logged here and answered with a bare
500 that says nothing about the code.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from aftersales_es.app.access import AccessDeniedError
from aftersales_es.app.idempotency import IdempotencyKeyReusedError
from aftersales_es.domain.errors import (
    AfterSalesError,
    AlreadyExistsError,
    CommandRefusedError,
    ConcurrencyError,
    InvalidInputError,
    NotFoundError,
    VersionMismatchError,
)

PROBLEM = "application/problem+json"
TYPE_BASE = "https://aftersales-es.invalid/problems/"
log = logging.getLogger("aftersales_es.http")


class Problem(Exception):
    """An HTTP-level problem raised by the routes (412, 401, 413, ...)."""

    def __init__(self, status: int, kind: str, title: str, detail: str = "", **extra: Any) -> None:
        super().__init__(detail or title)
        self.status, self.kind, self.title, self.detail, self.extra = (
            status,
            kind,
            title,
            detail,
            extra,
        )


def problem(status: int, kind: str, title: str, detail: str = "", **extra: Any) -> JSONResponse:
    """A problem+json response."""
    body = {"type": TYPE_BASE + kind, "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def from_error(exc: AfterSalesError) -> JSONResponse:
    """The problem for an engine error."""
    if isinstance(exc, NotFoundError):
        return problem(404, "not-found", "Not found", str(exc))
    if isinstance(exc, CommandRefusedError):
        status, kind = (
            (403, "forbidden") if isinstance(exc, AccessDeniedError) else (409, "refused")
        )
        return problem(
            status,
            kind,
            "Command refused",
            str(exc),
            rule=exc.rule,
            case=exc.case_id,
            state=exc.state,
            command=exc.command,
            reason=exc.reason,
        )
    if isinstance(exc, VersionMismatchError):
        return problem(
            412,
            "precondition-failed",
            "Precondition failed",
            str(exc),
            case=exc.case_id,
            state=exc.state,
            command=exc.command,
            version=exc.version,
            expected=exc.expected,
        )
    if isinstance(exc, IdempotencyKeyReusedError):
        return problem(422, "idempotency-key-reused", "Idempotency key reused", str(exc))
    if isinstance(exc, InvalidInputError):
        return problem(422, "invalid-input", "Invalid input", str(exc))
    if isinstance(exc, AlreadyExistsError):
        return problem(409, "already-exists", "Already exists", str(exc))
    if isinstance(exc, ConcurrencyError):
        return problem(409, "conflict", "Concurrent change", str(exc))
    log.warning("unmapped engine error: %s", exc)
    return problem(400, "error", "Request failed", str(exc))


#: Renders a problem as an HTML page for the console: (request, problem body) -> response.
HtmlPage = Callable[[Request, dict[str, Any]], Response]


def install(app: FastAPI, html: HtmlPage | None = None, html_prefix: str = "/console") -> None:
    """Register the problem handlers on ``app``; console pages get ``html``'s page."""

    def answer(request: Request, resp: JSONResponse) -> Response:
        if html is not None and request.url.path.startswith(html_prefix):
            return html(request, json.loads(bytes(resp.body)))
        return resp

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return answer(request, problem(exc.status, exc.kind, exc.title, exc.detail, **exc.extra))

    async def on_engine(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, AfterSalesError)
        return answer(request, from_error(exc))

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        fields = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))}
            for e in exc.errors()
        ]
        resp = problem(422, "invalid-input", "Invalid input", "see errors", errors=fields)
        return answer(request, resp)

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return answer(request, problem(exc.status_code, "http", str(exc.detail)))

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("internal error", exc_info=exc)
        return answer(request, problem(500, "internal", "Internal error"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(AfterSalesError, on_engine)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)
