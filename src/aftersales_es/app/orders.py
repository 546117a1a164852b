"""Orders: the facts cases are applied on, validated before they are recorded."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from eventsourcing.application import Repository

from aftersales_es.app.commands import RegisterOrder
from aftersales_es.app.rulesets import RuleSets
from aftersales_es.domain.base import order_uuid
from aftersales_es.domain.errors import AlreadyExistsError, InvalidInputError
from aftersales_es.domain.money import check_currency, parse_amount
from aftersales_es.domain.order import Order


def new_order(o: RegisterOrder, rules: RuleSets, stored: Repository[UUID]) -> Order:
    """The order ``o`` registers (unsaved): its currency, platform and amounts
    checked, refused if its id is among the ``stored`` aggregates."""
    check_currency(o.currency)
    rules.for_platform(o.platform)
    amount = parse_amount(o.amount, o.currency, allow_zero=False)
    lines = [
        {**ln.model_dump(), "unit_price": str(parse_amount(ln.unit_price, o.currency))}
        for ln in o.lines
    ]
    if order_uuid(o.id) in stored:
        raise AlreadyExistsError(f"order {o.id!r} already exists")
    return Order.register(
        at=o.paid_at,
        order_id=o.id,
        seller_id=o.seller,
        buyer_id=o.buyer,
        platform=o.platform,
        amount=amount,
        currency=o.currency,
        paid_at=o.paid_at,
        shipped_at=o.shipped_at,
        delivered_at=o.delivered_at,
        gs=o.gs,
        category=o.category,
        return_address=o.return_address,
        payment_reference=o.payment_reference,
        refund_method=o.refund_method,
        lines=lines,
    )


def mark(order: Order, at: datetime, what: str) -> None:
    """Record that ``order`` was ``what`` ("shipped", "delivered") at ``at``, once."""
    if at.tzinfo is None:
        raise InvalidInputError(f"{what}_at: needs a timezone")
    if at < order.paid_at:
        raise InvalidInputError(f"{what}_at: before the order was paid")
    if getattr(order, f"{what}_at") is not None:
        raise InvalidInputError(f"order {order.order_id}: already {what}")
    getattr(order, f"mark_{what}")(at)
