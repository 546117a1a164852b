"""The demo's payouts: every refund it decided is paid through the fake
provider, which times out, answers 500 or loses an answer now and then; the
worker retries with backoff on a virtual clock until all are paid, and the
reconciliation is printed."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from aftersales_es.adapters.providers import FakeProvider
from aftersales_es.app.payouts import Payouts, PayoutWorker
from aftersales_es.audit.payouts import reconcile
from aftersales_es.engine import AfterSales


def faults(n: int) -> list[str]:
    """A fixed mix of transient faults over ``n`` sends ("" answers normally)."""
    return ["500" if i % 7 == 3 else "timeout" if i % 11 == 5 else "lost" if i % 13 == 8 else ""
            for i in range(n)]  # fmt: skip


def _drain(worker: PayoutWorker, app: AfterSales, clock: list[datetime]) -> None:
    """Send what is due, then wait (virtually) for the next retry, until none waits."""
    for _ in range(50):
        worker.run_once()
        waiting = [r for r in app.payout_index.rows(status="pending") if r["next_at"]]
        if not waiting:
            return
        clock[0] = max(clock[0], min(datetime.fromisoformat(r["next_at"]) for r in waiting))


def pay_refunds(app: AfterSales, start: datetime) -> tuple[str, list[dict[str, Any]]]:
    """Run the payout worker from ``start`` until nothing is due; an operator
    retries what was given up. A summary line and the reconciliation's totals."""
    pending = app.payout_index.rows(status="pending")
    fake = FakeProvider(faults=faults(2 * len(pending)))
    clock = [start]
    logs: Counter[str] = Counter()
    worker = PayoutWorker(app, fake, app.payout_index, clock=lambda: clock[0],
                          log=lambda r: logs.update([r["event"]]))  # fmt: skip
    _drain(worker, app, clock)
    stuck = app.payout_index.rows(stuck=True)
    for row in stuck:  # what `aftersales payouts list --stuck` shows a person
        Payouts(app).retry(row["payout_id"], at=clock[0], by="operator")
    _drain(worker, app, clock)
    data = reconcile(app).as_dict()
    paid = len(app.payout_index.rows(status="succeeded"))
    summary = (
        f"payouts: {paid} of {len(pending)} paid through the fake provider in {len(fake.calls)}"
        f" sends ({logs['payout_pending']} failures retried with backoff, {len(stuck)} given up"
        f" and retried by an operator; each key paid once: {len(fake.paid)} payments);"
        f" reconciliation {'clean' if data['clean'] else 'NOT clean'}"
    )
    return summary, data["totals"]
