"""Tamper evidence on every aggregate type, on SQLite and PostgreSQL.

Each test edits the raw stored rows of one aggregate, as someone with write
access to the database would (the digest rows are left alone), then checks
that ``verify`` finds it cold (a process that never verified this store) and
that ``verify --against`` an anchor taken before the edit finds it too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from uuid import UUID

import pytest

from aftersales_es.app.idempotency import key_uuid
from aftersales_es.audit import anchor
from aftersales_es.audit.chain import verify
from aftersales_es.domain.base import case_uuid, order_uuid
from aftersales_es.domain.ruleset_record import ruleset_uuid
from aftersales_es.engine import AfterSales

from .helpers import order, t

#: Edits one store's own rows and anchors one log.
pytestmark = pytest.mark.single_store

Cur = object
#: Per aggregate type: (its uuid, a twin of the same type, amount edit, enum edit).
#: An amount edit is (version, old bytes, new bytes); so is an enum edit.
Edit = tuple[int, bytes, bytes]


def seed(app: AfterSales) -> dict[str, tuple[UUID, UUID, Edit, Edit]]:
    """Given: two orders on two platforms, a return case on each driven with an
    idempotency key that is renewed at every command (so the key record has
    several events), and the two rule-set records those cases pinned."""
    app.key_retention = timedelta(0)
    order(app, "O1")
    order(app, "O2", platform="kilimall", currency="KES", amount="1200.00")
    for case, o, amount in (("C1", "O1", "50.00"), ("C2", "O2", "500.00")):
        app.execute("apply", case=case, order=o, at=t(days=3), kind="return_refund",
                    amount=amount, reason="changed_mind", idempotency_key=f"K{case}")  # fmt: skip
        app.execute("approve", case=case, at=t(days=3, hours=1), idempotency_key=f"K{case}")
        app.execute("ship_back", case=case, at=t(days=3, hours=2), carrier="YTO",
                    tracking_number="YT1", idempotency_key=f"K{case}")  # fmt: skip
        app.execute("confirm_receipt", case=case, at=t(days=3, hours=3), idempotency_key=f"K{case}")
    kuaishou = app.get_case("C1").ruleset["digest"]
    kilimall = app.get_case("C2").ruleset["digest"]
    return {
        "case": (case_uuid("C1"), case_uuid("C2"),
                 (5, b'"refunded_total":{"_type_":"decimal_str","_data_":"50.00"',
                  b'"refunded_total":{"_type_":"decimal_str","_data_":"90.00"'),
                 (1, b'"reason":"changed_mind"', b'"reason":"quality_issue"')),
        "order": (order_uuid("O1"), order_uuid("O2"),
                  (3, b'"_data_":"50.00"', b'"_data_":"25.00"'),
                  (1, b'"platform":"kuaishou"', b'"platform":"kilimall"')),
        "ruleset": (ruleset_uuid(kuaishou), ruleset_uuid(kilimall),
                    (1, b'"after":"2d","rule":"KS-1"', b'"after":"9d","rule":"KS-1"'),
                    (1, b'"action":"auto_approve"', b'"action":"auto_close"')),
        "key": (key_uuid("KC1"), key_uuid("KC2"),
                (4, b'"case_version":5', b'"case_version":9'),
                (1, b'"case_id":"C1"', b'"case_id":"C2"')),
    }  # fmt: skip


class Rows:
    """Raw access to the event table through the store's own connection."""

    def __init__(self, app: AfterSales) -> None:
        self.app = app
        self.table = app.recorder.events_table_name  # type: ignore[attr-defined]
        self.pg = app.sql.dialect == "postgres"

    def key(self, uuid: UUID) -> object:
        return uuid if self.pg else uuid.hex

    def run(self, sql: str, *params: object) -> list[tuple[object, ...]]:
        with self.app.sql.write() as cur:
            cur.execute(sql.replace("{t}", self.table), params)
            return [tuple(r) for r in cur.fetchall()] if sql.startswith("SELECT") else []

    def versions(self, uuid: UUID) -> list[int]:
        rows = self.run("SELECT originator_version FROM {t} WHERE originator_id = ?"
                        " ORDER BY originator_version", self.key(uuid))  # fmt: skip
        return [int(r[0]) for r in rows]

    def get(self, uuid: UUID, version: int) -> tuple[str, bytes]:
        rows = self.run("SELECT topic, state FROM {t} WHERE originator_id = ?"
                        " AND originator_version = ?", self.key(uuid), version)  # fmt: skip
        return str(rows[0][0]), bytes(rows[0][1])  # type: ignore[arg-type]

    def put(self, uuid: UUID, version: int, state: bytes) -> None:
        self.run("UPDATE {t} SET state = ? WHERE originator_id = ? AND originator_version = ?",
                 state, self.key(uuid), version)  # fmt: skip

    def delete(self, uuid: UUID, version: int | None = None) -> None:
        where = "" if version is None else f" AND originator_version = {int(version)}"
        self.run("DELETE FROM {t} WHERE originator_id = ?" + where, self.key(uuid))

    def insert(self, uuid: UUID, version: int, topic: str, state: bytes) -> None:
        self.run("INSERT INTO {t} (originator_id, originator_version, topic, state)"
                 " VALUES (?, ?, ?, ?)", self.key(uuid), version, topic, state)  # fmt: skip

    def renumber_from(self, uuid: UUID, version: int) -> None:
        for shift in (1000, -999):  # through a free range: the key is unique
            self.run("UPDATE {t} SET originator_version = originator_version + ?"
                     " WHERE originator_id = ? AND originator_version >= ?",
                     shift, self.key(uuid), version + (1000 if shift < 0 else 0))  # fmt: skip


def _replace(rows: Rows, uuid: UUID, edit: Edit) -> None:
    version, old, new = edit
    _, state = rows.get(uuid, version)
    assert old in state, (old, state[:300])
    rows.put(uuid, version, state.replace(old, new, 1))


def _byte(rows: Rows, uuid: UUID, twin: UUID) -> None:
    version = rows.versions(uuid)[-1]
    _, state = rows.get(uuid, version)
    rows.put(uuid, version, state.replace(b'"_data_":"2026', b'"_data_":"2027', 1))


def _swap(rows: Rows, uuid: UUID, twin: UUID) -> None:
    versions = rows.versions(uuid)
    # A one-event aggregate (a rule-set record) swaps with its twin.
    a, b = (uuid, 1), (twin, 1)
    if len(versions) > 1:
        a, b = (uuid, versions[-2]), (uuid, versions[-1])
    (_, sa), (_, sb) = rows.get(*a), rows.get(*b)
    rows.put(*a, sb)
    rows.put(*b, sa)


def _middle(rows: Rows, uuid: UUID, twin: UUID) -> None:
    versions = rows.versions(uuid)
    rows.delete(uuid, versions[len(versions) // 2])


def _last(rows: Rows, uuid: UUID, twin: UUID) -> None:
    rows.delete(uuid, rows.versions(uuid)[-1])


def _whole(rows: Rows, uuid: UUID, twin: UUID) -> None:
    rows.delete(uuid)


def _append(rows: Rows, uuid: UUID, twin: UUID) -> None:
    last = rows.versions(uuid)[-1]
    rows.insert(uuid, last + 1, *rows.get(uuid, last))  # a copy of the last event


def _renumbered(rows: Rows, uuid: UUID, twin: UUID) -> None:
    versions = rows.versions(uuid)
    at = versions[len(versions) // 2]
    forged = rows.get(uuid, at)
    rows.renumber_from(uuid, at)
    rows.insert(uuid, at, *forged)


EDITS: dict[str, Callable[[Rows, UUID, UUID], None]] = {
    "byte": _byte,
    "amount": lambda rows, uuid, twin: None,  # per type, below
    "enum": lambda rows, uuid, twin: None,
    "swap": _swap,
    "middle_deleted": _middle,
    "last_deleted": _last,
    "aggregate_deleted": _whole,
    "forged_append": _append,
    "forged_insert_renumbered": _renumbered,
}
KINDS = ["case", "order", "ruleset", "key"]


@pytest.fixture
def seeded(store: str) -> Iterator[tuple[str, dict[str, tuple[UUID, UUID, Edit, Edit]]]]:
    app = AfterSales(store)
    try:
        yield store, seed(app)
    finally:
        app.close()


#: A rule-set record has one event, so it has no middle event to delete
#: (the swap and the renumbered insert still cover it).
CASES = [(k, e) for k in KINDS for e in EDITS if (k, e) != ("ruleset", "middle_deleted")]


@pytest.mark.parametrize(("kind", "edit"), CASES)
def test_raw_row_edit_is_found_cold_and_against_an_anchor(
    seeded: tuple[str, dict[str, tuple[UUID, UUID, Edit, Edit]]], kind: str, edit: str
) -> None:
    store, targets = seeded
    uuid, twin, amount, enum = targets[kind]
    app = AfterSales(store)
    try:
        # Given: a clean store and an anchor of it
        result, doc = anchor.take(app)
        assert result.findings == []
        # When: one aggregate's rows are edited
        rows = Rows(app)
        if edit in ("amount", "enum"):
            _replace(rows, uuid, amount if edit == "amount" else enum)
        else:
            EDITS[edit](rows, uuid, twin)
    finally:
        app.close()
    cold = AfterSales(store)  # a process that never verified this store
    try:
        # Then: verify finds it, naming the aggregate; so does the anchor
        found = verify(cold).findings
        assert found and uuid.hex in {f.uuid for f in found}, found
        assert anchor.against(cold, doc).findings
    finally:
        cold.close()
