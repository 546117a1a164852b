"""The console without JavaScript: plain forms, redirects, pages per role."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aftersales_es.app.tokens import Tokens
from aftersales_es.engine import AfterSales

from .http_world import World, build


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    yield from build(tmp_path / "console.db")


def login(world: World, who: str) -> None:
    r = world.client.post(
        "/console/login", data={"token": world.tokens[who]}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/console/cases"


def test_console_without_session_redirects_to_login(world: World) -> None:
    r = world.client.get("/console/cases/C1", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"


def test_console_bad_token_login_refused(world: World) -> None:
    r = world.client.post("/console/login", data={"token": "as_x_y"}, follow_redirects=False)
    assert r.status_code == 401 and "not valid" in r.text


def test_seller_approves_by_form_case_moves(world: World) -> None:
    # given a seller's session on C1
    login(world, "seller")
    page = world.client.get("/console/cases/C1").text
    assert 'data-command="approve"' in page and "<script" not in page
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    # when the approve form is posted
    form = {"csrf": csrf, "command": "approve", "version": "1"}
    r = world.client.post("/console/cases/C1/act", data=form, follow_redirects=False)
    # then it redirects back and the case moved
    assert r.status_code == 303 and r.headers["location"].endswith("?done=approve")
    assert world.engine.get_case("C1").state == "awaiting_return"
    page = world.client.get(r.headers["location"]).text
    assert 'data-state="awaiting_return" aria-current="step"' in page
    assert 'data-edge="requested-awaiting_return"' in page and 'data-event="Approved"' in page


def test_form_without_csrf_forbidden_nothing_written(world: World) -> None:
    login(world, "seller")
    before = world.events()
    r = world.client.post("/console/cases/C1/act", data={"command": "approve"})
    assert r.status_code == 403 and world.events() == before


def test_stale_form_version_shows_error_nothing_written(world: World) -> None:
    login(world, "seller")
    page = world.client.get("/console/cases/C1").text
    csrf = re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)  # type: ignore[union-attr]
    before = world.events()
    form = {"csrf": csrf, "command": "approve", "version": "7"}
    r = world.client.post("/console/cases/C1/act", data=form, follow_redirects=False)
    assert "error=" in r.headers["location"] and world.events() == before


def test_auditor_case_page_no_action_forms(world: World) -> None:
    login(world, "auditor")
    page = world.client.get("/console/cases/C1").text
    assert 'id="no-actions"' in page and "/act" not in page


def test_other_seller_case_page_not_found(world: World) -> None:
    login(world, "other_seller")
    r = world.client.get("/console/cases/C1")
    assert r.status_code == 404 and "S1" not in r.text


def test_case_list_filters_by_state(world: World) -> None:
    login(world, "admin")
    assert "C1" in world.client.get("/console/cases?state=requested").text
    assert "C1" not in world.client.get("/console/cases?state=refunded").text
    assert "C2" in world.client.get("/console/cases?due=soon").text


@pytest.mark.parametrize(
    ("who", "ledger", "audit"), [("seller", 200, 403), ("buyer", 403, 403), ("auditor", 200, 200)]
)
def test_ledger_and_audit_pages_by_role(world: World, who: str, ledger: int, audit: int) -> None:
    login(world, who)
    assert world.client.get("/console/ledger").status_code == ledger
    r = world.client.get("/console/audit?run=verify")
    assert r.status_code == audit
    if audit == 200:
        assert "clean" in r.text and "2 cases" in r.text
        assert "clean" in world.client.get("/console/audit?run=audit").text


def test_serve_command_shows_store_cases(tmp_path: Path) -> None:
    # given a store with cases and a token; when `aftersales serve` runs on it
    store = tmp_path / "served.db"
    next(build(store))  # the same two cases
    app = AfterSales(store)
    token, _ = Tokens(app.sql).create("admin")
    app.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "aftersales_es.cli", "--store", str(store), "serve"]
    proc = subprocess.Popen([*argv, "--port", str(port), "--log-level", "warning"])
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                r = httpx.get(url + "/console/cases", cookies={"aftersales_token": token})
                break
            except httpx.TransportError:
                time.sleep(0.1)
        # then the console lists them
        assert r.status_code == 200 and "C1" in r.text and "C2" in r.text
    finally:
        proc.terminate()
        proc.wait(10)
