"""The webhook provider against a real HTTP server on 127.0.0.1, its signed
callback endpoint, and a payout worker SIGKILLed between sending and recording."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aftersales_es.adapters.providers import SIGNATURE_HEADER, WebhookProvider, sign, verify
from aftersales_es.app.payouts import Payouts, PayoutWorker
from aftersales_es.audit.payouts import reconcile
from aftersales_es.domain.payout import RetryPolicy
from aftersales_es.engine import AfterSales
from aftersales_es.http.app import create_app

from .stores import py_args, spawn
from .test_payouts import NOW, refunded

#: Drives one store's payout worker and index directly (the CLI's worker runs
#: one per partition).
pytestmark = pytest.mark.single_store

SECRET = "s3cret"


class Bank:
    """A provider's server: pays each idempotency key once; ``script`` answers
    the next requests (ok, 500, slow, 422)."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.paid: dict[str, dict[str, Any]] = {}
        self.requests: list[str] = []
        self.bad_signatures = 0
        bank = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                key = self.headers["Idempotency-Key"]
                bank.requests.append(key)
                if not verify(SECRET, body, self.headers.get(SIGNATURE_HEADER)):
                    bank.bad_signatures += 1
                    return self._answer(401, {})
                step = bank.script.pop(0) if bank.script else "ok"
                if step == "slow":
                    time.sleep(1.5)
                if step in ("500", "422"):
                    return self._answer(int(step), {"error": step})
                bank.paid.setdefault(key, json.loads(body))
                return self._answer(202, {"reference": f"BANK-{list(bank.paid).index(key)}"})

            def _answer(self, code: int, data: dict[str, Any]) -> None:
                raw = json.dumps(data).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:
                    pass  # the client gave up waiting (the timeout case)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/payouts"


@pytest.fixture
def bank() -> Iterator[Bank]:
    b = Bank()
    thread = threading.Thread(target=b.server.serve_forever, daemon=True)
    thread.start()
    yield b
    b.server.shutdown()
    b.server.server_close()


def webhook_worker(app: AfterSales, bank: Bank, now: list[Any]) -> PayoutWorker:
    provider = WebhookProvider(bank.url, SECRET, timeout=0.5)
    return PayoutWorker(app, provider, app.payout_index, clock=lambda: now[0],
                        policy=RetryPolicy(max_attempts=3))  # fmt: skip


def test_webhook_posts_signed_instruction_with_idempotency_key(app: AfterSales, bank: Bank) -> None:
    pid = refunded(app)
    webhook_worker(app, bank, [NOW]).run_once()
    p = Payouts(app).get(pid)
    assert (p.status, p.reference) == ("accepted", "BANK-0")
    assert bank.requests == [pid] and bank.bad_signatures == 0
    assert bank.paid[pid]["amount"] == "120.00" and bank.paid[pid]["payment_reference"] == "PAY-O1"


def test_webhook_500_timeout_and_refusal(app: AfterSales, bank: Bank) -> None:
    pid = refunded(app)
    bank.script = ["500", "slow", "422"]
    now = [NOW]
    w = webhook_worker(app, bank, now)
    reasons = []
    for _ in range(3):
        w.run_once()
        p = Payouts(app).get(pid)
        reasons.append(p.reason)
        now[0] = p.retry_at or now[0]
    assert reasons[0] == f"HTTP 500 from {bank.url}"
    assert reasons[1].startswith(f"no answer from {bank.url}: ")
    assert reasons[2] == f"HTTP 422 from {bank.url}" and p.status == "given_up"
    # The slow request may have been paid by the bank after the client gave up:
    # the key is the same every time, so it is paid at most once.
    assert set(bank.requests) == {pid} and len(bank.paid) <= 1


def test_callback_endpoint_verifies_signature_and_records_once(
    app: AfterSales, bank: Bank, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AFTERSALES_PAYOUT_SECRET", SECRET)
    pid = refunded(app)
    webhook_worker(app, bank, [NOW]).run_once()
    client = TestClient(create_app(app=app))
    body = json.dumps({"status": "succeeded", "reference": "BANK-0"}).encode()
    forged = client.post(f"/payouts/{pid}/callback", content=body,
                         headers={SIGNATURE_HEADER: sign("wrong", body)})  # fmt: skip
    assert forged.status_code == 401 and Payouts(app).get(pid).status == "accepted"
    signed = {SIGNATURE_HEADER: sign(SECRET, body)}
    first = client.post(f"/payouts/{pid}/callback", content=body, headers=signed)
    again = client.post(f"/payouts/{pid}/callback", content=body, headers=signed)
    assert first.json() == {"payout": pid, "status": "succeeded", "recorded": True}
    assert again.json() == {"payout": pid, "status": "succeeded", "recorded": False}
    unknown = client.post("/payouts/PO-X-1/callback", content=body, headers=signed)
    assert unknown.status_code == 404 and "PO-X-1" in unknown.text
    assert reconcile(app).as_dict()["clean"]


CRASH_BETWEEN_SEND_AND_RECORD = """
    import os, signal
    from datetime import datetime
    from aftersales_es.adapters.providers import WebhookProvider
    from aftersales_es.app.payouts import PayoutWorker
    from aftersales_es.engine import AfterSales

    def crash(pid, answer):  # the provider has the instruction; nothing is recorded yet
        os.kill(os.getpid(), signal.SIGKILL)

    app = AfterSales({store!r})
    now = datetime.fromisoformat({now!r})
    provider = WebhookProvider({url!r}, {secret!r}, timeout=5)
    PayoutWorker(app, provider, app.payout_index, clock=lambda: now, on_answer=crash).run_once()
"""


def test_worker_killed_between_send_and_record_never_pays_twice(store: str, bank: Bank) -> None:
    app = AfterSales(store)
    pid = refunded(app)
    code = CRASH_BETWEEN_SEND_AND_RECORD.format(
        store=store, now=NOW.isoformat(), url=bank.url, secret=SECRET
    )
    crashed = spawn(py_args(code))
    crashed.communicate(timeout=60)
    assert crashed.returncode == -signal.SIGKILL
    assert list(bank.paid) == [pid]
    stale = Payouts(app).get(pid)
    assert stale.status == "sending"  # sent, outcome never recorded: not lost
    now = [NOW]
    w = webhook_worker(app, bank, now)
    assert w.run_once() == 0  # its lease still runs: nobody sends it again yet
    now[0] = stale.lease_until
    w.run_once()
    p = Payouts(app).get(pid)
    assert (p.status, p.attempts, p.reference) == ("accepted", 2, "BANK-0")
    assert bank.requests == [pid, pid] and list(bank.paid) == [pid]  # the same key: paid once
    Payouts(app).callback(pid, at=now[0], status="succeeded", reference="BANK-0")
    assert reconcile(app).as_dict()["clean"]
    app.close()
