"""Evidence at the front doors: the CLI (SQLite and PostgreSQL), scenario files,
and the HTTP service's attachments with the case's own access checks."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from aftersales_es.cli.main import main
from aftersales_es.domain.errors import ScenarioError
from aftersales_es.engine import AfterSales
from aftersales_es.sim.simulate import load_scenario, run

from .evidence_files import EXE, PDF, png
from .http_world import World, build

AT = "2026-05-14T10:00:00+08:00"
ORDER = ["order", "register", "O1", "--seller", "S1", "--buyer", "B1", "--platform", "kuaishou",
         "--amount", "89.90", "--currency", "CNY", "--paid-at", "2026-05-10T20:15:00+08:00",
         "--shipped-at", "2026-05-11T09:00:00+08:00",
         "--delivered-at", "2026-05-13T14:30:00+08:00"]  # fmt: skip


def cli(capsys: pytest.CaptureFixture[str], store: str, *argv: str) -> tuple[int, str, str]:
    code = main(["--store", store, *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def shop(store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[str]:
    """Given: order O1 and case C1 (return_refund) through the CLI; lid.png beside."""
    (tmp_path / "lid.png").write_bytes(png("cli"))
    assert cli(capsys, store, *ORDER)[0] == 0
    assert cli(capsys, store, "apply", "C1", "--order", "O1", "--kind", "return_refund",
               "--at", AT)[0] == 0  # fmt: skip
    yield store


def test_message_attach_evidence_and_blob_get_through_the_cli(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lid = str(tmp_path / "lid.png")
    code, out, _ = cli(capsys, shop, "message", "C1", "--by", "buyer", "--text", "cracked lid",
                       "--attach", lid, "--at", "2026-05-14T11:00:00+08:00")  # fmt: skip
    assert code == 0 and "buyer: cracked lid [lid.png (image/png)]" in out
    code, out, _ = cli(capsys, shop, "attach", "C1", lid, "--by", "seller",
                       "--at", "2026-05-14T12:00:00+08:00")  # fmt: skip
    assert code == 0
    code, out, _ = cli(capsys, shop, "--json", "evidence", "C1")
    rows = json.loads(out)
    assert [(r["id"], r["by"], r["name"]) for r in rows] == [
        ("E1", "buyer", "lid.png"), ("E2", "seller", "lid.png"),
    ]  # fmt: skip
    target = tmp_path / "got.png"
    assert cli(capsys, shop, "blob", "get", rows[0]["digest"], "-o", str(target))[0] == 0
    assert target.read_bytes() == png("cli")
    code, out, _ = cli(capsys, shop, "history", "C1")
    assert "MessagePosted" in out and "lid.png (image/png" in out
    assert cli(capsys, shop, "verify")[0] == 0


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("empty.png", b"", "empty (0 bytes)"),
        ("holiday.jpg", EXE, "application/octet-stream (read from its bytes)"),
    ],
)
def test_bad_file_at_the_cli_is_one_line_exit_2_nothing_written(
    shop: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, data: bytes,
    words: str,
) -> None:  # fmt: skip
    (tmp_path / name).write_bytes(data)
    before = AfterSales(shop)
    count = before.notification_count()
    before.close()
    code, _, err = cli(capsys, shop, "attach", "C1", str(tmp_path / name), "--by", "buyer",
                       "--at", AT)  # fmt: skip
    assert code == 2 and words in err and err.count("\n") == 1
    after = AfterSales(shop)
    assert after.notification_count() == count and list(after.blobs.digests()) == []
    after.close()


def test_unknown_evidence_id_and_missing_blob_at_the_cli(
    shop: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli(capsys, shop, "escalate", "C1", "--by", "buyer", "--at", AT)[0] == 0
    code, _, err = cli(capsys, shop, "rule", "C1", "--in-favour-of", "buyer", "--evidence", "E4",
                       "--at", "2026-05-15T10:00:00+08:00")  # fmt: skip
    assert code == 2 and "no evidence E4 on this case (evidence: none)" in err
    code, _, err = cli(capsys, shop, "blob", "get", "0" * 64, "-o", str(tmp_path / "x"))
    assert code == 2 and "not in" in err


def test_scenario_attaches_files_inline_and_by_path(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "lid.png").write_bytes(png("scenario"))
    scenario = {
        "platform": "kuaishou",
        "orders": [{"id": "O1", "seller": "S1", "buyer": "B1", "amount": "50.00",
                    "currency": "CNY", "paid_at": "2026-05-10T10:00:00+08:00",
                    "delivered_at": "2026-05-11T10:00:00+08:00"}],
        "steps": [
            {"at": AT, "command": "apply", "order": "O1", "case": "C1",
             "args": {"kind": "refund_only", "reason": "quality_issue"},
             "attach": [{"path": "photos/lid.png"}]},
            {"at": "2026-05-14T11:00:00+08:00", "command": "message", "case": "C1",
             "args": {"by": "seller", "text": "which part?"},
             "attach": [{"name": "form.pdf", "base64": base64.b64encode(PDF).decode()}]},
        ],
    }  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario), "utf-8")
    out = run(load_scenario(path))
    assert out["errors"] == []
    posted = [e for e in out["cases"][0]["events"] if e["type"] == "MessagePosted"]
    assert [[a["name"] for a in e["attachments"]] for e in posted] == [["lid.png"], ["form.pdf"]]


@pytest.mark.parametrize(
    ("attach", "words"),
    [
        ({"path": "../outside.png"}, "inside the scenario's folder"),
        ({"name": "../../x", "base64": "AAAA"}, "not a plain file name"),
        ({"name": "x.png", "base64": "not base64!"}, "not valid base64"),
    ],
)
def test_bad_scenario_file_is_refused_as_a_whole(
    tmp_path: Path, attach: dict[str, str], words: str
) -> None:
    scenario = {"platform": "kuaishou", "steps": [
        {"at": AT, "command": "message", "case": "C1", "args": {"by": "buyer", "text": "x"},
         "attach": [attach]}]}  # fmt: skip
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(scenario), "utf-8")
    with pytest.raises(ScenarioError, match=words):
        load_scenario(path)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build(tmp_path / "http.db")


@pytest.mark.parametrize(
    ("who", "status"),
    [("buyer", 200), ("seller", 200), ("auditor", 200), ("platform", 200),
     ("other_buyer", 404), ("other_seller", 404)],
)  # fmt: skip
def test_attachment_is_served_with_the_cases_access_checks(
    world: World, who: str, status: int
) -> None:
    from .evidence_files import files

    case = world.engine.execute("message", case="C1", by="buyer", **files(("lid.png", png("web"))))
    digest = case.attachments[0]["digest"]
    r = world.client.get(f"/cases/C1/attachments/{digest}", headers=world.as_(who))
    assert r.status_code == status
    if status == 200:
        assert r.headers["content-type"] == "image/png" and r.content == png("web")
        assert r.headers["x-content-type-options"] == "nosniff"
    # a digest the case does not cite is not found, whoever asks
    other = world.client.get(f"/cases/C1/attachments/{'0' * 64}", headers=world.as_("admin"))
    assert other.status_code == 404


def test_case_page_shows_messages_and_thumbnails(world: World) -> None:
    from .evidence_files import files

    world.engine.execute("message", case="C1", by="buyer", text="the lid",
                         **files(("lid.png", png("page")), ("report.pdf", PDF)))  # fmt: skip
    digest = world.engine.get_case("C1").attachments[0]["digest"]
    page = world.client.get("/console/cases/C1", headers=world.as_("seller")).text
    assert "text: the lid" in page
    assert f'<img class="thumb" src="/cases/C1/attachments/{digest}"' in page
    assert "report.pdf (application/pdf" in page
