"""The order aggregate: the facts cases are checked against, and the
cross-case invariants (one open case, refunds within the order amount).

An order may carry lines. A case on named lines takes those lines'
slots (a whole-order case takes the order's slot, which blocks every line);
its refunds are recorded per line (amount + fee settled, quantity), so no
line refunds more than its paid amount nor more units than were bought.

A case command that opens, releases or refunds saves the order's new events
in the same transaction as the case's, so a concurrent writer on the same
order gets a version conflict instead of breaking an invariant.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersales_es.domain.base import TimedAggregate, TimedCreated, TimedEvent, order_uuid
from aftersales_es.domain.errors import InvalidInputError
from aftersales_es.domain.money import zero
from aftersales_es.domain.order_lines import OrderLines


class Registered(TimedCreated):
    order_id: str
    seller_id: str
    buyer_id: str
    platform: str
    amount: Decimal
    currency: str
    paid_at: datetime
    shipped_at: datetime | None
    delivered_at: datetime | None
    gs: bool
    lines: list[dict[str, Any]]
    #: Version 2: the goods' product category (validity windows, KS-10);
    #: a line may name its own. v1 orders are upcast to "" (none given).
    category: str = ""
    #: The seller's return address for this order, from its profile (KS-5);
    #: "" when none was registered (orders stored before it have none).
    return_address: str = ""
    #: How the buyer paid (the reference refunds go back to) and how refunds
    #: are paid out; orders stored before them have none and the default.
    payment_reference: str = ""
    refund_method: str = "original_payment"

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A v1 order named no category."""
        state["category"] = ""


class Shipped(TimedEvent):
    def apply(self, order: Order) -> None:
        order.shipped_at = self.at


class Delivered(TimedEvent):
    def apply(self, order: Order) -> None:
        order.delivered_at = self.at


class CaseFact(TimedEvent):
    """Base of the events a case's decision records on its order."""

    case_id: str

    def apply(self, order: Order) -> None:
        # Cases check new commands against this, so that the order's case
        # history stays in time order across its cases.
        order.last_case_at = max(order.last_case_at or self.at, self.at)
        self.record(order)

    def record(self, order: Order) -> None:
        """Assign this event's own fields."""


class CaseOpened(CaseFact):
    """A case took the order's open slot, or (v2) the slots of its ``lines``."""

    lines: tuple[str, ...] = ()

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A v1 case always covered the whole order."""
        state["lines"] = ()

    def record(self, order: Order) -> None:
        if self.lines:
            order.line_cases = {**order.line_cases, **dict.fromkeys(self.lines, self.case_id)}
        else:
            order.open_case_id = self.case_id
        if self.case_id not in order.case_ids:
            order.case_ids.append(self.case_id)


class CaseReleased(CaseFact):
    def record(self, order: Order) -> None:
        if order.open_case_id == self.case_id:
            order.open_case_id = None
        order.line_cases = {k: v for k, v in order.line_cases.items() if v != self.case_id}


class RefundRecorded(CaseFact):
    """A case refunded ``amount``; v2 adds the buyer's ``fee`` and the
    per-line allocation ``lines`` ([{line, quantity, amount, fee}])."""

    amount: Decimal
    fee: Decimal = Decimal(0)
    lines: tuple[dict[str, Any], ...] = ()

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A v1 refund had no fee and no lines."""
        state["fee"] = Decimal(0)
        state["lines"] = ()

    def record(self, order: Order) -> None:
        order.refunded_total += self.amount
        order.fees_total = order.fees_total + self.fee
        settled, qty = dict(order.line_settled), dict(order.line_quantity)
        for part in self.lines:
            key = part["line"]
            settled[key] = settled.get(key, Decimal(0)) + part["amount"] + part["fee"]
            qty[key] = qty.get(key, 0) + part["quantity"]
        order.line_settled, order.line_quantity = settled, qty


class CaseRejected(TimedEvent):
    """A seller rejected a case on this order (counted for the resubmission cap)."""

    case_id: str

    def apply(self, order: Order) -> None:
        order.rejected_case_ids = (*order.rejected_case_ids, self.case_id)


class CaseRuled(TimedEvent):
    """The platform ruled on a case of this order: final for its lines and grounds (KS-8)."""

    case_id: str
    lines: tuple[str, ...]
    reason: str

    def apply(self, order: Order) -> None:
        ruling = {"case_id": self.case_id, "lines": list(self.lines), "reason": self.reason}
        order.rulings = (*order.rulings, ruling)


#: The facts an order is registered with, as attributes of :class:`Order`:
#: what an export carries and what ``order show`` prints, besides its lines.
FACTS = (
    "order_id",
    "seller_id",
    "buyer_id",
    "platform",
    "amount",
    "currency",
    "paid_at",
    "shipped_at",
    "delivered_at",
    "gs",
    "return_address",
)


class Order(OrderLines, TimedAggregate):
    """An order that after-sales cases are applied on."""

    #: Rulings on this order's cases (KS-8), class-level for old orders.
    rulings: tuple[dict[str, Any], ...] = ()

    #: Cases on this order a seller rejected, in order. A class-level
    #: default, so orders stored or snapshotted before it existed still load.
    rejected_case_ids: tuple[str, ...] = ()

    #: KS-5: where the goods of this order's returns go ("": not registered).
    return_address: str = ""

    def __init__(
        self,
        order_id: str,
        seller_id: str,
        buyer_id: str,
        platform: str,
        amount: Decimal,
        currency: str,
        paid_at: datetime,
        shipped_at: datetime | None,
        delivered_at: datetime | None,
        gs: bool,
        lines: list[dict[str, Any]],
        category: str = "",
        return_address: str = "",
        payment_reference: str = "",
        refund_method: str = "original_payment",
    ) -> None:
        self.order_id = order_id
        self.seller_id = seller_id
        self.buyer_id = buyer_id
        self.platform = platform
        self.amount = amount
        self.currency = currency
        self.paid_at = paid_at
        self.shipped_at = shipped_at
        self.delivered_at = delivered_at
        self.gs = gs
        self.lines = lines
        self.category = category
        self.return_address = return_address
        self.payment_reference = payment_reference
        self.refund_method = refund_method
        self.refunded_total = zero(currency)
        # Orders are not snapshotted, so old orders rebuild through here.
        #: Buyer-side fees kept from refunds (they count against the order cap).
        self.fees_total = zero(currency)
        #: Per line: refunded + fees (line cap), quantity refunded/returned, open case.
        self.line_settled: dict[str, Decimal] = {}
        self.line_quantity: dict[str, int] = {}
        self.line_cases: dict[str, str] = {}
        self.open_case_id: str | None = None
        self.case_ids: list[str] = []
        #: When a case last recorded something on this order (None: never).
        self.last_case_at: datetime | None = None

    @classmethod
    def register(cls, *, at: datetime, **facts: Any) -> Order:
        """Create an order from validated facts (see ``commands.RegisterOrder``).

        Lines: ids unique, and the lines' total (quantity x unit
        price) at most the order amount; the rest is shipping and the like,
        refundable only by a whole-order case.
        """
        lines: list[dict[str, Any]] = facts.get("lines") or []
        ids = [ln["line"] for ln in lines]
        if len(set(ids)) != len(ids):
            dup = sorted({i for i in ids if ids.count(i) > 1})
            raise InvalidInputError(f"order: lines: duplicate line id(s) {', '.join(dup)}")
        total = sum((ln["quantity"] * Decimal(ln["unit_price"]) for ln in lines), Decimal(0))
        if total > facts["amount"]:
            raise InvalidInputError(
                f"order: lines total {total:f} exceeds the order amount {facts['amount']:f}"
            )
        return cls._create(Registered, id=order_uuid(facts["order_id"]), at=at, **facts)

    @property
    def remaining(self) -> Decimal:
        """What may still be refunded on this order (refunds and fees count)."""
        return self.amount - self.refunded_total - self.fees_total

    def shipped(self, at: datetime) -> bool:
        """Whether the order had been shipped at ``at``."""
        return self.shipped_at is not None and self.shipped_at <= at

    def delivered(self, at: datetime) -> bool:
        """Whether the order had been delivered at ``at``."""
        return self.delivered_at is not None and self.delivered_at <= at

    def mark_shipped(self, at: datetime) -> None:
        self._record(Shipped, at=at)

    def mark_delivered(self, at: datetime) -> None:
        self._record(Delivered, at=at)

    # Called by a case's decisions, which have already checked the invariants.
    def occupy(self, case_id: str, at: datetime, lines: list[str] | None = None) -> None:
        self._record(CaseOpened, at=at, case_id=case_id, lines=tuple(lines or ()))

    def release(self, case_id: str, at: datetime) -> None:
        if self.open_case_id == case_id or case_id in self.line_cases.values():
            self._record(CaseReleased, at=at, case_id=case_id)

    def record_refund(
        self,
        case_id: str,
        amount: Decimal,
        at: datetime,
        *,
        fee: Decimal | None = None,
        lines: list[dict[str, Any]] | None = None,
    ) -> None:
        self._record(
            RefundRecorded,
            at=at,
            case_id=case_id,
            amount=amount,
            fee=zero(self.currency) if fee is None else fee,
            lines=tuple(lines or ()),
        )

    # The resubmission cap: what ``max_applications_after_rejection`` counts.
    def record_rejection(self, case_id: str, at: datetime) -> None:
        self._record(CaseRejected, at=at, case_id=case_id)

    def record_ruling(self, case_id: str, at: datetime, lines: list[str], reason: str) -> None:
        self._record(CaseRuled, at=at, case_id=case_id, lines=tuple(lines), reason=reason)

    @property
    def applications_after_rejection(self) -> int:
        """How many cases were applied for on this order after its first rejected one."""
        if not self.rejected_case_ids:
            return 0
        return len(self.case_ids) - 1 - self.case_ids.index(self.rejected_case_ids[0])
