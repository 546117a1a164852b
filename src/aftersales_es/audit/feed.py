"""Events out: an ordered, resumable feed of every case event.

An embedding service publishes webhooks or keeps its own read models from
:func:`iter_events`. Each item carries its ``position`` (the notification id
in the store's log); a consumer stores the last position it handled *in the
same transaction as its own writes* and resumes with ``after=position``, so
it sees every event exactly once, in the order the store committed them.

The order is safe to tail: on PostgreSQL eventsourcing inserts under an
exclusive table lock, so ids become visible in commit order (no gap is ever
filled in later); on SQLite there is one writer at a time. Positions are
increasing but not contiguous: order and rule-set records share the log and
are skipped here.

A store of partitions has one log per partition. Its feed is a merged view,
a page of each partition in turn, and its position is a composite cursor
(:func:`cursor`): each partition's position, ``.``-separated (``"12.0.7"``).
Each partition's events come in its own log order; events of different
partitions (never of the same case) come in no particular order.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from aftersales_es.domain.errors import InvalidInputError
from aftersales_es.domain.events import Applied, CaseEvent
from aftersales_es.engine import AfterSales
from aftersales_es.partitioned import MergedProjector
from aftersales_es.readmodels.projector import EVENTS_TOPIC
from aftersales_es.readmodels.views import event_dict


class _CaseIds:
    """Case id of a stored case uuid, read once from the case's first event."""

    def __init__(self, app: AfterSales) -> None:
        self.app = app
        self.known: dict[UUID, str] = {}

    def remember(self, e: CaseEvent) -> str:
        key = e.originator_id
        if key not in self.known:
            if len(self.known) >= 100_000:  # a long follow: bound the memory
                self.known.clear()
            if isinstance(e, Applied):
                self.known[key] = e.case_id
            else:
                # Resumed after the case's Applied event: read just that one.
                first = self.app.recorder.select_events(key, lte=1)
                applied = self.app.mapper.to_domain_event(first[0])
                assert isinstance(applied, Applied), applied
                self.known[key] = applied.case_id
        return self.known[key]


def _scan(
    app: AfterSales, after: int, page: int, ids: _CaseIds
) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """Every notification after ``after``: its position, and its case event or None."""
    position = after
    while True:
        notes = app.recorder.select_notifications(start=position + 1, limit=page)
        for note in notes:
            position = note.id
            e = app.mapper.to_domain_event(note) if note.topic.startswith(EVENTS_TOPIC) else None
            if isinstance(e, CaseEvent):
                yield note.id, {"case_id": ids.remember(e), **event_dict(e)}
            else:
                yield note.id, None
        if len(notes) < page:
            return


Position = int | str


def cursor(app: Any, after: Position) -> list[int]:
    """Each partition's position in ``after`` (an int, or a composite cursor);
    one position for a store without partitions."""
    n = len(getattr(app, "partitions", [app]))
    if isinstance(after, int) or "." not in after:
        value = int(after)
        if value == 0 or n == 1:
            return [value] * n
    else:
        value = -1
    parts = str(after).split(".")
    if len(parts) != n or not all(x.isdigit() for x in parts):
        raise InvalidInputError(
            f"after {after!r}: give 0 or the position of an event this store printed"
            + (f" ({n} positions, like 0.0.0)" if n > 1 else "")
        )
    return [int(x) for x in parts]


def _merged(
    app: Any, after: Position, page: int, follow: bool, poll: float, stop: threading.Event
) -> Iterator[tuple[Position, dict[str, Any]]]:
    """The feed of a store of partitions: a page of each in turn (see the module doc)."""
    positions = cursor(app, after)
    ids = [_CaseIds(p) for p in app.partitions]
    while not stop.is_set():
        moved = False
        for i, part in enumerate(app.partitions):
            for seen, item in itertools.islice(_scan(part, positions[i], page, ids[i]), page):
                positions[i], moved = seen, True
                if item is not None:
                    yield MergedProjector.cursor(positions), item
                    if stop.is_set():
                        return
        if not moved:
            if not follow:
                return
            stop.wait(poll)


def iter_events(
    app: AfterSales, after: Position = 0, page: int = 1000
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Every case event after position ``after``, in log order.

    Yields ``(position, event)`` where ``event`` is the SPEC §4 event dict
    (``type``, ``at``, ``version``, ``auto``, fields) plus ``case_id``. Reads
    the log in pages of ``page`` and stops at the end of what is committed;
    call again with the last position to continue.
    """
    if hasattr(app, "partitions"):
        yield from _merged(app, after, page, False, 0.0, threading.Event())
        return
    for position, item in _scan(app, cursor(app, after)[0], page, _CaseIds(app)):
        if item is not None:
            yield position, item


def follow(
    app: AfterSales,
    after: Position = 0,
    *,
    poll: float = 1.0,
    stop: threading.Event | None = None,
    page: int = 1000,
) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Like :func:`iter_events`, then keeps polling for new events until ``stop`` is set."""
    stop = stop or threading.Event()
    if hasattr(app, "partitions"):
        yield from _merged(app, after, page, True, poll, stop)
        return
    position, ids = cursor(app, after)[0], _CaseIds(app)
    while not stop.is_set():
        for seen, item in _scan(app, position, page, ids):
            position = seen  # resume after it, case event or not
            if item is not None:
                yield seen, item
                if stop.is_set():
                    return
        stop.wait(poll)
