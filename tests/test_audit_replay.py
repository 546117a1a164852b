"""The audit's bulk replay: payloads read as plain JSON (once
decrypted and decompressed) derive exactly what the application's mapper
derives; old-version and unreadable events take the mapper path; paging
never loses or doubles a row; read-model rows of cases without events are
found wherever their keys sort.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from aftersales_es.audit import bulk as replay
from aftersales_es.audit import check as audit_module
from aftersales_es.audit.check import audit
from aftersales_es.domain.base import case_uuid
from aftersales_es.domain.errors import StoreKeyError
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.projector import CASES, DEADLINES, PROJECTOR, TRACKING, utc_key

from .helpers import order, t
from .test_audit import build
from .test_encryption import cipher_env
from .test_ledger import generated  # noqa: F401  (fixture)
from .test_versioning import frozen_events

#: Tampers with, or decodes, one store's own rows.
pytestmark = pytest.mark.single_store

PATHS = ["ks_approved_refund", "km_seller_escalates", "ks_return_not_shipped", "ks_partial_plan"]


def _derived(app: AfterSales, *, mapper_only: bool) -> list[replay.Derived]:
    with app.sql.read() as cur:
        cur.execute(f"SELECT position FROM {TRACKING} WHERE name = ?", (PROJECTOR,))
        stop = int(cur.fetchone()[0])
        return list(replay.derive(app, cur, stop, mapper_only=mapper_only))


def test_fast_decoding_derives_what_the_mapper_derives(generated: str) -> None:  # noqa: F811
    """Given the generated store (both platforms, deadlines fired, disputes,
    fees), when every case is derived from plain JSON and again through the
    mapper, then both give the same rows and deductions for every case."""
    app = AfterSales(generated)
    try:
        app.projector.catch_up()
        fast = _derived(app, mapper_only=False)
        reference = _derived(app, mapper_only=True)
    finally:
        app.close()
    assert len(fast) == len({d.key for d in fast}) > 50
    assert any(d.deductions for d in fast)
    assert fast == reference


def test_fast_decoding_of_open_cases_keeps_their_deadlines(app: AfterSales) -> None:
    """Given finished cases and cases still waiting on deadlines, when derived
    both ways, then the pending deadlines agree as well."""
    build(app, PATHS)
    order(app, "O9")
    app.execute("apply", case="C9", order="O9", at=t(days=3), kind="exchange")
    app.projector.catch_up()
    fast = _derived(app, mapper_only=False)
    assert sum(d.deadlines != "[]" for d in fast) == 1
    assert fast == _derived(app, mapper_only=True)


def test_encrypted_compressed_store_audits_like_a_plain_one(tmp_path: Path) -> None:
    """Given the same histories on a plain store and on an encrypted, compressed
    one, when both are audited, then the reports are identical; and a corrupted
    read-model row of the encrypted store is found."""
    plain = AfterSales(tmp_path / "plain.db")
    secret = AfterSales(tmp_path / "secret.db", env=cipher_env())
    try:
        assert replay.plain_json(plain.mapper) and replay.plain_json(secret.mapper)
        for app in (plain, secret):
            build(app, PATHS)
        assert audit(secret).as_dict() == audit(plain).as_dict()
        with secret.sql.write() as cur:
            cur.execute(f"UPDATE {CASES} SET amount = '1.00' WHERE case_id = 'C3'")
        found = audit(secret).mismatches
    finally:
        plain.close()
        secret.close()
    assert [(m["case_id"], m["field"], m["events"], m["read_model"]) for m in found] == [
        ("C3", "amount", "70.00", "1.00")
    ]


def test_unreadable_encrypted_event_fails_the_audit_with_the_key_error(tmp_path: Path) -> None:
    """Given an encrypted store one of whose case events was overwritten, when
    audited, then the mapper's clear StoreKeyError names the event."""
    secret = AfterSales(tmp_path / "secret.db", env=cipher_env())
    try:
        build(secret, PATHS[:1])
        with secret.sql.write() as cur:
            cur.execute("UPDATE stored_events SET state = ? WHERE originator_version = 2", (b"x",))
        with pytest.raises(StoreKeyError, match="cannot decode stored event"):
            audit(secret)
    finally:
        secret.close()


def test_v1_events_are_upcast_before_the_fold(app: AfterSales) -> None:
    """Given a history stored before Rejected, Applied and Refunded gained
    fields (no class_version), when audited, then it replays through the
    upcasters and agrees with the read models (its order and rule-set record
    were never stored: only the cross-checks against them disagree)."""
    app.recorder.insert_events(frozen_events(case_uuid("C1")))
    report = audit(app)
    assert [m for m in report.mismatches if m["table"] not in ("orders", "rulesets")] == []
    assert {m["table"] for m in report.mismatches} == {"orders", "rulesets"}
    assert (report.cases, report.case_events, report.deductions) == (1, 6, 1)
    assert report.as_dict()["refunded"] == {"CNY": "80.00"}
    assert report.as_dict()["deducted"] == {"CNY": "80.00"}


def test_tiny_pages_give_the_same_report(app: AfterSales, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given several cases, when the events and read models are read a few rows
    per query, then the report is the one whole pages give, and progress ends
    at the case-event total."""
    build(app, PATHS * 2)
    whole = audit(app).as_dict()
    monkeypatch.setattr(replay, "PAGE", 3)
    monkeypatch.setattr(audit_module, "PAGE", 2)
    calls: list[tuple[int, int]] = []
    paged = audit(app, progress=lambda done, total: calls.append((done, total)))
    assert paged.as_dict() == whole and whole["mismatches"] == []
    assert len(calls) > 10 and calls[-1] == (paged.case_events, paged.case_events)


@pytest.mark.parametrize("forged", ["0" * 8, "z" * 8])
def test_read_model_rows_without_events_are_found_wherever_they_sort(
    app: AfterSales, forged: str
) -> None:
    """Given a case row and a deadline row for a case with no events, keyed
    before or after every real case, when audited, then both are reported."""
    build(app, PATHS)
    app.projector.catch_up()
    with app.sql.write() as cur:
        cur.execute(
            f"INSERT INTO {CASES} (case_uuid, case_id, order_id, seller_id, platform, kind,"
            " state, amount, refunded_total, currency, version, applied_at, updated_at) VALUES"
            " (?, 'C8', 'O8', 'S1', 'kuaishou', 'refund_only', 'requested', '5.00', '0.00',"
            " 'CNY', 1, '2026-05-10T00:00:00.000000Z', '2026-05-10T00:00:00.000000Z')",
            (forged,),
        )
        cur.execute(
            f"INSERT INTO {DEADLINES} (case_uuid, name, case_id, due_utc, due, action, rule)"
            " VALUES (?, 'seller_review', 'C8', '2026-05-12T00:00:00.000000Z',"
            " '2026-05-12T08:00:00+08:00', 'auto_approve', 'KS-1')",
            (forged,),
        )
    found = audit(app).mismatches
    assert sorted((m["table"], m["case_id"], m["case_uuid"], m["field"]) for m in found) == [
        ("cases", "C8", forged, "row"),
        ("deadlines", "", forged, "row"),
    ]
    assert {(m["events"], m["read_model"]) for m in found} == {("missing", "present")}


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 5, 10, 20, 0, tzinfo=timezone(timedelta(hours=8))),
        datetime(2026, 1, 1, 1, 30, 0, 123456, tzinfo=timezone(timedelta(hours=3))),
        datetime(2025, 12, 31, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(2026, 5, 10, 12, 0, tzinfo=UTC),
        datetime(2026, 5, 10, 12, 0, tzinfo=timezone(timedelta(hours=5, seconds=30))),
        datetime(999, 7, 1, 12, 0, tzinfo=UTC),
        datetime(1000, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=3))),
    ],
)
def test_utc_of_the_stored_text_is_the_projection_key(at: datetime) -> None:
    """Given an instant as the transcoder stores it (isoformat), when its UTC
    key is computed from the text, then it is the projection's ``utc_key``."""
    assert replay.utc(at.isoformat()) == utc_key(at)


def test_deadline_key_of_stored_deadlines_is_canonical() -> None:
    """Given pending deadlines as stored (dues transcoded), when keyed, then the
    key lists them sorted with both the UTC and the stored form of each due."""
    due = {"_type_": "datetime_iso", "_data_": "2026-05-12T08:00:00+08:00"}
    pending = [
        {"name": "ship_back", "due": due, "action": "auto_close", "rule": "KS-5"},
        {"name": "seller_review", "due": due, "action": "auto_approve", "rule": "KS-1"},
    ]
    assert json.loads(replay.deadline_key(pending)) == [
        ["seller_review", "2026-05-12T00:00:00.000000Z", due["_data_"], "auto_approve", "KS-1"],
        ["ship_back", "2026-05-12T00:00:00.000000Z", due["_data_"], "auto_close", "KS-5"],
    ]
