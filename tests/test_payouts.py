"""Refund payouts: the outbox, the worker, the fake provider's faults, people's
records, callbacks and reconciliation, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftersales_es.adapters.providers import FakeProvider
from aftersales_es.app.payouts import Payouts, PayoutWorker
from aftersales_es.audit.check import audit
from aftersales_es.audit.payouts import named, reconcile
from aftersales_es.domain.errors import CommandRefusedError
from aftersales_es.domain.payout import Payout, PayoutError, PayoutNotFoundError, RetryPolicy
from aftersales_es.engine import AfterSales

from .helpers import order, refused, t

#: Drives one store's payout worker and index directly (the CLI's worker runs
#: one per partition).
pytestmark = pytest.mark.single_store

NOW = t(days=5)
POLICY = RetryPolicy(max_attempts=4)


def refunded(app: AfterSales, case: str = "C1", order_id: str = "O1", **facts: Any) -> str:
    """Given: an order and a refund-only case the seller approved (refunded at once)."""
    order(app, order_id, payment_reference=f"PAY-{order_id}", **facts)
    app.execute("apply", case=case, order=order_id, kind="refund_only", amount="120.00",
                reason="not_received", at=t(days=3))  # fmt: skip
    app.execute("approve", case=case, at=t(days=3, hours=1))
    return f"PO-{case}-3"


def worker(app: AfterSales, provider: Any, clock: list[datetime]) -> PayoutWorker:
    return PayoutWorker(app, provider, app.payout_index, clock=lambda: clock[0], policy=POLICY)


def payout_events(app: AfterSales, pid: str) -> list[Any]:
    return list(app.events.get(Payouts(app).get(pid).id))


def test_refund_decision_saves_its_payout_instruction_with_it(app: AfterSales) -> None:
    pid = refunded(app)
    p = Payouts(app).get(pid)
    assert (p.status, p.amount, p.currency, p.buyer_id, p.seller_id) == (
        "pending", Decimal("120.00"), "CNY", "B1", "S1")  # fmt: skip
    assert (p.payment_reference, p.method, p.refund_version) == ("PAY-O1", "original_payment", 3)
    (created,) = payout_events(app, pid)
    assert created.at == t(days=3, hours=1)  # stamped with the decision, in its transaction
    assert app.payout_index.rows()[0]["payout_id"] == pid


def test_refused_command_writes_no_instruction(app: AfterSales) -> None:
    refunded(app)
    with refused(app, CommandRefusedError, "refunded"):
        app.execute("approve", case="C1", at=t(days=4))
    assert len(app.payout_index.rows()) == 1


def test_timeouts_500_and_a_lost_answer_are_retried_and_paid_once(app: AfterSales) -> None:
    pid = refunded(app)
    fake = FakeProvider(faults=["timeout", "500", "lost"])
    clock = [NOW]
    w = worker(app, fake, clock)
    for _ in range(4):
        w.run_once()
        p = Payouts(app).get(pid)
        clock[0] = p.retry_at or clock[0]
    p = Payouts(app).get(pid)
    assert p.status == "succeeded" and p.attempts == 4
    assert fake.calls == [pid] * 4 and list(fake.paid) == [pid]  # one key, paid once
    names = [type(e).__name__ for e in payout_events(app, pid)]
    assert names.count("PayoutFailed") == 3 and names[-1] == "PayoutSucceeded"
    waits = [e.retry_at - e.at for e in payout_events(app, pid) if hasattr(e, "retry_at")]
    assert waits == [POLICY.backoff(1), POLICY.backoff(2), POLICY.backoff(3)]
    assert reconcile(app).as_dict()["clean"]


def test_a_retry_is_not_sent_before_its_backoff(app: AfterSales) -> None:
    pid = refunded(app)
    fake = FakeProvider(faults=["500"])
    clock = [NOW]
    w = worker(app, fake, clock)
    w.run_once()
    clock[0] = NOW + POLICY.backoff(1) - timedelta(seconds=1)
    assert w.run_once() == 0 and fake.calls == [pid]


def test_given_up_after_the_last_try_is_listed_stuck_then_a_person_retries(
    app: AfterSales,
) -> None:
    pid = refunded(app)
    fake = FakeProvider(faults=["500"] * 4)
    clock = [NOW]
    w = worker(app, fake, clock)
    for _ in range(5):
        w.run_once()
        clock[0] = Payouts(app).get(pid).retry_at or clock[0]
    assert Payouts(app).get(pid).status == "given_up"
    assert [r["payout_id"] for r in app.payout_index.rows(stuck=True)] == [pid]
    Payouts(app).retry(pid, at=clock[0] + timedelta(hours=1))
    clock[0] += timedelta(hours=1)
    w.run_once()
    assert Payouts(app).get(pid).status == "succeeded" and list(fake.paid) == [pid]
    assert app.payout_index.rows(stuck=True) == []


def test_declined_is_given_up_at_once_with_the_providers_reason(app: AfterSales) -> None:
    pid = refunded(app)
    worker(app, FakeProvider(faults=["decline"]), [NOW]).run_once()
    p = Payouts(app).get(pid)
    assert (p.status, p.attempts) == ("given_up", 1)
    assert p.reason == "the provider declined: account closed"


def test_currency_the_provider_does_not_accept_is_never_sent(app: AfterSales) -> None:
    pid = refunded(app)
    fake = FakeProvider(currencies=frozenset({"KES"}))
    logs: list[dict[str, Any]] = []
    w = worker(app, fake, [NOW])
    w.log = logs.append
    w.run_once()
    p = Payouts(app).get(pid)
    assert fake.calls == [] and p.status == "given_up"
    assert logs == [
        {"event": "payout_given_up", "payout": pid, "case": "C1", "amount": "120.00 CNY",
         "attempt": 0, "provider": "fake",
         "reason": "currency CNY not accepted by provider fake (accepts KES)"}
    ]  # fmt: skip


def test_duplicate_callbacks_record_the_outcome_once(app: AfterSales) -> None:
    pid = refunded(app)
    fake = FakeProvider(asynchronous=True, duplicate_callbacks=True)
    worker(app, fake, [NOW]).run_once()
    assert Payouts(app).get(pid).status == "accepted"
    answers = [
        Payouts(app).callback(key, at=NOW, status="succeeded", reference=ref)[1]
        for key, ref in fake.deliver()
    ]
    assert answers == [True, False]
    assert Payouts(app).get(pid).status == "succeeded"
    with pytest.raises(PayoutError, match="already paid"):
        Payouts(app).callback(pid, at=NOW, status="failed", reason="late failure")


def test_callback_for_an_unknown_instruction_is_refused_writing_nothing(app: AfterSales) -> None:
    refunded(app)
    before = app.notification_count()
    with pytest.raises(PayoutNotFoundError, match="PO-NOPE"):
        Payouts(app).callback("PO-NOPE", at=NOW, status="succeeded", reference="x")
    assert app.notification_count() == before


def test_a_person_confirms_a_manual_payout(app: AfterSales) -> None:
    pid = refunded(app)
    p = Payouts(app).confirm(pid, at=NOW, reference="BANK-77")
    assert (p.status, p.reference) == ("succeeded", "BANK-77")
    with pytest.raises(PayoutError, match="BANK-77"):
        Payouts(app).confirm(pid, at=NOW, reference="OTHER")


@pytest.fixture
def without_outbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A save that forgets its instruction (what reconciliation must catch)."""
    import aftersales_es.app.service as service

    monkeypatch.setattr(service, "outbox", lambda aggregates: [])
    yield


def test_reconcile_finds_every_kind_of_mismatch_and_audit_reports_them(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = AfterSales(store)
    refunded(app)  # paid in full: no mismatch
    import aftersales_es.app.service as service

    with monkeypatch.context() as m:
        m.setattr(service, "outbox", lambda aggregates: [])
        refunded(app, "C2", "O2")  # a refund without its instruction
    fields = {"order_id": "O2", "seller_id": "S1", "buyer_id": "B1", "currency": "CNY",
              "method": "original_payment", "payment_reference": "", "rule": None}  # fmt: skip
    differs = Payout.instruct(NOW, payout_id="PO-C2-3", case_id="C2", refund_version=3,
                              amount=Decimal("100.00"), **fields)  # fmt: skip
    orphan = Payout.instruct(NOW, payout_id="PO-C9-3", case_id="C9", refund_version=3,
                             amount=Decimal("5.00"), **fields)  # fmt: skip
    app._save(differs, orphan)
    problems = [(m["case_id"], m["problem"]) for m in reconcile(app).as_dict()["mismatches"]]
    assert problems == [("C2", "amount differs"), ("C9", "payout without a refund decision")]
    totals = reconcile(app).as_dict()["totals"]
    assert totals == [{"currency": "CNY", "seller_id": "S1", "decided": Decimal("240.00"),
                       "paid": Decimal(0), "failed": Decimal(0), "pending": Decimal("225.00"),
                       "refunds": 2, "payouts": 3}]  # fmt: skip
    assert [m["table"] for m in audit(app).mismatches] == ["payouts", "payouts"]
    app.close()


def test_refunds_stored_before_payouts_existed_are_counted_apart(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given refunds decided before the outbox (an old store), then a new one
    with its instruction, the old ones are no mismatch; a later refund
    without its instruction is."""
    import aftersales_es.app.service as service

    app = AfterSales(store)
    with monkeypatch.context() as m:
        m.setattr(service, "outbox", lambda aggregates: [])
        refunded(app, "C0", "O0")
    assert reconcile(app).as_dict()["refunds_before_payouts_existed"] == 1
    assert reconcile(app).as_dict()["clean"]
    refunded(app, "C1", "O1")
    # the streamed check counts C0 apart and matches C1, as reading both sides whole does
    assert reconcile(app).as_dict() == named(app).as_dict()
    assert reconcile(app).as_dict()["refunds_before_payouts_existed"] == 1
    monkeypatch.setattr(service, "outbox", lambda aggregates: [])
    refunded(app, "C2", "O2")
    (m,) = reconcile(app).mismatches
    assert (m["case_id"], m["version"]) == ("C2", 3)
    assert m["problem"] == "refund decided without a payout"
    app.close()


def test_reconcile_names_a_refund_without_payout(store: str, without_outbox: None) -> None:
    app = AfterSales(store)
    Payouts(app).app._save(  # an instruction already in the log: the outbox exists
        Payout.instruct(NOW, payout_id="PO-X-1", case_id="X", refund_version=1,
                        amount=Decimal("1.00"), order_id="OX", seller_id="S9", buyer_id="B9",
                        currency="CNY", method="offline", payment_reference="", rule=None)
    )  # fmt: skip
    refunded(app)
    m = next(m for m in reconcile(app).mismatches if m["case_id"] == "C1")
    assert (m["case_id"], m["version"]) == ("C1", 3)
    assert m["problem"] == "refund decided without a payout"
    app.close()


def test_streamed_reconciliation_totals_equal_the_named_ones_per_status(app: AfterSales) -> None:
    # given: four refunds of two sellers whose payouts end given up, failed
    # once and scheduled again, and paid (twice)
    pids = [refunded(app, f"C{i}", f"O{i}", seller=f"S{i % 2}") for i in range(4)]
    worker(app, FakeProvider(faults=["decline", "500"]), [NOW]).run_once()
    statuses = sorted(Payouts(app).get(pid).status for pid in pids)
    assert statuses == ["given_up", "pending", "succeeded", "succeeded"]
    # when: the streamed check runs, and the one that reads both sides whole
    streamed, whole = reconcile(app).as_dict(), named(app).as_dict()
    # then: clean, with the same totals per currency and seller, group by group
    assert streamed["clean"] and whole["clean"]
    assert streamed == whole
    paid = sum((r["paid"] for r in streamed["totals"]), Decimal(0))
    failed = sum((r["failed"] for r in streamed["totals"]), Decimal(0))
    assert (paid, failed) == (Decimal("240.00"), Decimal("120.00"))
