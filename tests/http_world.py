"""A small world for the HTTP tests: two sellers, two buyers, a token per role."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from aftersales_es.engine import AfterSales
from aftersales_es.http.app import create_app

#: Every token the tests use: name -> (role, seller, buyer).
PRINCIPALS: dict[str, tuple[str, str | None, str | None]] = {
    "buyer": ("buyer", None, "B1"),
    "other_buyer": ("buyer", None, "B2"),
    "seller": ("seller", "S1", None),
    "other_seller": ("seller", "S2", None),
    "platform": ("platform", None, None),
    "auditor": ("auditor", None, None),
    "admin": ("admin", None, None),
}


def recent(days: float = 0, **delta: float) -> datetime:
    """An instant ``days`` before now (to the second): in every window the rules give."""
    now = datetime.now(UTC).replace(microsecond=0)
    return now - timedelta(days=days, **delta)


def order_facts(order_id: str, seller: str, buyer: str, **more: Any) -> dict[str, Any]:
    return {
        "id": order_id,
        "seller": seller,
        "buyer": buyer,
        "platform": "kuaishou",
        "amount": "120.00",
        "currency": "CNY",
        "paid_at": recent(5),
        "shipped_at": recent(4),
        "delivered_at": recent(3),
        **more,
    }


@dataclass
class World:
    """The app under test, its engine, and a client and token per principal."""

    client: TestClient
    engine: AfterSales
    tokens: dict[str, str] = field(default_factory=dict)

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def events(self) -> int:
        return self.engine.notification_count()


def build(path: Path, **options: Any) -> Iterator[World]:
    """Given: orders O1, O3 (S1/B1) and O2 (S2/B2); return_refund cases C1 on O1, C2 on O2."""
    engine = AfterSales(path)
    for oid, s, b in (("O1", "S1", "B1"), ("O2", "S2", "B2"), ("O3", "S1", "B1")):
        engine.register_order(order_facts(oid, s, b))
    for cid, oid in (("C1", "O1"), ("C2", "O2")):
        engine.execute(
            "apply",
            case=cid,
            order=oid,
            kind="return_refund",
            reason="quality_issue",
            at=recent(hours=20),
        )
    asgi = create_app(app=engine, **options)
    world = World(TestClient(asgi), engine)
    tokens = asgi.app.state.service.tokens
    for name, (role, seller, buyer) in PRINCIPALS.items():
        world.tokens[name], _ = tokens.create(role, seller=seller, buyer=buyer, label=name)  # type: ignore[arg-type]
    with world.client:
        yield world
    engine.close()
