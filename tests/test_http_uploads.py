"""New files over HTTP: ``multipart/form-data`` to ``message``, ``submit_evidence``
and ``apply``, through the same command path as JSON, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from .evidence_files import EXE, PDF, png
from .http_world import World, build, recent

Upload = list[tuple[str, tuple[str, bytes, str]]]


@pytest.fixture
def world(store: str) -> Iterator[World]:
    yield from build(store, max_upload=11 * 2**20)  # type: ignore[arg-type]


def upload(*files: tuple[str, bytes]) -> Upload:
    return [("file", (name, data, "application/octet-stream")) for name, data in files]


def blobs(world: World) -> list[str]:
    return sorted(d for d, _ in world.engine.blobs.digests())


def post(world: World, who: str, path: str, data: dict[str, Any], files: Upload, **h: str) -> Any:
    return world.client.post(path, data=data, files=files, headers={**world.as_(who), **h})


def test_message_with_files_stores_them_and_serves_them_back(world: World) -> None:
    # given C1 applied; when the buyer posts a message with a photo and a PDF as a form
    photo = png("cracked lid")
    r = post(world, "buyer", "/cases/C1/message", {"by": "buyer", "text": "see"},
             upload(("lid.png", photo), ("report.pdf", PDF)))  # fmt: skip
    # then the case cites both, described from their bytes, and serves them
    assert r.status_code == 200, r.text
    refs = {a["name"]: a for a in world.engine.get_case("C1").attachments}
    assert refs["lid.png"]["digest"] == hashlib.sha256(photo).hexdigest()
    assert (refs["lid.png"]["media_type"], refs["report.pdf"]["media_type"]) == (
        "image/png",
        "application/pdf",
    )
    got = world.client.get(f"/cases/C1/attachments/{refs['lid.png']['digest']}",
                           headers=world.as_("seller"))  # fmt: skip
    assert got.status_code == 200 and got.content == photo
    assert blobs(world) == sorted(a["digest"] for a in refs.values())


def test_submit_evidence_with_photo_in_dispute_ks8(world: World) -> None:
    # given C1 rejected (KS-3: buyer contacted) and escalated by the buyer
    ks3 = {"reason": "no", "category": "other", "buyer_contacted": True}
    assert world.client.post("/cases/C1/reject", json=ks3, headers=world.as_("seller")).is_success
    assert world.client.post(
        "/cases/C1/escalate", json={"by": "buyer"}, headers=world.as_("buyer")
    ).is_success
    # when the buyer submits evidence with a photo as a form
    r = post(world, "buyer", "/cases/C1/submit_evidence", {"by": "buyer", "note": "the lid"},
             upload(("lid.png", png("evidence"))))  # fmt: skip
    # then it is an evidence item citing the photo (KS-8)
    assert r.status_code == 200, r.text
    item = world.engine.get_case("C1").evidence[-1]
    digest = hashlib.sha256(png("evidence")).hexdigest()
    assert item["text"] == "the lid" and item["attachments"] == [digest]


def test_apply_with_photo_and_list_field_as_json_text_opens_case(world: World) -> None:
    # given order O3 (B1); when the buyer applies with a photo, structured fields as JSON text
    fields = {"order": "O3", "kind": "refund_only", "reason": "quality_issue", "note": "broken",
              "at": recent(hours=2).isoformat(), "attachments": json.dumps([])}  # fmt: skip
    r = post(world, "buyer", "/cases/C3/apply", fields, upload(("box.png", png("box"))))
    # then the case is open and holds the photo
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "requested"
    assert [a["name"] for a in world.engine.get_case("C3").attachments] == ["box.png"]


def test_form_recites_held_file_and_adds_new_one(world: World) -> None:
    # given C1 holds a photo
    first = post(world, "buyer", "/cases/C1/message", {"by": "buyer"}, upload(("a.png", png("a"))))
    ref = world.engine.get_case("C1").attachments[0]
    assert first.status_code == 200
    # when a form cites it again (JSON text) and sends a new file
    cited = {k: ref[k] for k in ("digest", "size", "media_type", "name")}
    r = post(world, "seller", "/cases/C1/message",
             {"by": "seller", "text": "and mine", "attachments": json.dumps([cited])},
             upload(("b.png", png("b"))))  # fmt: skip
    # then the message cites both, and only the new bytes were added
    assert r.status_code == 200, r.text
    assert len(blobs(world)) == 2


@pytest.mark.parametrize(
    ("what", "name", "data", "status", "words"),
    [
        ("oversized", "big.png", png("x") + b"\x00" * (10 * 2**20), 409, ("KS-A4", "above")),
        ("beyond the request limit", "huge.png", b"\x00" * (11 * 2**20 + 1), 413, ("too large",)),
        ("disguised", "photo.jpg", EXE, 409, ("KS-A4", "application/octet-stream")),
        ("traversal name", "../../x.png", png("t"), 422, ("file name",)),
        ("empty", "nothing.png", b"", 409, ("KS-A4", "empty (0 bytes)")),
    ],
)  # fmt: skip
def test_bad_file_refused_as_problem_nothing_written_no_blob(
    world: World, what: str, name: str, data: bytes, status: int, words: tuple[str, ...]
) -> None:
    # given C1 and its events; when the buyer sends a bad file
    before = world.events()
    msg = {"by": "buyer", "text": "x"}
    r = post(world, "buyer", "/cases/C1/message", msg, upload((name, data)))
    # then a problem naming the rule, and nothing written: no event, no blob
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert all(w in r.text for w in words), r.text
    assert (world.events(), blobs(world)) == (before, [])


@pytest.mark.parametrize(("who", "status"), [("other_buyer", 404), ("other_seller", 404),
                                             ("auditor", 403), ("platform", 200)])  # fmt: skip
def test_upload_access_as_for_the_case(world: World, who: str, status: int) -> None:
    # when a principal other than C1's buyer posts a file to C1
    before = world.events()
    by = "platform" if who in ("platform", "auditor") else who.removeprefix("other_")
    r = post(world, who, "/cases/C1/message", {"by": by, "text": "x"}, upload(("p.png", png(who))))
    # then others' cases are not found, the auditor writes nothing, no blob is left
    assert r.status_code == status, r.text
    if status != 200:
        assert (world.events(), blobs(world)) == (before, [])


def test_upload_idempotency_key_replays_and_stale_if_match_refused(world: World) -> None:
    # given a message with a file sent with a key
    msg, files = {"by": "buyer", "text": "x"}, upload(("p.png", png("k")))
    first = post(world, "buyer", "/cases/C1/message", msg, files, **{"Idempotency-Key": "u1"})
    after = world.events()
    # when it is sent again with the same key: the first outcome, nothing more
    again = post(world, "buyer", "/cases/C1/message", msg, files, **{"Idempotency-Key": "u1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and world.events() == after
    # when another file is sent under a stale version: 412, nothing written
    stale = post(world, "buyer", "/cases/C1/message", msg, upload(("q.png", png("q"))),
                 **{"If-Match": '"1"'})  # fmt: skip
    assert stale.status_code == 412 and world.events() == after and len(blobs(world)) == 1


def test_form_to_command_without_files_unsupported(world: World) -> None:
    r = post(world, "seller", "/cases/C1/approve", {}, upload(("p.png", png())))
    assert r.status_code == 415 and r.headers["content-type"] == "application/problem+json"


def test_file_under_another_part_name_refused(world: World) -> None:
    before = world.events()
    r = world.client.post("/cases/C1/message", data={"by": "buyer"},
                          files=[("photo", ("p.png", png(), "image/png"))],
                          headers=world.as_("buyer"))  # fmt: skip
    assert r.status_code == 422 and "name it 'file'" in r.json()["detail"]
    assert world.events() == before
