"""The event feed as Server-Sent Events, resumable with ``Last-Event-ID``.

Each event's SSE id is its position in the store's log; a client that
reconnects with ``Last-Event-ID`` (or ``?after=``) gets every case event
after it, in commit order. A buyer or seller sees only its own cases'
events. ``?follow=false`` ends the stream once it has caught up.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query
from fastapi.responses import StreamingResponse

from aftersales_es.app.access import Principal
from aftersales_es.audit.feed import iter_events
from aftersales_es.http.api import Svc, Who
from aftersales_es.http.service import Service

router = APIRouter()
#: A comment line this often keeps proxies from closing an idle stream.
HEARTBEAT = 15.0


def _mine(svc: Service, who: Principal, event: dict[str, Any]) -> bool:
    if who.reads_all:
        return True
    seller, buyer = svc.parties(event["case_id"])
    return seller == who.seller if who.role == "seller" else buyer == who.buyer


def frames(
    svc: Service, who: Principal, after: int, follow: bool, poll: float, page: int = 500
) -> Iterator[str]:
    """The SSE frames: events after ``after``; then, if ``follow``, new ones as they come."""
    yield "retry: 2000\n\n"
    quiet = time.monotonic()
    while True:
        for position, event in iter_events(svc.app, after=after, page=page):
            after = position
            if _mine(svc, who, event):
                data = json.dumps(event, sort_keys=True, ensure_ascii=False)
                yield f"id: {position}\nevent: {event['type']}\ndata: {data}\n\n"
                quiet = time.monotonic()
        if not follow:
            return
        if time.monotonic() - quiet > HEARTBEAT:
            yield ": keep-alive\n\n"
            quiet = time.monotonic()
        time.sleep(poll)


@router.get("/events", tags=["feed"])
def events(
    who: Who,
    svc: Svc,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
    follow: bool = True,
) -> StreamingResponse:
    """Every case event the principal may see, as ``text/event-stream``."""
    start = after or 0
    if last_event_id and last_event_id.strip().isdigit():
        start = int(last_event_id.strip())
    return StreamingResponse(
        frames(svc, who, start, follow, poll=0.5),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
