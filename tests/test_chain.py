"""Tamper evidence: the hash chain written with every event, anchors, migration.

Raw-row edits of every aggregate type on both stores are in
``test_tamper.py``; here: what the chain covers (encrypted and compressed
payloads, snapshots), forgers who rewrite the digest rows too, signed
anchors, and chaining a store written before the chain existed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import StoredEvent

from aftersales_es.adapters.recorders import DIGESTS, GENESIS, ChainError, link
from aftersales_es.audit import anchor
from aftersales_es.audit.chain import chain_meta, migrate, verify
from aftersales_es.cli.main import main
from aftersales_es.domain.base import case_uuid
from aftersales_es.engine import AfterSales

from .helpers import order, t
from .test_history import run_path
from .test_tamper import Rows


@pytest.fixture
def db(tmp_path: Path) -> Iterator[str]:
    """A SQLite store with three cases (and their orders and rule sets)."""
    path = str(tmp_path / "aftersales.db")
    app = AfterSales(path)
    run_path(app, "ks_dispute_for_buyer", case="C1", order_id="O1")  # 8 events
    run_path(app, "ks_return", case="C2", order_id="O2")  # 5 events
    run_path(app, "km_silent_refund", case="C3", order_id="O3")  # 7 events (KM-5 points)
    app.close()
    yield path


def problems(store: str, *cases: str) -> list[tuple[str, int, str]]:
    app = AfterSales(store)
    try:
        return [(f.aggregate, f.version, f.problem) for f in verify(app, cases).findings]
    finally:
        app.close()


def edit(store: str, fn: object, *args: object) -> None:
    app = AfterSales(store)
    try:
        getattr(Rows(app), str(fn))(*args)
    finally:
        app.close()


def test_clean_store_reports_nothing(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--store", db, "verify"]) == 0
    assert capsys.readouterr().out == ""


def test_an_edit_made_before_any_verify_is_found_by_verify_and_audit(db: str) -> None:
    """The chain is written with the events: nothing is sealed after the fact."""
    app = AfterSales(db)
    _, state = Rows(app).get(case_uuid("C2"), 5)  # Refunded 120.00
    old = b'"amount":{"_type_":"decimal_str","_data_":"120.00"'
    assert old in state
    Rows(app).put(case_uuid("C2"), 5, state.replace(old, old.replace(b"120.00", b"99.90")))
    app.close()
    assert problems(db) == [("case C2", 5, "altered")]
    assert main(["--store", db, "verify"]) == 1
    assert main(["--store", db, "audit"]) == 1


def test_a_save_without_the_previous_digest_is_refused(db: str) -> None:
    app = AfterSales(db)
    try:
        uuid = case_uuid("C2")
        forged = StoredEvent(uuid, 6, "aftersales_es.events:Closed", b"{}")
        with pytest.raises(ChainError, match="previous digest"):
            app.recorder.insert_events([forged])
        assert Rows(app).versions(uuid) == [1, 2, 3, 4, 5]
    finally:
        app.close()


def test_history_and_digests_rewritten_together_are_found_only_by_the_anchor(db: str) -> None:
    app = AfterSales(db)
    _, doc = anchor.take(app, heads=True)
    rows, uuid = Rows(app), case_uuid("C1")
    _, state = rows.get(uuid, 7)  # the ruled_liable deduction of 60.00
    rows.put(uuid, 7, state.replace(b'"60.00"', b'"6.00"'))
    prev = GENESIS
    for version in rows.versions(uuid):  # recompute every digest, as a careful forger would
        prev = link(prev, uuid, version, *rows.get(uuid, version))
        rows.run(f"UPDATE {DIGESTS} SET digest = ? WHERE originator_id = ?"
                 " AND originator_version = ?", prev, uuid.hex, version)  # fmt: skip
    assert verify(app).findings == []
    found = {(f.uuid, f.version, f.problem) for f in anchor.against(app, doc).findings}
    assert found == {("", 0, "anchor_mismatch"), (uuid.hex, 8, "anchor_mismatch")}
    app.close()


def test_a_deleted_aggregate_with_its_digests_is_found_by_the_anchor(db: str) -> None:
    app = AfterSales(db)
    _, doc = anchor.take(app)  # no per-aggregate heads: the root and counts alone
    Rows(app).delete(case_uuid("C3"))
    Rows(app).run(f"DELETE FROM {DIGESTS} WHERE originator_id = ?", case_uuid("C3").hex)
    assert verify(app).findings == []
    (finding,) = anchor.against(app, doc).findings
    assert finding.problem == "anchor_mismatch"
    assert f"{doc['aggregates'] - 1} aggregates" in finding.detail
    app.close()


def test_cli_anchor_then_against_and_signed_anchors(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFTERSALES_ANCHOR_KEY", "k1")
    assert main(["--store", db, "verify", "--anchor", "--heads"]) == 0
    path = tmp_path / "anchor.json"
    path.write_text(capsys.readouterr().out)
    doc = json.loads(path.read_text())
    assert (doc["aggregates"], doc["events"], len(doc["hmac"])) == (
        3 + 3 + 2 + 3,  # cases, orders, rule sets (Kuaishou, Kilimall), refund payouts
        doc["events"],
        64,
    )
    assert main(["--store", db, "verify", "--against", str(path)]) == 0
    edit(db, "delete", case_uuid("C2"), 5)
    assert main(["--store", db, "--json", "verify", "--against", str(path)]) == 1
    problems_seen = {f["problem"] for f in json.loads(capsys.readouterr().out)["findings"]}
    assert problems_seen == {"deleted", "truncated", "anchor_mismatch"}
    path.write_text(json.dumps({**doc, "events": 1}))  # an edited anchor
    assert main(["--store", db, "--json", "verify", "--against", str(path)]) == 1
    assert "anchor_signature" in capsys.readouterr().out
    monkeypatch.delenv("AFTERSALES_ANCHOR_KEY")
    assert main(["--store", db, "verify", "--against", str(path)]) == 2  # signed, no key
    path.write_text('{"schema": "something-else"}')
    assert main(["--store", db, "verify", "--against", str(path)]) == 2


def test_verify_named_cases_only(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    edit(db, "delete", case_uuid("C1"), 2)
    assert problems(db, "C2", "C3") == []
    assert ("case C1", 2, "deleted") in problems(db, "C1")
    assert main(["--store", db, "verify", "C1", "NOPE"]) == 2
    assert "'NOPE' not found" in capsys.readouterr().err


def test_encrypted_compressed_store_chains_the_stored_bytes(tmp_path: Path) -> None:
    path = str(tmp_path / "encrypted.db")
    env = {
        "CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
        "CIPHER_KEY": AESCipher.create_key(32),
        "COMPRESSOR_TOPIC": "eventsourcing.compressor:ZlibCompressor",
    }
    app = AfterSales(path, env=env)
    run_path(app, "ks_return")
    assert verify(app).findings == []
    rows, uuid = Rows(app), case_uuid("C1")
    prev = GENESIS
    for version in rows.versions(uuid):  # the digests cover the ciphertext as stored
        prev = link(prev, uuid, version, *rows.get(uuid, version))
    assert rows.run(f"SELECT MAX(digest) FROM {DIGESTS} WHERE originator_id = ?"
                    " AND originator_version = 5", uuid.hex) == [(prev,)]  # fmt: skip
    _, state = rows.get(uuid, 2)
    rows.put(uuid, 2, state[:-1] + bytes([state[-1] ^ 1]))
    assert [(f.version, f.problem) for f in verify(app).findings] == [(2, "altered")]
    app.close()


@pytest.mark.single_store
def test_snapshots_carry_the_head_so_later_events_chain_on(store: str) -> None:
    """Given a case past its snapshot interval, a fresh process loads it from the
    snapshot and writes more events: the chain continues unbroken."""
    app = AfterSales(store)
    order(app)
    app.execute("apply", case="C1", order="O1", at=t(days=3), kind="refund_only", amount="80.00")
    app.execute(
        "reject", case="C1", at=t(days=3, hours=1), reason="used", category="other",
        buyer_contacted=True,
    )  # fmt: skip
    app.execute("escalate", case="C1", at=t(days=3, hours=2))
    for i in range(60):
        app.execute("submit_evidence", case="C1", at=t(days=3, hours=3, minutes=i),
                    by="buyer", note=f"#{i}")  # fmt: skip
    assert app.snapshots is not None and list(app.snapshots.get(case_uuid("C1")))
    app.close()
    fresh = AfterSales(store, env={"AFTERSALES_CACHE_SIZE": "0"})
    try:
        fresh.execute("submit_evidence", case="C1", at=t(days=4), by="seller", note="late")
        assert fresh.get_case("C1").version == 64
        assert verify(fresh).findings == []
    finally:
        fresh.close()


def test_migration_chains_a_store_written_before_the_chain(db: str) -> None:
    # Given: a store whose events have no digest rows (as written before the chain)
    app = AfterSales(db)
    Rows(app).run(f"DELETE FROM {DIGESTS}")
    before = verify(app)
    assert {f.problem for f in before.findings} == {"unchained"}
    # When: it is migrated (twice: it is idempotent), then written to
    assert migrate(app)["chained"] == before.events
    assert migrate(app)["chained"] == 0
    app.close()
    run_path(AfterSales(db), "ks_return", case="C9", order_id="O9", base=t(days=40))
    # Then: the chain is clean and says where it began
    app = AfterSales(db)
    try:
        assert verify(app).findings == []
        assert int(chain_meta(app)["migrated_up_to"]) == before.position
    finally:
        app.close()


def test_cli_migrate_prints_what_it_chained(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    app = AfterSales(db)
    Rows(app).run(f"DELETE FROM {DIGESTS} WHERE originator_id = ?", case_uuid("C2").hex)
    app.close()
    assert main(["--store", db, "verify"]) == 1
    capsys.readouterr()
    assert main(["--store", db, "verify", "--migrate"]) == 0
    assert json.loads(capsys.readouterr().out)["chained"] == 5
    assert problems(db) == []


def test_retention_renewals_chain_every_key_record_event(store: str) -> None:
    app = AfterSales(store)
    app.key_retention = timedelta(0)
    order(app)
    for i, name in enumerate(("apply", "approve")):
        extra = {"order": "O1", "kind": "return_refund", "amount": "50.00"} if i == 0 else {}
        app.execute(name, case="C1", at=t(days=3, hours=i), idempotency_key="K", **extra)
    assert verify(app).findings == []
    app.close()
