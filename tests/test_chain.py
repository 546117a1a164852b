"""Tamper evidence (issue 4): hash chains over each case's stored events.

The tamper tests edit the SQLite file directly, as someone with access to the
database would: change a byte, swap, delete or insert events, cut a tail.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from eventsourcing.cryptography import AESCipher

from aftersales_es.audit.chain import CHAIN, GENESIS, anchor, link, verify
from aftersales_es.cli.main import main
from aftersales_es.domain.base import case_uuid
from aftersales_es.engine import AfterSales

from .test_history import run_path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A SQLite store with three cases whose chains have been recorded."""
    path = tmp_path / "aftersales.db"
    app = AfterSales(str(path))
    run_path(app, "ks_dispute_for_buyer", case="C1", order_id="O1")  # 8 events
    run_path(app, "ks_return", case="C2", order_id="O2")  # 5 events
    run_path(app, "km_silent_refund", case="C3", order_id="O3")  # 6 events
    assert verify(app).findings == []
    app.close()
    return path


def tamper(path: Path, sql: str, *params: object) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(sql, params)


def row(path: Path, case: str, version: int) -> tuple[str, bytes]:
    with sqlite3.connect(path) as conn:
        got = conn.execute(
            "SELECT topic, state FROM stored_events WHERE originator_id = ?"
            " AND originator_version = ?",
            (case_uuid(case).hex, version),
        ).fetchone()
    return str(got[0]), bytes(got[1])


def problems(
    path: Path, *cases: str, against: dict[str, dict[str, object]] | None = None
) -> list[tuple[str, int, str]]:
    app = AfterSales(str(path))
    try:
        found = verify(app, cases, against=against).findings
    finally:
        app.close()
    return [(f.case_id, f.version, f.problem) for f in found]


def test_clean_store_reports_nothing(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--store", str(db), "verify"]) == 0
    assert capsys.readouterr().out == ""
    assert problems(db) == []


def test_one_changed_byte_in_a_payload_is_found(db: Path) -> None:
    _, state = row(db, "C1", 2)
    forged = state.replace(b'"reason":"used item"', b'"reason":"used itex"')
    assert len(forged) == len(state) and forged != state
    tamper(
        db,
        "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = 2",
        forged,
        case_uuid("C1").hex,
    )
    assert problems(db) == [("C1", 2, "altered")]


def test_two_swapped_events_are_found(db: Path) -> None:
    (t4, s4), (t5, s5) = row(db, "C1", 4), row(db, "C1", 5)
    for version, topic, state in ((4, t5, s5), (5, t4, s4)):
        tamper(
            db,
            "UPDATE stored_events SET topic = ?, state = ? WHERE originator_id = ?"
            " AND originator_version = ?",
            topic,
            state,
            case_uuid("C1").hex,
            version,
        )
    assert problems(db) == [("C1", 4, "altered")]


def test_a_deleted_event_is_found(db: Path) -> None:
    tamper(
        db,
        "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 3",
        case_uuid("C2").hex,
    )
    assert ("C2", 3, "deleted") in problems(db)


def test_an_inserted_event_is_found(db: Path) -> None:
    """Make room after v2 (shift later versions up), then insert a forged event."""
    key = case_uuid("C2").hex
    for version in (5, 4, 3):
        tamper(
            db,
            "UPDATE stored_events SET originator_version = ? WHERE originator_id = ?"
            " AND originator_version = ?",
            version + 1,
            key,
            version,
        )
    topic, state = row(db, "C2", 2)
    tamper(db, "INSERT INTO stored_events VALUES (?, 3, ?, ?)", key, topic, state)
    found = problems(db)
    assert ("C2", 3, "altered") in found and ("C2", 6, "unchained") in found


def test_removed_last_event_is_found_by_the_chain_or_the_anchor(db: Path) -> None:
    app = AfterSales(str(db))
    heads = {h["case_uuid"]: h for h in anchor(verify(app, keep_heads=True))["heads"]}
    app.close()
    key = case_uuid("C3").hex
    tamper(db, "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 6", key)
    assert problems(db) == [("C3", 6, "deleted")]
    # Someone who also removes the chain row is caught only by the anchor.
    tamper(db, f"DELETE FROM {CHAIN} WHERE case_uuid = ? AND version = 6", key)
    assert problems(db) == []
    assert problems(db, against=heads) == [("C3", 6, "truncated")]


def test_rewritten_history_with_rewritten_chain_is_found_by_the_anchor(db: Path) -> None:
    app = AfterSales(str(db))
    heads = {h["case_uuid"]: h for h in anchor(verify(app, keep_heads=True))["heads"]}
    app.close()
    key = case_uuid("C1").hex
    topic, state = row(db, "C1", 7)  # the ruled_liable deduction of 60.00
    tamper(
        db,
        "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = 7",
        state.replace(b'"60.00"', b'"6.00"'),
        key,
    )
    prev = GENESIS
    for version in range(1, 9):  # recompute the whole chain, as a careful forger would
        topic, state = row(db, "C1", version)
        prev = link(prev, case_uuid("C1"), version, topic, state)
        tamper(
            db,
            f"UPDATE {CHAIN} SET digest = ? WHERE case_uuid = ? AND version = ?",
            prev,
            key,
            version,
        )
    assert problems(db) == []
    assert problems(db, against=heads) == [("C1", 8, "anchor_mismatch")]


def test_verify_named_cases_only(db: Path) -> None:
    tamper(
        db,
        "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 2",
        case_uuid("C1").hex,
    )
    assert problems(db, "C2", "C3") == []
    assert ("C1", 2, "deleted") in problems(db, "C1")


def test_cli_anchor_then_against_detects_a_cut_tail(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--store", str(db), "verify", "--anchor"]) == 0
    heads = tmp_path / "heads.json"
    heads.write_text(capsys.readouterr().out)
    doc = json.loads(heads.read_text())
    assert [(h["case_id"], h["version"]) for h in doc["heads"]] == [("C1", 8), ("C2", 5), ("C3", 6)]
    assert main(["--store", str(db), "verify", "--against", str(heads)]) == 0
    key = case_uuid("C2").hex
    tamper(db, "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = 5", key)
    tamper(db, f"DELETE FROM {CHAIN} WHERE case_uuid = ? AND version = 5", key)
    assert main(["--store", str(db), "--json", "verify", "--against", str(heads)]) == 1
    (finding,) = json.loads(capsys.readouterr().out)["findings"]
    assert (finding["case_id"], finding["problem"]) == ("C2", "truncated")
    heads.write_text('{"schema": "something-else"}')
    assert main(["--store", str(db), "verify", "--against", str(heads)]) == 2


def test_chain_on_every_store_is_clean_then_finds_an_edit(app: AfterSales) -> None:
    run_path(app, "ks_return")
    assert verify(app).findings == []
    table = app.recorder.events_table_name  # type: ignore[attr-defined]
    key = case_uuid("C1") if app.sql.dialect == "postgres" else case_uuid("C1").hex
    with app.sql.write() as cur:
        cur.execute(
            f"UPDATE {table} SET topic = 'aftersales_es.events:Approved'"
            " WHERE originator_id = ? AND originator_version = 3",
            (key,),
        )
    assert [(f.version, f.problem) for f in verify(app).findings] == [(3, "altered")]
    assert app.get_case("C1").state == "refunded"  # the read side never notices


def test_encrypted_store_chains_plaintext_and_finds_an_edited_ciphertext(tmp_path: Path) -> None:
    path = tmp_path / "encrypted.db"
    env = {
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": AESCipher.create_key(32),
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
    }
    app = AfterSales(str(path), env=env)
    run_path(app, "ks_return")
    assert verify(app).findings == []
    app.close()
    _, state = row(path, "C1", 2)
    flipped = state[:-1] + bytes([state[-1] ^ 1])
    tamper(
        path,
        "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = 2",
        flipped,
        case_uuid("C1").hex,
    )
    app = AfterSales(str(path), env=env)
    try:
        found = [(f.version, f.problem) for f in verify(app).findings]
    finally:
        app.close()
    assert found == [(2, "altered"), (2, "unreadable")]


def test_verify_of_an_unknown_case_is_an_error(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--store", str(db), "verify", "C1", "NOPE"]) == 2
    assert "'NOPE' not found" in capsys.readouterr().err
