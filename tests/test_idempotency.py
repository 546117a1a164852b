"""A retried command with the same idempotency key has one effect."""

from __future__ import annotations

import threading

import pytest

from aftersales_es.app.idempotency import IdempotencyKeyReusedError
from aftersales_es.engine import AfterSales

from .helpers import event_types, order, refused, t


def _apply(app: AfterSales, key: str, amount: str = "50.00") -> object:
    return app.execute(
        "apply",
        case="C1",
        order="O1",
        at=t(days=3),
        kind="refund_only",
        amount=amount,
        reason="changed_mind",
        idempotency_key=key,
    )


def test_same_key_same_payload_returns_original_and_writes_nothing(app: AfterSales) -> None:
    order(app)
    first = _apply(app, "k-1")
    before = app.notification_count()
    again = _apply(app, "k-1")
    assert app.notification_count() == before
    assert again.version == first.version  # type: ignore[attr-defined]
    assert event_types(app, "C1") == ["Applied"]


def test_same_key_other_payload_is_refused_writing_nothing(app: AfterSales) -> None:
    order(app)
    _apply(app, "k-1")
    with refused(app, IdempotencyKeyReusedError, "idempotency_key", "k-1"):
        _apply(app, "k-1", amount="60.00")


def test_retried_approve_refunds_once(app: AfterSales) -> None:
    order(app)
    _apply(app, "k-apply")
    for _ in range(3):
        case = app.execute("approve", case="C1", at=t(days=3, hours=1), idempotency_key="k-ok")
        assert case.state == "refunded"
    assert event_types(app, "C1").count("Refunded") == 1
    assert app.get_order("O1").refunded_total == case.refunded_total


@pytest.mark.parametrize("threads", [8])
def test_concurrent_duplicates_have_one_effect(app: AfterSales, threads: int) -> None:
    order(app)
    _apply(app, "k-apply")
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def send() -> None:
        barrier.wait()
        try:
            app.execute("approve", case="C1", at=t(days=3, hours=1), idempotency_key="k-race")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    workers = [threading.Thread(target=send) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    assert event_types(app, "C1").count("Refunded") == 1
