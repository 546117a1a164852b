"""Attachments against their blobs: what ``verify`` checks and ``blob gc`` removes.

Every attachment a case event cites must be in the blob store with exactly
the bytes its digest names: a missing blob is ``blob_missing``, other bytes
``blob_altered``. A blob no event cites is ``blob_unreferenced``: what a
crash between writing a command's files and saving its events leaves (see
:mod:`aftersales_es.app.attachments`); :func:`collect` removes those older
than a grace period, so a command in flight keeps its files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from aftersales_es.audit.chain import Finding
from aftersales_es.domain.events import EvidenceSubmitted, MessagePosted

if TYPE_CHECKING:
    from aftersales_es.engine import AfterSales

#: The events that cite attachments.
CITING = (MessagePosted, EvidenceSubmitted)
PAGE = 500


@dataclass(frozen=True)
class Citation:
    """Where an attachment is cited: the case, the event's version, its file name."""

    case_uuid: UUID
    version: int
    name: str


def _citing_events(app: AfterSales, case_ids: Sequence[str]) -> Iterator[Any]:
    if case_ids:
        for case_id in case_ids:
            yield from (e for e in app.case_events(case_id) if isinstance(e, CITING))
        return
    topics = [getattr(cls, "TOPIC") for cls in CITING]  # noqa: B009 (set by pin_topic)
    start = 1
    while True:
        page = app.recorder.select_notifications(start=start, limit=PAGE, topics=topics)
        for n in page:
            yield app.mapper.to_domain_event(n)
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def citations(app: AfterSales, case_ids: Sequence[str] = ()) -> dict[str, list[Citation]]:
    """Every cited digest with where it is cited (all cases, or ``case_ids``)."""
    found: dict[str, list[Citation]] = {}
    for e in _citing_events(app, case_ids):
        for ref in e.attachments:
            cite = Citation(e.originator_id, e.originator_version, str(ref["name"]))
            found.setdefault(str(ref["digest"]), []).append(cite)
    return found


def _case_id(app: AfterSales, uuid: UUID, names: dict[UUID, str]) -> str:
    if uuid not in names:
        first = app.recorder.select_events(uuid, limit=1)
        event = app.mapper.to_domain_event(first[0]) if first else None
        names[uuid] = str(getattr(event, "case_id", uuid.hex))
    return names[uuid]


def check(app: AfterSales, case_ids: Sequence[str] = ()) -> list[Finding]:
    """The attachment findings of ``verify``: missing, altered, unreferenced blobs.

    Unreferenced blobs are looked for only when every case is checked. A
    store of partitions is checked a partition at a time (a case's files
    live in its partition).
    """
    if hasattr(app, "partitions"):
        locate = getattr(app, "locate")  # noqa: B009 (only a store of partitions has it)
        wanted = [[c for c in case_ids if locate(c) is part] for part in app.partitions]
        return [
            f
            for part, ids in zip(app.partitions, wanted, strict=True)
            if ids or not case_ids
            for f in check(part, ids)
        ]
    cited = citations(app, case_ids)
    names: dict[UUID, str] = {}
    findings = []
    for digest, where in sorted(cited.items()):
        first = where[0]
        label = f"case {_case_id(app, first.case_uuid, names)}"
        data = app.blobs.get(digest)
        uuid, version = first.case_uuid.hex, first.version
        if data is None:
            detail = f"{first.name!r} ({digest}) is not in {app.blobs.where}"
            findings.append(Finding(label, uuid, version, "blob_missing", detail))
        elif hashlib.sha256(data).hexdigest() != digest:
            detail = f"{first.name!r}: the stored bytes are not {digest}"
            findings.append(Finding(label, uuid, version, "blob_altered", detail))
    if not case_ids:
        for digest, _ in app.blobs.digests():
            if digest not in cited:
                detail = "no event cites it (left by a failed command?); 'aftersales blob gc'"
                findings.append(Finding(f"blob {digest[:12]}", "", 0, "blob_unreferenced", detail))
    return findings


def collect(app: AfterSales, grace: timedelta, now: datetime | None = None) -> list[str]:
    """Remove the blobs no event cites that were written more than ``grace`` ago."""
    if hasattr(app, "partitions"):  # each partition's blobs against its own events
        return [d for part in app.partitions for d in collect(part, grace, now)]
    cited = citations(app)
    cutoff = (now or datetime.now(UTC)) - grace
    removed = []
    for digest, written in list(app.blobs.digests()):
        if digest not in cited and written <= cutoff:
            app.blobs.delete(digest)
            removed.append(digest)
    return removed
