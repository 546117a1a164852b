"""The HTTP API's protocol: idempotency keys, ETag / If-Match, problems, limits,
paging, history, the SSE feed and the token store, against the real app."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from aftersales_es.http.app import create_app

from .http_world import World, build, recent


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build(tmp_path / "http.db")


def test_same_idempotency_key_and_body_first_outcome_again(world: World) -> None:
    # given an approve sent with a key; when it is sent again, same key and body
    h = {**world.as_("seller"), "Idempotency-Key": "k-1"}
    first = world.client.post("/cases/C1/approve", json={}, headers=h)
    after_first = world.events()
    again = world.client.post("/cases/C1/approve", json={}, headers=h)
    # then the first outcome again, and nothing more written
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["etag"] == first.headers["etag"]
    assert world.events() == after_first


def test_same_idempotency_key_other_body_unprocessable(world: World) -> None:
    h = {**world.as_("seller"), "Idempotency-Key": "k-2"}
    ks3 = {"category": "other", "buyer_contacted": True}  # KS-3
    first = world.client.post("/cases/C1/reject", json={"reason": "a", **ks3}, headers=h)
    assert first.status_code == 200
    before = world.events()
    r = world.client.post("/cases/C1/reject", json={"reason": "b", **ks3}, headers=h)
    assert r.status_code == 422 and r.json()["type"].endswith("idempotency-key-reused")
    assert world.events() == before


def test_idempotency_key_scoped_to_principal_no_collision(world: World) -> None:
    # given S1 used key "k"; when S2 uses the same key on its own case; then it is its own command
    k = {"Idempotency-Key": "k"}
    assert world.client.post(
        "/cases/C1/approve", headers=world.as_("seller") | k, json={}
    ).is_success
    r = world.client.post("/cases/C2/approve", headers=world.as_("other_seller") | k, json={})
    assert r.status_code == 200 and r.json()["case_id"] == "C2"


def test_bad_idempotency_key_unprocessable(world: World) -> None:
    h = {**world.as_("seller"), "Idempotency-Key": "x" * 81}
    assert world.client.post("/cases/C1/approve", json={}, headers=h).status_code == 422


def test_if_match_current_version_succeeds_with_new_etag(world: World) -> None:
    etag = world.client.get("/cases/C1", headers=world.as_("seller")).headers["etag"]
    r = world.client.post(
        "/cases/C1/approve", json={}, headers=world.as_("seller") | {"If-Match": etag}
    )
    assert r.status_code == 200 and r.headers["etag"] != etag
    assert r.headers["etag"] == f'"{r.json()["version"]}"'


def test_if_match_stale_version_precondition_failed(world: World) -> None:
    # given C1 read at version 1, then changed by the buyer's platform partner
    etag = world.client.get("/cases/C1", headers=world.as_("seller")).headers["etag"]
    world.client.post(
        "/cases/C1/propose",
        headers=world.as_("seller"),
        json={"kind": "refund_only", "amount": "50"},
    )
    before = world.events()
    # when the seller approves with the stale ETag
    r = world.client.post(
        "/cases/C1/reject", json={}, headers=world.as_("seller") | {"If-Match": etag}
    )
    # then 412, naming the case and its version, and nothing written
    assert r.status_code == 412 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["case"] == "C1" and r.json()["version"] == 2
    assert world.events() == before


def test_refused_command_problem_names_rule_case_state_command(world: World) -> None:
    # given C1 requested; when the buyer ships back before approval (KS-5 path)
    r = world.client.post("/cases/C1/ship_back", json={}, headers=world.as_("buyer"))
    body = r.json()
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    assert body["rule"] == "statechart" and body["case"] == "C1"
    assert body["state"] == "requested" and body["command"] == "ship_back"
    assert {"type", "title", "status", "detail"} <= set(body)


def test_invalid_body_problem_lists_fields(world: World) -> None:
    r = world.client.post("/cases/C1/reject", json={"nope": 1}, headers=world.as_("seller"))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert any("nope" in e["loc"] for e in r.json()["errors"])
    r = world.client.post(
        "/cases/C1/reject", json={"at": "2026-01-01T00:00:00"}, headers=world.as_("seller")
    )
    assert r.status_code == 422


def test_body_over_limit_too_large(tmp_path: Path) -> None:
    world = next(build(tmp_path / "s.db", max_body=1024))
    r = world.client.post(
        "/cases/C1/reject", json={"reason": "x" * 2000}, headers=world.as_("seller")
    )
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


def test_slow_request_timeout_service_unavailable(tmp_path: Path) -> None:
    world = next(build(tmp_path / "t.db", timeout=1e-6))
    r = world.client.get("/audit", headers=world.as_("auditor"))
    assert r.status_code == 503 and r.headers["retry-after"] == "1"


def test_internal_error_no_stack_trace(tmp_path: Path) -> None:
    asgi = create_app(tmp_path / "e.db")

    @asgi.app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret detail in /some/file.py")

    r = TestClient(asgi, raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500 and r.json()["title"] == "Internal error"
    assert "secret" not in r.text and "Traceback" not in r.text and ".py" not in r.text


def test_openapi_lists_every_command_and_the_docs(world: World) -> None:
    spec = world.client.get("/openapi.json").json()
    for name in ("apply", "approve", "rule", "withdraw", "request_goods_back"):
        assert f"/cases/{{case_id}}/{name}" in spec["paths"]
    assert "RejectBody" in spec["components"]["schemas"]
    assert world.client.get("/docs").status_code == 200
    # the path and the two headers a command route reads are documented
    params = spec["paths"]["/cases/{case_id}/approve"]["post"]["parameters"]
    assert {(p["in"], p["name"]) for p in params} == {
        ("path", "case_id"),
        ("header", "Idempotency-Key"),
        ("header", "If-Match"),
    }


def test_case_list_cursor_pages_and_filters(world: World) -> None:
    admin = world.as_("admin")
    first = world.client.get("/cases?limit=1", headers=admin).json()
    assert [r["case_id"] for r in first["items"]] == ["C1"] and first["next_cursor"] == "C1"
    second = world.client.get("/cases?limit=1&cursor=C1", headers=admin).json()
    assert [r["case_id"] for r in second["items"]] == ["C2"] and second["next_cursor"] is None
    assert world.client.get("/cases?seller=S2", headers=admin).json()["items"][0]["case_id"] == "C2"
    assert world.client.get("/cases?state=refunded", headers=admin).json()["items"] == []
    due = recent(-30).isoformat().replace("+", "%2B")
    assert len(world.client.get(f"/cases?due_before={due}", headers=admin).json()["items"]) == 2


def test_history_by_version_and_as_of(world: World) -> None:
    world.client.post("/cases/C1/approve", json={}, headers=world.as_("seller"))
    h = world.as_("buyer")
    now = world.client.get("/cases/C1/history", headers=h).json()
    assert now["case"]["state"] == "awaiting_return" and len(now["timeline"]) == 2
    v1 = world.client.get("/cases/C1/history?version=1", headers=h).json()
    assert v1["case"]["state"] == "requested" and len(v1["timeline"]) == 1
    at = recent(hours=10).isoformat().replace("+", "%2B")
    assert (
        world.client.get(f"/cases/C1/history?as_of={at}", headers=h).json()["case"]["version"] == 1
    )


def test_next_commands_per_role_and_deadline(world: World) -> None:
    seller = world.client.get("/cases/C1/next", headers=world.as_("seller")).json()
    assert {"approve", "propose", "reject", "escalate"} <= {c["command"] for c in seller["allowed"]}
    assert all(c["actor"] == "seller" for c in seller["allowed"])
    assert seller["deadline"]["action"] == "auto_approve"
    buyer = world.client.get("/cases/C1/next", headers=world.as_("buyer")).json()
    # KS-8: either party may ask the platform to intervene.
    assert [c["command"] for c in buyer["allowed"]] == ["escalate", "withdraw"]
    assert world.client.get("/cases/C1/next", headers=world.as_("auditor")).json()["allowed"] == []


def test_event_feed_resumes_after_last_event_id(world: World) -> None:
    h = world.as_("auditor")
    ids = [
        int(x.split(": ")[1])
        for x in world.client.get("/events?follow=false", headers=h).text.splitlines()
        if x.startswith("id: ")
    ]
    assert len(ids) == 2 and ids == sorted(ids)
    world.client.post("/cases/C1/approve", json={}, headers=world.as_("seller"))
    rest = world.client.get(
        "/events?follow=false", headers=h | {"Last-Event-ID": str(ids[-1])}
    ).text
    assert "event: Approved" in rest and "event: Applied" not in rest


def test_tokens_hashed_at_rest(world: World, tmp_path: Path) -> None:
    # given tokens created; then the store holds no token nor its secret
    dump = "\n".join(sqlite3.connect(tmp_path / "http.db").iterdump())
    for token in world.tokens.values():
        assert token not in dump and token.split("_", 2)[2] not in dump
