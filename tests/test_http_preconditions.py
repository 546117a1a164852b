"""``If-Match`` across server processes: two services on one store, each with
its own application (its own cache and connections), as ``serve --workers``
runs them. The precondition is checked by the engine on the state the
command is decided on, so a stale ETag is refused whichever process took the
change."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from aftersales_es.cli.main import main
from aftersales_es.engine import AfterSales
from aftersales_es.http.app import create_app

from .http_world import World, build


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build(tmp_path / "http.db")


@pytest.fixture
def other(world: World, tmp_path: Path) -> Iterator[TestClient]:
    """A second server process's service on the same store."""
    engine = AfterSales(tmp_path / "http.db")
    with TestClient(create_app(app=engine)) as client:
        yield client
    engine.close()


def test_if_match_changed_through_other_server_precondition_failed(
    world: World, other: TestClient
) -> None:
    # given C1 read (and cached) by server A at version 1
    etag = world.client.get("/cases/C1", headers=world.as_("seller")).headers["etag"]
    # when server B takes a proposal on it, then the seller rejects on A with the old ETag
    proposed = other.post(
        "/cases/C1/propose", json={"kind": "refund_only", "amount": "50"},
        headers=world.as_("seller"),
    )  # fmt: skip
    assert proposed.status_code == 200
    before = world.events()
    r = world.client.post(
        "/cases/C1/reject", json={}, headers=world.as_("seller") | {"If-Match": etag}
    )
    # then 412 naming the case, its version now and the expected one; nothing written
    body = r.json()
    assert r.status_code == 412 and r.headers["content-type"] == "application/problem+json"
    assert (body["case"], body["version"], body["expected"]) == ("C1", 2, 1)
    assert body["state"] == "proposed" and body["command"] == "reject"
    assert world.events() == before


def test_if_match_newer_than_own_cache_runs(world: World, other: TestClient) -> None:
    # given server A showed C1 at version 1, and server B moved it to version 2
    world.client.get("/cases/C1", headers=world.as_("seller"))
    etag = other.post(
        "/cases/C1/propose", json={"kind": "refund_only", "amount": "50"},
        headers=world.as_("seller"),
    ).headers["etag"]  # fmt: skip
    # when the buyer declines on A with B's ETag; then it runs on the stored state
    r = world.client.post(
        "/cases/C1/decline_proposal", json={}, headers=world.as_("buyer") | {"If-Match": etag}
    )
    assert r.status_code == 200, r.json()
    assert r.headers["etag"] == '"3"'


def test_if_match_list_holding_current_version_runs(world: World) -> None:
    r = world.client.post(
        "/cases/C1/approve", json={}, headers=world.as_("seller") | {"If-Match": '"7", W/"1"'}
    )
    assert r.status_code == 200


def test_if_match_list_without_current_version_precondition_failed(world: World) -> None:
    before = world.events()
    r = world.client.post(
        "/cases/C1/approve", json={}, headers=world.as_("seller") | {"If-Match": '"7", "x"'}
    )
    assert r.status_code == 412 and r.json()["version"] == 1
    assert world.events() == before


def test_serve_workers_memory_store_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--store", "memory", "serve", "--workers", "2"]) != 0
    assert "memory store lives in one process" in capsys.readouterr().err


def test_serve_workers_stale_if_match_precondition_failed(tmp_path: Path) -> None:
    # given the world's store served by two worker processes
    store = tmp_path / "http.db"
    given = build(store)
    world = next(given)  # the store and its tokens; its in-process client is not used
    token = world.tokens["seller"]
    given.close()
    world.engine.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "aftersales_es.cli", "--store", str(store), "serve"]
    proc = subprocess.Popen(
        [*argv, "--port", str(port), "--workers", "2", "--log-level", "warning"]
    )
    url, h = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(300):
            try:
                etag = httpx.get(f"{url}/cases/C1", headers=h, timeout=2).headers["etag"]
                break
            except httpx.TransportError:
                time.sleep(0.1)
        # when the case changes through one worker, then a command with the old ETag
        # is refused by whichever worker takes it, every time
        body = {"kind": "refund_only", "amount": "50"}
        assert httpx.post(f"{url}/cases/C1/propose", json=body, headers=h).status_code == 200
        for _ in range(4):
            r = httpx.post(f"{url}/cases/C1/reject", json={}, headers=h | {"If-Match": etag})
            assert r.status_code == 412 and r.json()["version"] == 2
    finally:
        proc.terminate()
        proc.wait(30)
