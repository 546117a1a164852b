"""Self-contained case histories: export to JSON lines, replay with no database.

An export file is JSON lines. The first line is a header naming the schema
and its version. Then, per case: its order's facts, the exact rule-set values
the case was applied under, and its events as stored (topic plus the
transcoded state, verbatim, with each event's chain digest). :func:`replay`
rebuilds each case from such a file alone, with a mapper set up like the
application's, upcasting old event versions on the way; it refuses a file
of an unknown schema version, a broken chain of digests, or rule-set values
that do not match the digest the case recorded.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from eventsourcing.persistence import (
    DatetimeAsISO,
    DecimalAsStr,
    JSONTranscoder,
    Mapper,
    StoredEvent,
    UUIDAsHex,
)

from aftersales_es.audit.chain import GENESIS, as_uuid, link, payload
from aftersales_es.domain.base import case_uuid
from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import InvalidInputError
from aftersales_es.domain.events import EVENT_TYPES, Applied, CaseEvent
from aftersales_es.domain.order import FACTS
from aftersales_es.readmodels.projector import EVENTS_TOPIC
from aftersales_es.readmodels.views import plain

if TYPE_CHECKING:
    from aftersales_es.engine import AfterSales

SCHEMA = "aftersales-case-export"
SCHEMA_VERSION = 1
ORDER_FACTS = (*FACTS, "lines")


class ExportError(InvalidInputError):
    """An export file that cannot be replayed (unknown schema, corrupt, inconsistent)."""


def export_lines(
    app: AfterSales, case_ids: Sequence[str], *, attachments: bool = False
) -> Iterable[str]:
    """The JSON lines of an export of ``case_ids`` (header first); with
    ``attachments``, a bundle: each case's files follow its events (``blob``
    records, base64), and :func:`replay` checks them."""
    header = {"type": "header", "schema": SCHEMA, "schema_version": SCHEMA_VERSION}
    yield _dump({**header, "cases": list(case_ids)})
    for case_id in case_ids:
        case = app.get_case(case_id)
        order = app.get_order(case.order_id)
        facts = {k: plain(getattr(order, k, None)) for k in ORDER_FACTS}
        yield _dump({"type": "order", "case_id": case_id, "facts": facts})
        values = app.ruleset_of(case).model_dump(mode="json")
        digest = case.ruleset["digest"]
        yield _dump({"type": "ruleset", "case_id": case_id, "digest": digest, "values": values})
        prev = GENESIS
        holder = app.locate(case_id) if hasattr(app, "locate") else app
        for s in holder.recorder.select_events(case_uuid(case_id)):
            data = payload(app.mapper, s.state)
            prev = link(prev, as_uuid(s.originator_id), s.originator_version, s.topic, data)
            yield _dump(
                {
                    "type": "event",
                    "case_id": case_id,
                    "version": s.originator_version,
                    "topic": s.topic,
                    "state": data.decode("utf-8"),
                    "digest": prev,
                }
            )
        if attachments:
            yield from blob_lines(app, case)


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@dataclass
class Replayed:
    """A case rebuilt from an export file."""

    case: Case
    events: list[CaseEvent]
    order: dict[str, Any]
    ruleset: dict[str, Any]
    #: A bundle's files by digest, each checked against its digest (empty: no bundle).
    blobs: dict[str, bytes] = field(default_factory=dict)


def mapper() -> Mapper[UUID]:
    """A mapper like the application's (same transcodings), with no store behind it."""
    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


def _records(lines: Iterable[str]) -> list[dict[str, Any]]:
    records = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ExportError(f"line {n}: not JSON: {exc}") from None
        if not isinstance(rec, dict) or "type" not in rec:
            raise ExportError(f"line {n}: not an export record")
        records.append(rec)
    if not records or records[0]["type"] != "header" or records[0].get("schema") != SCHEMA:
        raise ExportError(f"not an aftersales case export (the first line names {SCHEMA!r})")
    version = records[0].get("schema_version")
    if version != SCHEMA_VERSION:
        raise ExportError(
            f"unsupported export schema version {version!r}: this aftersales reads version"
            f" {SCHEMA_VERSION}; replay the file with the release that wrote it"
        )
    return records[1:]


def replay(lines: Iterable[str]) -> list[Replayed]:
    """Rebuild every case in an export (no database), checking it is intact."""
    cases: dict[str, dict[str, Any]] = {}
    for rec in _records(lines):
        block = cases.setdefault(str(rec.get("case_id")), {"events": []})
        if rec["type"] == "event":
            block["events"].append(rec)
        elif rec["type"] == "blob":
            block.setdefault("blobs", []).append(rec)
        elif rec["type"] in ("order", "ruleset"):
            block[rec["type"]] = rec
        else:
            raise ExportError(f"unknown record type {rec['type']!r}")
    return [_rebuild(case_id, block) for case_id, block in cases.items()]


def blob_lines(app: AfterSales, case: Case) -> Iterable[str]:
    """One ``blob`` record per file the case cites (each content once)."""
    seen: set[str] = set()
    for ref in case.attachments:
        digest = ref["digest"]
        if digest in seen:
            continue
        seen.add(digest)
        data = app.blobs.get(digest)
        if data is None:
            where = f"case {case.case_id}: attachment {ref['name']!r} ({digest})"
            raise ExportError(f"{where} is not in {app.blobs.where}; run 'aftersales verify'")
        content = base64.b64encode(data).decode()
        record = {"type": "blob", "case_id": case.case_id, "digest": digest}
        yield _dump({**record, "media_type": ref["media_type"], "data": content})


def _check_blobs(case: Case, records: list[dict[str, Any]]) -> dict[str, bytes]:
    """A bundle's files: each is the content its digest names, none is missing."""
    found: dict[str, bytes] = {}
    for rec in records:
        digest = str(rec.get("digest"))
        try:
            data = base64.b64decode(str(rec.get("data")), validate=True)
        except ValueError:
            raise ExportError(f"case {case.case_id}: blob {digest}: not base64") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise ExportError(f"case {case.case_id}: blob {digest}: its bytes do not match")
        found[digest] = data
    for ref in case.attachments:
        if ref["digest"] not in found:
            why = f"attachment {ref['name']!r} ({ref['digest']}) is not in the bundle"
            raise ExportError(f"case {case.case_id}: {why}")
    return found


def _rebuild(case_id: str, block: dict[str, Any]) -> Replayed:
    if "order" not in block or "ruleset" not in block or not block["events"]:
        raise ExportError(f"case {case_id}: the export lacks its order, rule set or events")
    m, uuid, prev = mapper(), case_uuid(case_id), GENESIS
    events: list[CaseEvent] = []
    case: Case | None = None
    for rec in block["events"]:
        topic, version = str(rec["topic"]), int(rec["version"])
        # Resolving a topic imports a module: accept our case events only.
        if not topic.startswith(EVENTS_TOPIC) or topic[len(EVENTS_TOPIC) :] not in EVENT_TYPES:
            raise ExportError(f"case {case_id} v{version}: not a case event topic {topic!r}")
        data = str(rec["state"]).encode("utf-8")
        prev = link(prev, uuid, version, topic, data)
        if prev != rec.get("digest"):
            raise ExportError(f"case {case_id} v{version}: digest mismatch (file altered?)")
        e = cast(CaseEvent, m.to_domain_event(StoredEvent(uuid, version, topic, data)))
        try:
            case = cast(Case, e.mutate(case))  # checks the versions follow on
        except Exception as exc:
            raise ExportError(f"case {case_id} v{version}: cannot apply: {exc}") from None
        events.append(e)
    assert case is not None
    first = events[0]
    values = block["ruleset"].get("values")
    canonical = json.dumps(values, sort_keys=True, separators=(",", ":"))
    recorded = first.ruleset["digest"] if isinstance(first, Applied) else None
    if hashlib.sha256(canonical.encode()).hexdigest() != recorded:
        raise ExportError(f"case {case_id}: rule-set values do not match the recorded digest")
    blobs = _check_blobs(case, block["blobs"]) if "blobs" in block else {}
    return Replayed(case, events, block["order"]["facts"], values, blobs)
