"""Workload 7: the HTTP service on loopback, next to the Python API, same commands.

``N`` concurrent clients send commands: on distinct cases (each client
applies for and approves its own cases) and on shared ones (every client
adds evidence to the same few disputed cases, so writers meet on a case
and the engine retries on version conflicts). Ours: ``aftersales serve``
in its own process on a SQLite file, clients with keep-alive connections.
Baseline: the same commands, from the same number of threads, through
``AfterSales.execute`` on another file in this process. Bounded in count
(``clients`` x ``per_client``) and in time (each request times out).
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from aftersales_es.app.tokens import Tokens
from aftersales_es.domain.errors import ConcurrencyError
from aftersales_es.engine import AfterSales

from . import Config, Row, median, paired, scratch

T0 = datetime.fromisoformat("2026-05-10T20:00:00+08:00")
Cmd = tuple[str, str, dict[str, Any]]  # case, command, fields
SHARED = 4
#: A client resends a command the engine gave up on after its own retries
#: (writers racing on one case); both sides do, and count it.
RETRIES = 20
RETRIED = {"direct": 0, "http": 0}
#: Server processes (``serve --workers``).
WORKERS = int(os.environ.get("BENCH_HTTP_WORKERS", "1"))


def _orders(app: AfterSales, n: int) -> None:
    for i in range(n):
        app.register_order(
            {"id": f"O{i}", "seller": f"S{i % 7}", "buyer": f"B{i}", "platform": "kuaishou",
             "amount": "120.00", "currency": "CNY", "paid_at": T0,
             "shipped_at": T0 + timedelta(hours=20), "delivered_at": T0 + timedelta(days=2)}
        )  # fmt: skip


def _disputes(app: AfterSales) -> None:
    """The shared cases: disputed, so evidence may be added again and again."""
    for k in range(SHARED):
        case, at = f"D{k}", T0 + timedelta(days=3)
        app.execute("apply", case=case, order=f"O{k}", kind="refund_only", at=at)
        app.execute(
            "reject",
            case=case,
            reason="no",
            category="other",
            buyer_contacted=True,
            at=at + timedelta(hours=1),
        )  # KS-3
        app.execute("escalate", case=case, by="buyer", at=at + timedelta(hours=2))


def plan(clients: int, per_client: int) -> dict[str, list[list[Cmd]]]:
    """Per kind (distinct, shared), per client, its commands in order.

    Shared-case commands all carry one instant: clients race, and a case
    refuses an instant before its last event's."""
    at = T0 + timedelta(days=3)
    distinct, shared = [], []
    for c in range(clients):
        mine: list[Cmd] = []
        for j in range(per_client // 2):
            case, order = f"C{c}-{j}", f"O{SHARED + c * per_client + j}"
            apply = {"order": order, "kind": "return_refund", "reason": "quality_issue"}
            mine.append((case, "apply", {**apply, "at": at}))
            mine.append((case, "approve", {"at": at + timedelta(hours=1)}))
        distinct.append(mine)
        shared.append(
            [
                (f"D{(c + j) % SHARED}", "submit_evidence",
                 {"by": ("buyer", "seller")[j % 2], "note": f"c{c} n{j}",
                  "at": at + timedelta(hours=3)})
                for j in range(per_client)
            ]
        )  # fmt: skip
    return {"distinct": distinct, "shared": shared}


def _drive(work: list[list[Cmd]], send: Callable[[Cmd], None]) -> tuple[float, list[float]]:
    """Run each client's commands on its own thread; wall time and per-command latencies."""
    lat: list[list[float]] = [[] for _ in work]
    failed: list[BaseException] = []

    def client(i: int) -> None:
        try:
            for cmd in work[i]:
                t = time.perf_counter()
                send(cmd)
                lat[i].append(time.perf_counter() - t)
        except BaseException as exc:  # reported below: a failed run has no figure
            failed.append(exc)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(work))]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failed:
        raise failed[0]
    return time.perf_counter() - start, [x for xs in lat for x in xs]


def _direct(app: AfterSales) -> Callable[[Cmd], None]:
    def send(cmd: Cmd) -> None:
        case, name, data = cmd
        for _ in range(RETRIES):
            try:
                app.execute(name, case=case, **data)
                return
            except ConcurrencyError:
                RETRIED["direct"] += 1
        raise ConcurrencyError(f"{case} {name}: still conflicting after {RETRIES} tries")

    return send


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``aftersales serve`` in a child process on a free loopback port."""

    def __init__(self, store: Path, workers: int = 1) -> None:
        self.port = _port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "aftersales_es.cli", "--store", str(store), "serve"]
        argv += ["--port", str(self.port), "--log-level", "warning", "--workers", str(workers)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, env={**os.environ})
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/openapi.json", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.close()
        raise RuntimeError("aftersales serve did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def _over_http(port: int, token: str) -> tuple[Callable[[Cmd], None], Callable[[], None]]:
    """A sender with one keep-alive connection per client thread. The standard
    library's client: a heavier one would bill its own cost to the service."""
    local = threading.local()
    opened: list[http.client.HTTPConnection] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def send(cmd: Cmd) -> None:
        if not hasattr(local, "c"):
            local.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            opened.append(local.c)
        case, name, data = cmd
        body = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in data.items()}
        for _ in range(RETRIES):
            local.c.request("POST", f"/cases/{case}/{name}", json.dumps(body), headers)
            r = local.c.getresponse()
            text = r.read()
            if r.status == 200:
                return
            if r.status != 409 or b"problems/conflict" not in text:
                break
            RETRIED["http"] += 1
        raise RuntimeError(f"{case} {name}: {r.status} {text[:200]!r}")

    def close() -> None:
        for c in opened:
            c.close()

    return send, close


def _pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[q - 1] if len(xs) > 1 else xs[0]  # type: ignore[index]


def run(cfg: Config) -> list[Row]:
    clients = 8 if not cfg.quick else 4
    per_client = 2 * max(1, cfg.size(40, 10) // 2)
    work = plan(clients, per_client)
    n_orders = SHARED + clients * per_client + 1  # the last one for the warm-up apply
    samples: dict[str, list[float]] = {}
    lats: dict[str, list[float]] = {}
    for _ in range(cfg.repeats):
        with scratch(cfg, "http") as d:
            direct = AfterSales(d / "direct.db")
            _orders(direct, n_orders)
            _disputes(direct)
            # Reopened, as the served store is: both sides start with the same
            # empty cache (else the baseline holds every order it registered).
            direct.close()
            direct = AfterSales(d / "direct.db")
            served = AfterSales(d / "http.db")
            _orders(served, n_orders)
            _disputes(served)
            token, _ = Tokens(served.sql).create("admin", label="bench")
            served.close()
            server = Server(d / "http.db", WORKERS)
            try:
                send, close = _over_http(server.port, token)
                # Untimed: open each client's connection and load the rule set
                # (an apply loads its platform's file, evidence its stored record).
                at = T0 + timedelta(days=3, hours=2, minutes=30)
                spare = {"order": f"O{n_orders - 1}", "kind": "refund_only", "at": at}
                warm = [[("D0", "submit_evidence", {"by": "buyer", "note": "w", "at": at})]]
                for side in (send, _direct(direct)):
                    _drive([[("W", "apply", spare)]], side)
                    _drive(warm * clients, side)
                for kind in ("distinct", "shared"):
                    cmds = sum(len(w) for w in work[kind])
                    wall, lat = _drive(work[kind], _direct(direct))
                    samples.setdefault(f"direct_{kind}", []).append(cmds / wall)
                    lats.setdefault(f"direct_{kind}", []).extend(lat)
                    wall, lat = _drive(work[kind], send)
                    samples.setdefault(f"http_{kind}", []).append(cmds / wall)
                    lats.setdefault(f"http_{kind}", []).extend(lat)
                close()
            finally:
                server.close()
                direct.close()
    rows = []
    for kind in ("distinct", "shared"):
        ours, base = samples[f"http_{kind}"], samples[f"direct_{kind}"]
        h, p = lats[f"http_{kind}"], lats[f"direct_{kind}"]
        ms = {
            "http_p50_ms": _pct(h, 50) * 1000, "http_p99_ms": _pct(h, 99) * 1000,
            "direct_p50_ms": _pct(p, 50) * 1000, "direct_p99_ms": _pct(p, 99) * 1000,
        }  # fmt: skip
        rows.append(
            Row(
                "7 http",
                f"{kind} cases, {clients} clients",
                "cmds/s",
                median(ours),
                median(base),
                f"AfterSales.execute from {clients} threads, same commands",
                ">=",
                0.5,
                note=(
                    f"loopback, keep-alive; p50/p99 {ms['http_p50_ms']:.1f}/"
                    f"{ms['http_p99_ms']:.1f} ms over HTTP vs {ms['direct_p50_ms']:.1f}/"
                    f"{ms['direct_p99_ms']:.1f} ms direct"
                ),
                samples={"http": ours, "direct": base},
                ratios=paired(ours, base),
                extra={
                    "resent": dict(RETRIED),
                    **{k: round(v, 2) for k, v in ms.items()},
                    "commands": sum(len(w) for w in work[kind]),
                },
            )
        )
    return rows
