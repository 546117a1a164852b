"""Bulk replay for the audit: every case's events, read in case order and folded
into the rows the read models should hold.

The case events are read straight from the event table in primary-key order
(case, then version), a page at a time, so each case's history arrives whole
and is folded on its own: nothing is kept once a case is done, and memory
stays flat however many cases there are.

Decoding is the hot path. When the store's mapper is plain JSON (no cipher,
no compressor, the standard ``Decimal`` and ``datetime`` transcodings), a
payload is parsed with ``json.loads`` and its fields read as stored: amounts
stay the strings the transcoder wrote (``str(Decimal)``), instants the
``isoformat()`` strings, so no event object, ``Decimal`` or ``datetime`` is
built per event. Anything else goes through the application's own mapper
(decryption, decompression, upcasting, its key-error message) and is
re-encoded to the same JSON shape, so one fold serves both paths. A payload
stored at an older class version than its class's is always taken through
the mapper, so upcasters apply exactly as on load.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Protocol
from uuid import UUID

from eventsourcing.persistence import JSONTranscoder, Mapper, StoredEvent

from aftersales_es.adapters.sql import Cursor
from aftersales_es.audit.chain import payload
from aftersales_es.audit.export import mapper as plain_mapper
from aftersales_es.domain import events as ev
from aftersales_es.readmodels.projector import EVENTS_TOPIC, POINTS, utc_key

if TYPE_CHECKING:
    from aftersales_es.engine import AfterSales


class Other(Protocol):
    """Takes the rows of other aggregates' ``topics`` that the case scan reads."""

    topics: frozenset[str]

    def row(self, raw: Any, version: int, topic: str, state: bytes) -> None: ...


class Fanout:
    """Several takers of other aggregates' rows in the one scan, by topic."""

    def __init__(self, *takers: Other) -> None:
        self.by_topic = {topic: t for t in takers for topic in t.topics}
        self.topics = frozenset(self.by_topic)

    def row(self, raw: Any, version: int, topic: str, state: bytes) -> None:
        self.by_topic[topic].row(raw, version, topic, state)


#: Case events read per query (keyset paging: each page is a fresh index seek).
PAGE = 1000
Progress = Callable[[int, int], None]
Data = dict[str, Any]

#: Each case event's current class version: older payloads need upcasting.
_VERSIONS = {name: getattr(cls, "class_version", 1) for name, cls in ev.EVENT_TYPES.items()}
_PREFIX = len(EVENTS_TOPIC)
#: ``_`` is a LIKE wildcard: escaped so the prefix matches literally.
_LIKE = EVENTS_TOPIC.replace("_", "!_") + "%"
_SKIP = ("originator_id", "originator_version")
#: ``json.loads`` minus its per-call setup: the transcoder writes compact UTF-8
#: JSON, one object per payload, so no encoding sniffing or whitespace checks.
_raw_decode = json.JSONDecoder().raw_decode


#: Re-encodes an event the mapper decoded (an upcast one) as the fast path reads it.
_PLAIN = plain_mapper().transcoder


def plain_json(mapper: Mapper[Any]) -> bool:
    """True when payloads, once decrypted and decompressed, are the JSON the fast path reads."""
    t = mapper.transcoder
    return (
        type(t) is JSONTranscoder
        and getattr(t.types.get(Decimal), "name", None) == "decimal_str"
        and getattr(t.types.get(datetime), "name", None) == "datetime_iso"
    )


@lru_cache(maxsize=1024)  # an instant often recurs within a case (refund, deduction)
def utc(iso: str) -> str:
    """:func:`.projections.utc_key` of an ``isoformat()`` string, without ``strftime``
    (the slow part); years before 1000 take ``utc_key`` itself, whose ``%Y``
    does not pad them."""
    at = datetime.fromisoformat(iso).astimezone(UTC)
    if at.year < 1000:
        return utc_key(at)
    return at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _uuid_text(raw: Any) -> str:
    """A stored originator id as the read models key it (``str(UUID)``); SQLite
    stores ``UUID.hex``, so hyphens are put in, not a ``UUID`` built per case."""
    if isinstance(raw, UUID):
        return str(raw)
    if len(raw) == 32:
        return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"
    return str(UUID(raw))


def _text(value: Any) -> Any:
    """A transcoded value as stored (``{"_type_", "_data_"}`` -> its data string)."""
    return value["_data_"] if isinstance(value, dict) else value


@dataclass(slots=True)
class Derived:
    """What one case's events imply for the read models."""

    key: str  #: the case's uuid as text, as the read models key it
    row: tuple[Any, ...]  #: ``CASE_FIELDS`` values
    #: (version, seller_id, reason, amount, currency, at_utc, at, rule), by version
    deductions: list[tuple[Any, ...]] = field(default_factory=list)
    deadlines: str = "[]"  #: :func:`deadline_key` of the pending deadlines
    events: int = 0
    #: (version, at, amount, fee, lines) of each refund, as stored
    refunds: list[tuple[Any, ...]] = field(default_factory=list)
    ruleset: str = ""  #: the digest of the rule set the case was applied under
    #: (version, field, found, expected) where an event disagrees with itself
    problems: list[tuple[Any, ...]] = field(default_factory=list)
    #: each refund's position in the log, by version
    refunded_at: dict[int, int] = field(default_factory=dict)


def deadline_key(deadlines: list[Data]) -> str:
    """Pending deadlines as one canonical string of (name, due_utc, due, action, rule)."""
    rows = sorted(
        (d["name"], utc(_text(d["due"])), _text(d["due"]), d["action"], d["rule"])
        for d in deadlines
    )
    return json.dumps(rows, separators=(",", ":"))


class _Fold:
    """One case's columns, event by event: later events change only what they carry."""

    __slots__ = ("cols", "deductions", "events", "last_at", "pending", "problems", "raw",
                 "refunded_at", "refunds", "ruleset", "state", "version")  # fmt: skip

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        # case_id, order_id, seller_id, platform, kind, amount, refunded_total,
        # currency, applied_at: None until Applied sets them (a damaged log may
        # lack it: every read-model value then differs and is reported).
        self.cols: list[Any] = [None] * 9
        self.deductions: list[tuple[Any, ...]] = []
        self.state: Any = None
        self.version = 0
        self.last_at = ""
        self.pending: list[Data] = []
        self.events = 0
        self.refunds: list[tuple[Any, ...]] = []
        self.refunded_at: dict[int, int] = {}
        self.ruleset = ""
        self.problems: list[tuple[Any, ...]] = []

    def add(self, version: int, name: str, data: Data) -> None:
        at = data["at"]["_data_"]
        c = self.cols
        if name == "Applied":
            amount = data["amount"]["_data_"]
            zero = Decimal(amount)
            c[:] = [data["case_id"], data["order_id"], data["seller_id"], data["platform"],
                    data["kind"], amount, str(zero - zero), data["currency"], at]  # fmt: skip
            self.ruleset = data["ruleset"]["digest"]
        elif name == "ProposalAccepted":  # a plan in force replaces the ask
            c[4], c[5] = data["kind"], data["amount"]["_data_"]
        elif name == "Arbitrated" and data.get("kind"):  # a ruling's remedy too (KM-8)
            c[4], c[5] = data["kind"], data["refund_amount"]["_data_"]
        elif name == "Refunded":
            amount, total = data["amount"]["_data_"], data["refunded_total"]["_data_"]
            if Decimal(c[6] or 0) + Decimal(amount) != Decimal(total):
                self.problems.append((version, "refunded_total", total, f"{c[6]} + {amount}"))
            c[6] = total
            fee = _text(data.get("fee", "0"))
            self.refunds.append((version, at, amount, fee, data.get("lines") or []))
        elif name == "DeductionRecorded":
            amount = data["amount"]["_data_"]
            row = (version, data["seller_id"], data["reason"], amount, data["currency"], at)
            self.deductions.append((*row, data["rule"]))
        elif name == "DeductionWaived":  # the reversing entry (KM-1), as the projector has it
            amount = str(-Decimal(data["amount"]["_data_"]))
            reason = f"{data['reason']}_waived"
            row = (version, data["seller_id"], reason, amount, data["currency"], at)
            self.deductions.append((*row, data["rule"]))
        elif name == "PointsDeducted":  # a points penalty (KM-5), unit "points"
            row = (version, data["seller_id"], data["reason"], str(data["points"]), POINTS, at)
            self.deductions.append((*row, data["rule"]))
        self.state, self.version, self.last_at = data["state"], version, at
        self.pending = data["deadlines"]
        self.events += 1

    def done(self) -> Derived:
        raw, c = self.raw, self.cols
        key = _uuid_text(raw)
        applied = utc(c[8]) if c[8] is not None else None
        row = (*c[:5], self.state, c[5], c[6], c[7], self.version, applied, utc(self.last_at))
        deductions = [(*d[:5], utc(d[5]), *d[5:]) for d in self.deductions]
        pending = deadline_key(self.pending) if self.pending else "[]"
        return Derived(key, row, deductions, pending, self.events, self.refunds, self.ruleset,
                       self.problems, self.refunded_at)  # fmt: skip


class _Decoder:
    """Stored case event -> (event name, JSON-shaped fields), or None if not a case event."""

    def __init__(self, app: AfterSales, *, mapper_only: bool = False) -> None:
        self.mapper = app.mapper
        self.fast = plain_json(app.mapper) and not mapper_only
        # A plain store's payload is the JSON itself: no call per event to find out.
        self.sealed = app.mapper.cipher is not None or app.mapper.compressor is not None

    def __call__(self, raw: Any, version: int, topic: str, state: bytes) -> tuple[str, Data] | None:
        name = topic[_PREFIX:]
        if self.fast and name in _VERSIONS:
            try:
                text = (payload(self.mapper, state) if self.sealed else bytes(state)).decode()
                data: Data | None = _raw_decode(text)[0]
            except Exception:
                data = None
            if data is not None and data.get("class_version", 1) == _VERSIONS[name]:
                return name, data
        oid = raw if isinstance(raw, UUID) else UUID(raw)
        e = self.mapper.to_domain_event(StoredEvent(oid, version, topic, bytes(state)))
        if not isinstance(e, ev.CaseEvent):
            return None
        fields = {k: v for k, v in vars(e).items() if k not in _SKIP}
        return type(e).__name__, json.loads(_PLAIN.encode(fields))


def _pages(
    app: AfterSales, cur: Cursor, stop: int, topics: Sequence[str] = ()
) -> Iterator[list[Any]]:
    """Pages of (originator_id, version, topic, state, position) of the case events (and of
    ``topics``) up to log position ``stop``, in primary-key order (keyset paging
    on the key): one scan of the table, whatever else it holds."""
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    position = "notification_id" if app.sql.dialect == "postgres" else "rowid"
    also = f" OR topic IN ({', '.join('?' * len(topics))})" if topics else ""
    sql = (
        f"SELECT originator_id, originator_version, topic, state, {position} FROM {table}"
        f" WHERE (topic LIKE ? ESCAPE '!'{also}) AND {position} <= ?"
    )
    order = " ORDER BY originator_id, originator_version LIMIT ?"
    cur.execute(sql + order, (_LIKE, *topics, stop, PAGE))
    while rows := cur.fetchall():
        yield rows
        if len(rows) < PAGE:
            return
        last = rows[-1]
        where = " AND (originator_id, originator_version) > (?, ?)"
        cur.execute(sql + where + order, (_LIKE, *topics, stop, last[0], last[1], PAGE))


def count(app: AfterSales, cur: Cursor, stop: int, *, cases_only: bool) -> int:
    """How many events (or case events) the log holds up to position ``stop``."""
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    position = "notification_id" if app.sql.dialect == "postgres" else "rowid"
    where = " AND topic LIKE ? ESCAPE '!'" if cases_only else ""
    cur.execute(
        f"SELECT COUNT(*) FROM {table} WHERE {position} <= ?{where}",
        (stop, _LIKE) if cases_only else (stop,),
    )
    return int(cur.fetchone()[0])


def derive(
    app: AfterSales,
    cur: Cursor,
    stop: int,
    progress: Progress | None = None,
    *,
    mapper_only: bool = False,
    others: Other | None = None,
) -> Iterator[Derived]:
    """Every case with events up to log position ``stop``, derived from them
    alone, in key order: the order of the read models' ``case_uuid`` too, as
    ``str(UUID)`` puts its hyphens at fixed places, so it sorts as ``UUID.hex``
    (SQLite's key) and as PostgreSQL's ``uuid`` do. ``cur`` is an open read
    transaction; ``progress``
    gets (case events read, case events in all) after each page.
    ``mapper_only`` decodes every event through the application's mapper: the
    reference the fast path is tested against. ``others`` gets the rows of its
    ``topics`` (another aggregate's events) in the same scan, in key order."""
    decode = _Decoder(app, mapper_only=mapper_only)
    total = count(app, cur, stop, cases_only=True) if progress is not None else 0
    done = 0
    fold: _Fold | None = None
    topics = others.topics if others is not None else frozenset()
    for rows in _pages(app, cur, stop, sorted(topics)):
        for raw, version, topic, state, position in rows:
            if topic in topics:
                others.row(raw, version, topic, state)  # type: ignore[union-attr]
                done -= 1
                continue
            decoded = decode(raw, version, topic, state)
            if decoded is None:
                continue
            if fold is None or raw != fold.raw:
                if fold is not None:
                    yield fold.done()
                fold = _Fold(raw)
            fold.add(version, *decoded)
            if decoded[0] == "Refunded":
                fold.refunded_at[version] = position
        done += len(rows)
        if progress is not None:
            progress(min(done, total), total)
    if fold is not None:
        yield fold.done()
