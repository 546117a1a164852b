"""Tamper evidence: each case's events form a hash chain.

``digest_n = sha256(digest_{n-1} | case uuid | n | topic | payload)`` where
the payload is the event's state exactly as the transcoder wrote it (after
decryption and decompression, when those are configured) and ``digest_0``
is a fixed genesis value. A tracking projection (:class:`ChainProjector`)
writes each event's digest into ``aftersales_chain`` once, the first time it
sees the event in the notification log; :func:`verify` later recomputes every
chain from the stored events and compares. That detects a changed byte,
swapped or re-numbered events (the digests differ), a deleted event (the
chain remembers it) and an event inserted behind the log's back (it is not
chained). Someone able to rewrite both the events and the chain table, or
to cut a case's tail together with its chain rows, is caught by comparing
with chain heads kept elsewhere (:func:`anchor`, ``verify --against``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from aftersales_es.adapters.sql import Cursor
from aftersales_es.domain.base import case_uuid
from aftersales_es.domain.errors import CaseNotFoundError, InvalidInputError
from aftersales_es.domain.events import EVENT_TYPES
from aftersales_es.readmodels.projector import EVENTS_TOPIC, TRACKING

if TYPE_CHECKING:
    from eventsourcing.persistence import Mapper

    from aftersales_es.engine import AfterSales

CHAIN = "aftersales_chain"
TRACKER = "chain"
GENESIS = hashlib.sha256(b"aftersales-chain-v1").hexdigest()
ANCHOR_SCHEMA = "aftersales-chain-anchor"
CASE_TOPICS = [EVENTS_TOPIC + name for name in sorted(EVENT_TYPES)]
DDL = (
    f"CREATE TABLE IF NOT EXISTS {CHAIN} (case_uuid TEXT NOT NULL, version INTEGER NOT NULL,"
    " digest TEXT NOT NULL, case_id TEXT NOT NULL, PRIMARY KEY (case_uuid, version))",
)
PAGE = 2000


def payload(mapper: Mapper[Any], state: bytes) -> bytes:
    """The canonical payload: the transcoded state, decrypted and decompressed."""
    data = bytes(state)
    if mapper.cipher is not None:
        data = mapper.cipher.decrypt(data)
    if mapper.compressor is not None:
        data = mapper.compressor.decompress(data)
    return data


def _open(mapper: Mapper[Any], topic: str, version: int, state: bytes) -> tuple[bytes, str, str]:
    """(payload, the case id if this is the Applied event, why it is unreadable).

    An unreadable payload (an edited ciphertext no longer decrypts) is chained
    as stored, so the chain still covers it and verify reports it."""
    try:
        data = payload(mapper, state)
        applied = version == 1 and topic.endswith(":Applied")
        return data, str(json.loads(data).get("case_id", "")) if applied else "", ""
    except Exception as exc:
        return bytes(state), "", f"{type(exc).__name__}: {exc}"[:200]


def as_uuid(value: UUID | str) -> UUID:
    """A stored originator id as a UUID (recorders return either)."""
    return value if isinstance(value, UUID) else UUID(value)


def link(prev: str, uuid: UUID, version: int, topic: str, data: bytes) -> str:
    """One chain step. Every field before the payload is newline-free, so the
    concatenation is unambiguous."""
    head = f"{prev}\n{uuid.hex}\n{version}\n{topic}\n".encode()
    return hashlib.sha256(head + data).hexdigest()


@dataclass(frozen=True, order=True)
class Finding:
    """Something wrong with one case's stored events."""

    case_id: str
    case_uuid: str
    version: int
    #: altered, deleted, gap, unchained, unreadable, truncated, anchor_mismatch, missing_case
    problem: str
    detail: str


@dataclass
class Verified:
    """What :func:`verify` found: findings (empty on a clean store) and chain heads."""

    findings: list[Finding]
    heads: list[dict[str, Any]]
    cases: int
    events: int


class ChainProjector:
    """Writes each case event's chain digest once, tracking its log position."""

    def __init__(self, app: AfterSales, page: int = PAGE) -> None:
        self.app = app
        self.page = page
        app.sql.script(DDL)
        with app.sql.write() as cur:
            cur.execute(f"SELECT position FROM {TRACKING} WHERE name = ?", (TRACKER,))
            if cur.fetchone() is None:
                cur.execute(
                    f"INSERT INTO {TRACKING} (name, position) VALUES (?, 0)"
                    " ON CONFLICT (name) DO NOTHING",
                    (TRACKER,),
                )

    def position(self) -> int:
        with self.app.sql.read() as cur:
            cur.execute(f"SELECT position FROM {TRACKING} WHERE name = ?", (TRACKER,))
            return int(cur.fetchone()[0])

    def catch_up(self) -> int:
        """Chain every case event not yet chained; return how many were seen."""
        app, done = self.app, 0
        lock = " FOR UPDATE" if app.sql.dialect == "postgres" else ""
        while True:
            pos = self.position()
            notes = app.recorder.select_notifications(pos + 1, self.page, topics=CASE_TOPICS)
            if not notes:
                return done
            with app.sql.write() as cur:
                cur.execute(f"SELECT position FROM {TRACKING} WHERE name = ?{lock}", (TRACKER,))
                if int(cur.fetchone()[0]) != pos:
                    continue  # another process chained this page first
                heads: dict[str, tuple[int, str, str]] = {}
                rows = []
                for n in notes:
                    uuid = as_uuid(n.originator_id)
                    key = uuid.hex
                    if key not in heads:
                        heads[key] = self._head(cur, key)
                    version, prev, label = heads[key]
                    if n.originator_version <= version:
                        continue  # a second event at a chained version is never chained
                    data, applied, _ = _open(app.mapper, n.topic, n.originator_version, n.state)
                    label = applied or label
                    digest = link(prev, uuid, n.originator_version, n.topic, data)
                    heads[key] = (n.originator_version, digest, label)
                    rows.append((key, n.originator_version, digest, label))
                if rows:
                    cur.executemany(
                        f"INSERT INTO {CHAIN} (case_uuid, version, digest, case_id)"
                        " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                        rows,
                    )
                cur.execute(
                    f"UPDATE {TRACKING} SET position = ? WHERE name = ?", (notes[-1].id, TRACKER)
                )
            done += len(notes)

    @staticmethod
    def _head(cur: Cursor, key: str) -> tuple[int, str, str]:
        cur.execute(
            f"SELECT version, digest, case_id FROM {CHAIN} WHERE case_uuid = ?"
            " ORDER BY version DESC LIMIT 1",
            (key,),
        )
        row = cur.fetchone()
        return (0, GENESIS, "") if row is None else (int(row[0]), str(row[1]), str(row[2]))


def paged(
    source: AfterSales | Cursor,
    sql: str,
    params: Sequence[Any],
    width: int,
    page: int = PAGE,
) -> Iterator[tuple[Any, ...]]:
    """Rows of ``sql`` (whose first ``width`` columns are named k0, k1, ...) in key
    order, ``page`` rows at a time by key (keyset paging: constant memory).
    ``source`` is an application (a read transaction per page) or an open cursor."""
    keys = ", ".join(f"k{i}" for i in range(width))
    last: tuple[Any, ...] = ()
    while True:
        where = f" WHERE ({keys}) > ({', '.join('?' * width)})" if last else ""
        query = f"SELECT * FROM ({sql}) AS q{where} ORDER BY {keys} LIMIT {page}"
        if not hasattr(source, "sql"):  # a cursor (Cursor is a typing Protocol)
            source.execute(query, [*params, *last])
            rows = [tuple(r) for r in source.fetchall()]
        else:
            with cast("AfterSales", source).sql.read() as cur:
                cur.execute(query, [*params, *last])
                rows = [tuple(r) for r in cur.fetchall()]
        yield from rows
        if len(rows) < page:
            return
        last = rows[-1][:width]


def _stored(app: AfterSales, only: UUID | None) -> Iterator[tuple[UUID, int, str, bytes]]:
    """Every stored case event (uuid, version, topic, state), by case then version,
    read straight from the event table (``_`` in the topic is escaped for LIKE)."""
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    sql = (
        "SELECT originator_id AS k0, originator_version AS k1, topic, state"
        f" FROM {table} WHERE topic LIKE ? ESCAPE '!'"
    )
    params: list[Any] = [EVENTS_TOPIC.replace("_", "!_") + "%"]
    if only is not None:
        sql += " AND originator_id = ?"
        params.append(only if app.sql.dialect == "postgres" else only.hex)
    for r in paged(app, sql, params, 2):
        yield as_uuid(r[0]), int(r[1]), str(r[2]), bytes(r[3])


def _chained(app: AfterSales, only: UUID | None) -> Iterator[tuple[str, int, str, str]]:
    """Chain rows (case uuid hex, version, digest, case id) in the same order: the
    keys are lowercase hex of one length, which every collation sorts as uuids."""
    sql = f"SELECT case_uuid AS k0, version AS k1, digest, case_id FROM {CHAIN}"
    params = [] if only is None else [only.hex]
    for r in paged(app, sql + (" WHERE case_uuid = ?" if only else ""), params, 2):
        yield str(r[0]), int(r[1]), str(r[2]), str(r[3])


def _merged(
    app: AfterSales, only: UUID | None
) -> Iterator[tuple[str, list[tuple[int, str, bytes]], dict[int, tuple[str, str]]]]:
    """Per case (uuid hex): its stored events and its chain rows, merged by key."""
    events = _stored(app, only)
    chain = _chained(app, only)
    e = next(events, None)
    c = next(chain, None)
    while e is not None or c is not None:
        key = min(k for k in (e and e[0].hex, c and c[0]) if k is not None)
        stored: list[tuple[int, str, bytes]] = []
        while e is not None and e[0].hex == key:
            stored.append((e[1], e[2], e[3]))
            e = next(events, None)
        rows: dict[int, tuple[str, str]] = {}
        while c is not None and c[0] == key:
            rows[c[1]] = (c[2], c[3])
            c = next(chain, None)
        yield key, stored, rows


def _check(
    key: str,
    stored: Sequence[tuple[int, str, bytes]],
    rows: dict[int, tuple[str, str]],
    anchored: dict[str, Any] | None,
    mapper: Mapper[Any],
) -> tuple[list[Finding], dict[str, Any] | None]:
    """Recompute one case's chain and compare it with the chain table and the anchor."""
    uuid = UUID(key)
    label = next((lbl for _, lbl in rows.values() if lbl), "")
    found: list[tuple[int, str, str]] = []
    prev, expected, altered = GENESIS, 1, False
    digests: dict[int, str] = {}
    for version, topic, state in stored:
        data, applied, unreadable = _open(mapper, topic, version, state)
        label = label or applied
        if unreadable:
            found.append((version, "unreadable", unreadable))
        for missing in range(expected, version):
            problem = "deleted" if missing in rows else "gap"
            found.append((missing, problem, f"event {missing} is missing"))
        prev = digests[version] = link(prev, uuid, version, topic, data)
        if version not in rows:
            found.append((version, "unchained", "event is not in the chain (inserted?)"))
        elif rows[version][0] != prev and not altered:
            altered = True  # every later digest differs too: report the first
            found.append((version, "altered", "digest differs from the chain"))
        expected = version + 1
    last = stored[-1][0] if stored else 0
    found += [(v, "deleted", f"chain has event {v}") for v in sorted(rows) if v > last]
    if anchored is not None:
        version = int(anchored["version"])
        label = label or str(anchored.get("case_id", ""))
        if version > last:
            found.append((version, "truncated", f"anchored at {version}, store ends at {last}"))
        elif digests.get(version) != anchored["digest"]:
            found.append((version, "anchor_mismatch", "digest differs from the anchor"))
    head = {"case_id": label, "case_uuid": key, "version": last, "digest": prev}
    return [Finding(label, key, *f) for f in found], head if stored else None


def load_anchor(text: str) -> dict[str, dict[str, Any]]:
    """Parse an anchor document (``verify --anchor`` output) into heads by uuid hex."""
    try:
        data = json.loads(text)
        schema = (data.get("schema"), data.get("schema_version"))
        heads = {UUID(h["case_uuid"]).hex: h for h in data["heads"]}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInputError(f"not an anchor file: {type(exc).__name__}: {exc}") from None
    if schema != (ANCHOR_SCHEMA, 1):
        raise InvalidInputError(f"not an anchor file of {ANCHOR_SCHEMA!r} version 1: {schema}")
    return heads


def verify(
    app: AfterSales,
    case_ids: Sequence[str] = (),
    *,
    against: dict[str, dict[str, Any]] | None = None,
    keep_heads: bool = False,
) -> Verified:
    """Bring the chain up to date, then recompute every chain (or those of
    ``case_ids``) from the stored events and compare; no findings = clean.

    Memory follows the findings (and the heads, if ``keep_heads``), not the
    size of the store."""
    projector = ChainProjector(app)
    projector.catch_up()
    for case_id in case_ids:  # a named case must have left a trace somewhere
        uuid = case_uuid(case_id)
        if uuid.hex not in (against or {}) and not any(_merged(app, uuid)):
            raise CaseNotFoundError(case_id)
    result = Verified([], [], 0, 0)
    _scan(app, [case_uuid(c) for c in case_ids] or [None], against, keep_heads, result)
    unchained = {f.case_uuid for f in result.findings if f.problem == "unchained"}
    if unchained:
        # An event written after the catch-up is new, not inserted: look again.
        projector.catch_up()
        again = Verified([], [], 0, 0)
        _scan(app, [UUID(k) for k in sorted(unchained)], against, False, again)
        result.findings = [f for f in result.findings if f.case_uuid not in unchained]
        result.findings += again.findings
    result.findings = sorted(set(result.findings))
    result.heads.sort(key=lambda h: (h["case_id"], h["case_uuid"]))
    return result


def _scan(
    app: AfterSales,
    targets: Sequence[UUID | None],
    against: dict[str, dict[str, Any]] | None,
    keep_heads: bool,
    result: Verified,
) -> None:
    missing = dict(against or {})
    if targets != [None]:
        missing = {t.hex: missing[t.hex] for t in targets if t and t.hex in missing}
    for only in targets:
        for key, stored, rows in _merged(app, only):
            found, head = _check(key, stored, rows, missing.pop(key, None), app.mapper)
            result.findings += found
            result.events += len(stored)
            result.cases += head is not None
            if keep_heads and head is not None:
                result.heads.append(head)
    for key, h in sorted(missing.items()):
        label, version = str(h.get("case_id", "")), int(h["version"])
        result.findings.append(Finding(label, key, version, "missing_case", "no events at all"))


def anchor(verified: Verified) -> dict[str, Any]:
    """The chain heads as a document to keep elsewhere (``verify --against``)."""
    return {"schema": ANCHOR_SCHEMA, "schema_version": 1, "heads": verified.heads}
