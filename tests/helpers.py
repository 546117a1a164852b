"""Given -> when -> then helpers shared by the rule tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from aftersales_es.domain.errors import AfterSalesError, CommandRefusedError
from aftersales_es.domain.order import Order

T0 = datetime.fromisoformat("2026-05-10T20:00:00+08:00")


def t(**delta: float) -> datetime:
    """An instant relative to T0 (the order's payment): ``t(hours=48)``."""
    return T0 + timedelta(**delta)


def order(app: Any, order_id: str = "O1", **facts: Any) -> Order:
    """Given: an order paid at T0 (Kuaishou, 120.00 CNY unless told).

    ``app`` is the service (on a store) or a ``desk.Desk`` (in memory).
    """
    base: dict[str, Any] = {
        "id": order_id,
        "seller": "S1",
        "buyer": "B1",
        "platform": "kuaishou",
        "amount": "120.00",
        "currency": "CNY",
        "paid_at": T0,
        "shipped_at": t(hours=20),
        "delivered_at": t(days=2),
    }
    base.update(facts)
    registered: Order = app.register_order(base)
    return registered


def event_types(app: Any, case_id: str) -> list[str]:
    return [type(e).__name__ for e in app.case_events(case_id)]


@contextmanager
def refused(app: Any, error: type[AfterSalesError], *words: str) -> Iterator[None]:
    """Then: the command is refused with ``error``, naming ``words``, writing nothing."""
    before = app.notification_count()
    with pytest.raises(error) as info:
        yield
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in {message!r}"
    if isinstance(info.value, CommandRefusedError):
        assert info.value.state in message and info.value.rule in message
    assert app.notification_count() == before, "a refused command wrote events"
