"""The console in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

A seller logs in, opens a case, approves it, and sees the timeline and the
highlighted statechart change; an auditor sees the same case with no action
button. The case page's screenshot goes to the test's temporary folder, or to
``$AFTERSALES_SCREENSHOT`` (the README's ``docs/console-case.png`` is made with
``AFTERSALES_SCREENSHOT=docs/console-case.png``), so a test run leaves the tree clean.
Without Chromium or Playwright the tests skip, except with ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aftersales_es.engine import AfterSales
from aftersales_es.http.app import create_app

from .http_world import order_facts, recent

CHROMIUM = os.environ.get("AFTERSALES_CHROMIUM", "/usr/bin/chromium")


def _missing() -> str | None:
    if not shutil.which(CHROMIUM):
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed"
    return None


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    problem = _missing()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser tests must run in CI: {problem}")
        pytest.skip(problem)
    import uvicorn

    engine = AfterSales(tmp_path_factory.mktemp("browser") / "console.db")
    engine.register_order(order_facts("O1", "S1", "B1", amount="89.90"))
    engine.execute(
        "apply", case="C1", order="O1", kind="return_refund", reason="quality_issue",
        amount="89.90", at=recent(hours=20),
    )  # fmt: skip
    asgi = create_app(app=engine)
    tokens = asgi.app.state.service.tokens
    seller, _ = tokens.create("seller", seller="S1")
    auditor, _ = tokens.create("auditor")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield {"url": f"http://127.0.0.1:{port}", "seller": seller, "auditor": auditor}
    srv.should_exit = True
    thread.join(10)
    engine.close()


@pytest.fixture(scope="module")
def browser(server: dict[str, Any]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


def _login(browser: Any, server: dict[str, Any], token: str) -> Any:
    page = browser.new_page(viewport={"width": 1000, "height": 1300})
    page.goto(server["url"] + "/console/login")
    page.fill("#token", token)
    page.click("button[type=submit]")
    page.wait_for_url("**/console/cases")
    return page


def test_seller_approves_in_console_timeline_and_statechart_update(
    browser: Any, server: dict[str, Any], tmp_path: Path
) -> None:
    # given a seller logged in, on the case list
    page = _login(browser, server, server["seller"])
    page.click("text=C1")
    page.wait_for_url("**/console/cases/C1")
    assert page.inner_text("#case-state") == "requested"
    assert page.get_attribute("g.state.current", "data-state") == "requested"
    # when the seller approves
    page.click("button[data-command=approve]")
    page.wait_for_url("**/console/cases/C1?done=approve")
    # then the state, the timeline and the highlighted statechart show it
    assert page.inner_text("#case-state") == "awaiting_return"
    events = page.eval_on_selector_all("#timeline li", "els => els.map(e => e.dataset.event)")
    assert events == ["Applied", "Approved"]
    assert page.get_attribute("g.state.current", "data-state") == "awaiting_return"
    taken = page.eval_on_selector_all("path.taken", "els => els.map(e => e.dataset.edge)")
    assert taken == ["requested-awaiting_return"]
    shot = Path(os.environ.get("AFTERSALES_SCREENSHOT") or tmp_path / "console-case.png")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 0
    page.close()


def test_auditor_case_page_no_action_buttons(browser: Any, server: dict[str, Any]) -> None:
    page = _login(browser, server, server["auditor"])
    page.goto(server["url"] + "/console/cases/C1")
    assert page.locator("#actions form").count() == 0
    assert page.locator("#no-actions").is_visible()
    assert page.locator("#timeline li").count() >= 1
    page.close()


def test_phone_sized_screen_case_list_readable(browser: Any, server: dict[str, Any]) -> None:
    page = browser.new_page(viewport={"width": 375, "height": 740})
    page.goto(server["url"] + "/console/login")
    page.fill("#token", server["seller"])
    page.click("button[type=submit]")
    page.wait_for_url("**/console/cases")
    # nothing wider than the screen: no sideways scrolling needed
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    page.close()
