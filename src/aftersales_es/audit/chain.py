"""Tamper evidence: verify the hash chain the recorders write with every event.

Every stored event of every aggregate has a digest row, written in the same
transaction (:mod:`aftersales_es.adapters.recorders`)::

    digest_n = sha256(digest_{n-1} | aggregate uuid | n | topic | stored bytes)

:func:`verify` recomputes every chain from the stored rows, in one read
transaction, and compares: a changed byte, a swapped or renumbered event
(the digests differ), a deleted event or aggregate (its digest rows remain),
an event inserted behind the recorder's back (no digest row). Someone who
rewrites the digest rows too is caught only against a store-wide head kept
elsewhere (:mod:`.anchor`, ``verify --anchor`` / ``--against``).
:func:`migrate` chains the events of a store written before the chain existed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

from aftersales_es.adapters.recorders import CHAIN_META, DIGESTS, GENESIS, as_uuid, link
from aftersales_es.adapters.sql import Cursor
from aftersales_es.domain.base import case_uuid
from aftersales_es.domain.errors import CaseNotFoundError
from aftersales_es.domain.events import Applied

if TYPE_CHECKING:
    from eventsourcing.persistence import Mapper

    from aftersales_es.engine import AfterSales

__all__ = [
    "GENESIS", "Finding", "Verified", "as_uuid", "chain_meta", "link", "migrate", "paged", "verify"
]  # fmt: skip

PAGE = 2000
_APPLIED: str = Applied.TOPIC  # type: ignore[attr-defined]
#: What names an aggregate in a finding: the id its creating event carries.
_LABELS = (("case_id", "case"), ("order_id", "order"), ("key", "key"))


def payload(mapper: Mapper[Any], state: bytes) -> bytes:
    """The transcoded state, decrypted and decompressed (what the export keeps)."""
    data = bytes(state)
    if mapper.cipher is not None:
        data = mapper.cipher.decrypt(data)
    if mapper.compressor is not None:
        data = mapper.compressor.decompress(data)
    return data


def label(mapper: Mapper[Any], topic: str, state: bytes) -> str:
    """A human name for an aggregate from its first event: ``case C1``, ``order O1``."""
    try:
        data = json.loads(payload(mapper, state))
    except Exception:
        return topic.rpartition(":")[2]
    for key, kind in _LABELS:
        if isinstance(data.get(key), str):
            return f"{kind} {data[key]}"
    return topic.rpartition(":")[2]


@dataclass(frozen=True, order=True)
class Finding:
    """Something wrong with one aggregate's stored events (or the whole store)."""

    aggregate: str
    uuid: str
    version: int
    #: altered, deleted, gap, unchained, aggregate_deleted, truncated, anchor_mismatch, ...
    problem: str
    detail: str


@dataclass
class Verified:
    """What :func:`verify` found: findings (empty on a clean store), heads, counts."""

    findings: list[Finding]
    #: (uuid hex, version, digest, log position) per aggregate, if kept
    heads: list[tuple[str, int, str, int]] = field(default_factory=list)
    aggregates: int = 0
    events: int = 0
    cases: int = 0  #: of the aggregates, how many are cases
    position: int = 0


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


Event = tuple[int, str, bytes, int]  # version, topic, state, log position


def _grouped(
    app: AfterSales, cur: AfterSales | Cursor, only: UUID | None
) -> Iterator[tuple[UUID, list[Event], dict[int, str]]]:
    """Per aggregate, in key order: its stored events and its digest rows."""
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    pg = app.sql.dialect == "postgres"
    where, params = "", []
    if only is not None:
        where, params = " WHERE originator_id = ?", [only if pg else only.hex]
    position = "notification_id" if pg else "rowid"
    events = paged(cur, f"SELECT originator_id AS k0, originator_version AS k1, topic, state,"
                   f" {position} FROM {table}{where}", params, 2)  # fmt: skip
    digests = paged(cur, f"SELECT originator_id AS k0, originator_version AS k1, digest"
                    f" FROM {DIGESTS}{where}", params, 2)  # fmt: skip
    e, d = next(events, None), next(digests, None)
    while e is not None or d is not None:
        key = min(r[0] for r in (e, d) if r is not None)
        stored: list[Event] = []
        while e is not None and e[0] == key:
            stored.append((int(e[1]), str(e[2]), bytes(e[3]), int(e[4])))
            e = next(events, None)
        rows: dict[int, str] = {}
        while d is not None and d[0] == key:
            rows[int(d[1])] = str(d[2])
            d = next(digests, None)
        yield as_uuid(key), stored, rows


def check(
    uuid: UUID, stored: Sequence[Event], rows: dict[int, str], mapper: Mapper[Any]
) -> tuple[list[Finding], list[tuple[int, str, int]]]:
    """Recompute one aggregate's chain; (findings, [(version, digest, position)])."""
    name = label(mapper, stored[0][1], stored[0][2]) if stored and stored[0][0] == 1 else ""
    found: list[tuple[int, str, str]] = []
    prev, expected, altered = GENESIS, 1, False
    chain: list[tuple[int, str, int]] = []
    for version, topic, state, position in stored:
        for missing in range(expected, version):
            problem = "deleted" if missing in rows else "gap"
            found.append((missing, problem, f"event {missing} is missing"))
        prev = link(prev, uuid, version, topic, state)
        chain.append((version, prev, position))
        if version not in rows:
            found.append((version, "unchained", "no digest was written with this event"))
        elif rows[version] != prev and not altered:
            altered = True  # every later digest differs too: report the first
            found.append((version, "altered", "stored bytes differ from those chained"))
        expected = version + 1
    last = stored[-1][0] if stored else 0
    if not stored:
        found.append((max(rows), "aggregate_deleted", f"{len(rows)} chained events, none stored"))
    else:
        found += [(v, "deleted", f"event {v} was chained") for v in sorted(rows) if v > last]
    return [Finding(name, uuid.hex, *f) for f in found], chain


def verify(
    app: AfterSales,
    case_ids: Sequence[str] = (),
    *,
    heads: bool = False,
    visit: Any = None,
) -> Verified:
    """Recompute every aggregate's chain (or those of ``case_ids``) and compare
    with the digest rows; no findings = clean. One read transaction (repeatable
    read on PostgreSQL), so writers carrying on meanwhile are not findings.
    ``visit(uuid, chain)`` sees each aggregate's recomputed chain. Memory
    follows the findings (and the heads, if ``heads``), not the store's size.
    A store of partitions is verified a partition at a time, results added up."""
    if hasattr(app, "partitions"):
        return _verify_partitions(app, case_ids, heads=heads, visit=visit)
    result = Verified([])
    with app.sql.read() as cur:
        if app.sql.dialect == "postgres":
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        table = app.recorder.events_table_name  # type: ignore[attr-defined]
        position = "notification_id" if app.sql.dialect == "postgres" else "rowid"
        cur.execute(f"SELECT COALESCE(MAX({position}), 0) FROM {table}")
        result.position = int(cur.fetchone()[0])
        targets: list[tuple[UUID | None, str | None]] = [(case_uuid(c), c) for c in case_ids]
        for only, case_id in targets or [(None, None)]:
            seen = False
            for uuid, stored, rows in _grouped(app, cur, only):
                seen = True
                found, chain = check(uuid, stored, rows, app.mapper)
                result.findings += found
                result.events += len(stored)
                result.aggregates += bool(stored)
                result.cases += bool(stored) and stored[0][1] == _APPLIED
                if visit is not None:
                    visit(uuid, chain)
                if heads and chain:
                    result.heads.append((uuid.hex, *chain[-1]))
            if not seen and case_id is not None:
                raise CaseNotFoundError(case_id)
    result.findings.sort()
    return result


def _verify_partitions(app: Any, case_ids: Sequence[str], *, heads: bool, visit: Any) -> Verified:
    wanted: dict[int, list[str]] = {}
    for case_id in case_ids:
        wanted.setdefault(app.partitions.index(app.locate(case_id)), []).append(case_id)
    out = Verified([])
    for i, part in enumerate(app.partitions):
        if case_ids and i not in wanted:
            continue
        r = verify(part, wanted.get(i, ()), heads=heads, visit=visit)
        out.findings += r.findings
        out.heads += r.heads
        out.aggregates += r.aggregates
        out.events += r.events
        out.cases += r.cases
        out.position += r.position
    out.findings.sort()
    return out


def migrate(app: AfterSales, page: int = 500) -> dict[str, int]:
    """Chain the events stored before the chain existed: each aggregate's chain
    is computed from its first stored event and a digest row written where
    none is. Existing rows are never changed (a disagreement is for
    :func:`verify` to report). Records in ``aftersales_chain_meta`` the log
    position up to which events were chained after the fact. Idempotent;
    safe while others write (their digests are the same values)."""
    pg = app.sql.dialect == "postgres"
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    position = "notification_id" if pg else "rowid"
    with app.sql.read() as cur:
        cur.execute(f"SELECT COALESCE(MAX({position}), 0) FROM {table}")
        up_to = int(cur.fetchone()[0])
    batch: list[tuple[Any, int, str]] = []
    written = 0
    for uuid, stored, rows in _grouped(app, app, None):  # a read transaction per page
        _, chain = check(uuid, stored, rows, app.mapper)
        batch += [(uuid if pg else uuid.hex, v, d) for v, d, _ in chain if v not in rows]
        if len(batch) >= page:
            written += _insert(app, batch)
    written += _insert(app, batch)
    with app.sql.write() as cur:
        cur.execute(f"DELETE FROM {CHAIN_META} WHERE name IN ('migrated_up_to', 'migrated')")
        cur.executemany(
            f"INSERT INTO {CHAIN_META} (name, value) VALUES (?, ?)",
            [("migrated_up_to", str(up_to)), ("migrated", str(written))],
        )
    return {"chained": written, "up_to_position": up_to}


def _insert(app: AfterSales, batch: list[tuple[Any, int, str]]) -> int:
    if batch:
        with app.sql.write() as cur:
            cur.executemany(f"INSERT INTO {DIGESTS} VALUES (?, ?, ?) ON CONFLICT DO NOTHING", batch)
    done = len(batch)
    batch.clear()
    return done


def chain_meta(app: AfterSales) -> dict[str, str]:
    """What a migration recorded (empty if the store was chained from its start)."""
    with app.sql.read() as cur:
        cur.execute(f"SELECT name, value FROM {CHAIN_META}")
        return {str(r[0]): str(r[1]) for r in cur.fetchall()}
