"""Request size and time limits, as a plain ASGI middleware.

A body larger than ``max_body`` (``uploads``: a larger limit for a form
posted to a path that takes files) is refused with 413 before it is read in
full (by ``Content-Length`` up front, and by counting a chunked body). A
request that has not started its response within ``timeout`` seconds gets
503 with ``Retry-After``; the worker thread finishes its command, whose
outcome a retry with the same ``Idempotency-Key`` returns. Streams (the
event feed) are exempt from the timeout: they are long by design.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _problem(send: Send, status: int, title: str, headers: list[tuple[bytes, bytes]]) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/problem+json"), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


class Limits:
    """Wraps an ASGI app with a body-size limit and a time-to-response limit."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body: int,
        timeout: float,
        streams: tuple[str, ...] = (),
        uploads: tuple[Callable[[str], bool], int] | None = None,
    ) -> None:
        self.app, self.max_body, self.timeout, self.streams = app, max_body, timeout, streams
        self.uploads = uploads

    def limit(self, scope: Scope, headers: dict[bytes, bytes]) -> int:
        """The body limit of a request: larger for a form posted where files go."""
        if self.uploads is not None and self.uploads[0](scope["path"]):
            kind = headers.get(b"content-type", b"").partition(b";")[0].strip().lower()
            if kind == b"multipart/form-data":
                return self.uploads[1]
        return self.max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        max_body = self.limit(scope, headers)
        if length is not None and (not length.isdigit() or int(length) > max_body):
            await _problem(send, 413, "Request body too large", [])
            return
        seen = 0
        started = asyncio.Event()

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > max_body:
                raise _TooLarge
            return message

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.set()
            await send(message)

        call = self.app(scope, counted, watched)
        if scope["path"].startswith(self.streams):
            await call
            return
        try:
            # A deadline on this task, not a task of its own per request.
            async with asyncio.timeout(self.timeout):
                await call
        except _TooLarge:
            if not started.is_set():
                await _problem(send, 413, "Request body too large", [])
        except TimeoutError:
            if not started.is_set():
                await _problem(send, 503, "Request timed out", [(b"retry-after", b"1")])
