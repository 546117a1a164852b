"""Export and offline replay: a case exported to JSON lines and
replayed with no database equals the live case and prints the same history.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eventsourcing.cryptography import AESCipher

from aftersales_es.audit.export import ExportError, export_lines, replay
from aftersales_es.audit.history import history, history_view, render
from aftersales_es.cli.main import main
from aftersales_es.engine import AfterSales

from .test_history import PATHS, run_path, state_of


@pytest.mark.parametrize("path", sorted(PATHS))
def test_export_then_replay_equals_the_live_case(app: AfterSales, path: str) -> None:
    run_path(app, path)
    (rebuilt,) = replay(export_lines(app, ["C1"]))
    live = app.get_case("C1")
    assert state_of(rebuilt.case) == state_of(live)
    assert rebuilt.events == app.case_events("C1")
    assert history_view(rebuilt.case, rebuilt.events) == history(app, "C1")
    assert rebuilt.ruleset == app.ruleset_of(live).model_dump(mode="json")
    assert rebuilt.order["order_id"] == "O1"


def test_cli_replay_prints_what_history_prints_with_no_database(
    store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    app = AfterSales(store)
    run_path(app, "km_warehouse_scrapped", case="C1", order_id="O1")
    run_path(app, "ks_dispute_for_buyer", case="C2", order_id="O2")
    app.close()
    out = tmp_path / "cases.jsonl"
    assert main(["--store", store, "export", "C1", "C2", "-o", str(out)]) == 0
    assert main(["--store", store, "history", "C1"]) == 0
    assert main(["--store", store, "history", "C2"]) == 0
    live = capsys.readouterr().out
    nowhere = str(tmp_path / "no" / "such" / "dir" / "store.db")
    assert main(["--store", nowhere, "replay", str(out)]) == 0
    assert capsys.readouterr().out == live.replace("\ncase C2", "\n\ncase C2", 1)
    assert not (tmp_path / "no").exists()


def test_export_file_carries_order_rules_and_stored_events(app: AfterSales) -> None:
    run_path(app, "ks_approved_refund")
    records = [json.loads(line) for line in export_lines(app, ["C1"])]
    assert [r["type"] for r in records] == ["header", "order", "ruleset", *["event"] * 3]
    assert records[0]["schema_version"] == 1
    assert records[1]["facts"]["amount"] == "120.00"
    assert records[2]["values"]["name"] == "kuaishou"
    first = json.loads(records[3]["state"])
    assert records[3]["topic"] == "aftersales_es.events:Applied" and first["case_id"] == "C1"


def _lines(app: AfterSales) -> list[str]:
    run_path(app, "ks_dispute_for_buyer")
    return list(export_lines(app, ["C1"]))


def test_unknown_schema_version_is_refused(
    app: AfterSales, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = _lines(app)
    header = json.loads(lines[0])
    lines[0] = json.dumps({**header, "schema_version": 2})
    with pytest.raises(ExportError, match="unsupported export schema version 2"):
        replay(lines)
    path = tmp_path / "future.jsonl"
    path.write_text("\n".join(lines))
    assert main(["replay", str(path)]) == 2
    assert "unsupported export schema version 2" in capsys.readouterr().err


def test_altered_export_is_refused(app: AfterSales) -> None:
    lines = _lines(app)
    record = json.loads(lines[-1])
    record["state"] = record["state"].replace("60.00", "6.00")
    lines[-1] = json.dumps(record)
    with pytest.raises(ExportError, match="digest mismatch"):
        replay(lines)


def test_foreign_topic_is_refused_before_it_is_imported(app: AfterSales) -> None:
    lines = _lines(app)
    record = json.loads(lines[-1])
    record["topic"] = "os:system"
    lines[-1] = json.dumps(record)
    with pytest.raises(ExportError, match="not a case event topic"):
        replay(lines)


def test_not_an_export_is_refused() -> None:
    with pytest.raises(ExportError, match="not an aftersales case export"):
        replay(['{"type": "header", "schema": "other"}'])
    with pytest.raises(ExportError, match="not JSON"):
        replay(["{"])


def test_export_of_an_unknown_case_writes_nothing(
    app: AfterSales, store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # given: a store that exists (the app created it) without case NOPE
    out = tmp_path / "x.jsonl"
    assert main(["--store", store, "export", "NOPE", "-o", str(out)]) == 2
    assert "not found" in capsys.readouterr().err and not out.exists()


def test_render_of_replayed_case_matches_live(app: AfterSales) -> None:
    run_path(app, "km_declined_then_silent")
    (rebuilt,) = replay(export_lines(app, ["C1"]))
    assert render(history_view(rebuilt.case, rebuilt.events)) == render(history(app, "C1"))


def test_encrypted_store_exports_a_replayable_plain_history(tmp_path: Path) -> None:
    """With the cipher on, the export holds the decrypted state (treat the file
    as carrying personal data); it replays with no key and no database."""
    env = {"CIPHER_TOPIC": "eventsourcing.cryptography:AESCipher",
           "CIPHER_KEY": AESCipher.create_key(32)}  # fmt: skip
    app = AfterSales(str(tmp_path / "encrypted.db"), env=env)
    try:
        run_path(app, "ks_dispute_for_buyer")
        lines = list(export_lines(app, ["C1"]))
        live = history(app, "C1")
    finally:
        app.close()
    assert "used item" in "".join(lines)
    (rebuilt,) = replay(lines)
    assert history_view(rebuilt.case, rebuilt.events) == live
