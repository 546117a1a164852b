"""Commands: validated input, before anything is recorded.

Each command is a frozen pydantic model; ``COMMANDS`` maps the public
command names of SPEC §3 to them, so the whole vocabulary is visible in one
place and the CLI, the scenario runner and the API share one validation.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from aftersales_es.app.fields import (
    AmountText,
    Attachments,
    Author,
    EvidenceIds,
    Id,
    Instant,
    Key,
    MessageText,
    Party,
    ShortText,
    Text,
    one_line,
)
from aftersales_es.domain.errors import InvalidInputError
from aftersales_es.domain.rules import Kind
from aftersales_es.domain.rulings import Outcome


class Command(BaseModel):
    """Base: every command names its case and the business instant it happened.

    ``at`` None: "now", read by the service when it decides the command, after
    loading the case, so it can never precede the case's last event.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = ""
    case: Id
    at: Instant | None = None
    idempotency_key: Key | None = None

    def args(self) -> dict[str, Any]:
        """The command's own arguments (what the case method takes)."""
        return self.model_dump(exclude={"name", "case", "at", "idempotency_key"})


class LineQuantity(BaseModel):
    """An order line and how many of it an application covers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    line: Id
    quantity: int = Field(strict=True, ge=1, le=1_000_000)


def _line_list(value: object) -> object:
    """``lines`` also as text, ``"L1:2,L2:1"`` (the CLI) or a JSON list."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a JSON list of {{line, quantity}}: {exc.msg}") from None
    parts = []
    for item in text.split(","):
        line, sep, qty = item.strip().partition(":")
        if not sep or not qty.strip().isdigit():
            raise ValueError(f"{item.strip()!r}: write LINE:QUANTITY, like 'L1:2,L2:1'")
        parts.append({"line": line.strip(), "quantity": int(qty)})
    return parts


#: The lines an application names; None covers the whole order.
LineList = Annotated[
    list[LineQuantity], BeforeValidator(_line_list), Field(min_length=1, max_length=500)
]


class Apply(Command):
    name: Literal["apply"] = "apply"
    order: Id
    kind: Kind
    amount: AmountText | None = None
    #: An id of the rule set's reason catalogue (``aftersales rules show``).
    reason: Id = "other"
    lines: LineList | None = None
    #: The buyer's description and photos, posted as the buyer's first message.
    note: MessageText = ""
    attachments: Attachments = []


class Approve(Command):
    name: Literal["approve"] = "approve"
    #: KS-5: where the goods go back (default: the seller's registered address).
    return_address: Text | None = None


class Propose(Command):
    name: Literal["propose"] = "propose"
    kind: Kind
    amount: AmountText = "0"
    offline: bool = False


class AcceptProposal(Command):
    name: Literal["accept_proposal"] = "accept_proposal"


class DeclineProposal(Command):
    name: Literal["decline_proposal"] = "decline_proposal"


class Reject(Command):
    name: Literal["reject"] = "reject"
    reason: Text = ""
    #: KS-3: why, as one of the rule set's rejection categories.
    category: ShortText | None = None
    #: KS-3: the seller talked to the buyer before rejecting.
    buyer_contacted: bool = False


class ShipBack(Command):
    name: Literal["ship_back"] = "ship_back"
    carrier: ShortText = ""
    tracking_number: ShortText = ""
    #: KS-5: the address shipped to; another than the approved one is refused.
    return_address: Text | None = None
    #: The return freight paid, and whether a freight insurance (运费险) covers it.
    freight: AmountText | None = None
    freight_insured: bool = False


class ConfirmReceipt(Command):
    name: Literal["confirm_receipt"] = "confirm_receipt"
    #: KM-3: goods at the overseas warehouse are received by the platform.
    by: Literal["seller", "platform"] = "seller"


class ShipReplacement(Command):
    name: Literal["ship_replacement"] = "ship_replacement"
    carrier: ShortText = ""
    tracking_number: ShortText = ""


class ConfirmCompletion(Command):
    name: Literal["confirm_completion"] = "confirm_completion"


class Escalate(Command):
    name: Literal["escalate"] = "escalate"
    by: Party = "buyer"


class SubmitEvidence(Command):
    name: Literal["submit_evidence"] = "submit_evidence"
    by: Party = "buyer"
    note: Text = ""
    attachments: Attachments = []


class Rule(Command):
    name: Literal["rule"] = "rule"
    in_favour_of: Party
    #: KM-8: what the ruling orders (default: refund for the buyer, close for the seller).
    outcome: Outcome | None = None
    refund_amount: AmountText | None = None
    seller_liable: bool | None = None
    #: The evidence items the ruling considered (``E1,E3``) and why it rules so.
    evidence: EvidenceIds = []
    reasoning: Text = ""


class Message(Command):
    """A message to the case from the buyer, the seller or the platform, with
    attachments; it never changes the case's state."""

    name: Literal["message"] = "message"
    by: Author
    text: MessageText = ""
    attachments: Attachments = []


class ProposePartialRefund(Command):
    """KM-6: the seller, having inspected the returned goods, offers a partial refund."""

    name: Literal["propose_partial_refund"] = "propose_partial_refund"
    amount: AmountText
    reason: Text = ""


class AcceptPartialRefund(Command):
    """KM-7: the buyer consents to the seller's partial refund."""

    name: Literal["accept_partial_refund"] = "accept_partial_refund"


class Withdraw(Command):
    name: Literal["withdraw"] = "withdraw"


class RequestGoodsBack(Command):
    name: Literal["request_goods_back"] = "request_goods_back"


class SendGoodsBack(Command):
    """KM-4: the warehouse sends goods asked back to the seller, at the seller's freight."""

    name: Literal["send_goods_back"] = "send_goods_back"
    carrier: ShortText = ""
    tracking_number: ShortText = ""
    freight: AmountText | None = None


class WaiveDeduction(Command):
    """KM-1's exception: the platform finds a deduction's cause was not the seller's."""

    name: Literal["waive_deduction"] = "waive_deduction"
    deduction: Literal[
        "no_reply_arbitration", "undelivered_loss", "return_processing_fee", "ruled_liable"
    ]
    note: Text = ""


COMMANDS: dict[str, type[Command]] = {
    c.model_fields["name"].default: c
    for c in (
        Apply, Approve, Propose, AcceptProposal, DeclineProposal, Reject, ShipBack,
        ConfirmReceipt, ShipReplacement, ConfirmCompletion, Escalate, SubmitEvidence, Rule,
        Withdraw, RequestGoodsBack, SendGoodsBack, WaiveDeduction, Message,
        ProposePartialRefund, AcceptPartialRefund,
    )
}  # fmt: skip


class OrderLine(BaseModel):
    """A line of an order (SKU and quantity); carried, checked in a later release."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    line: Id
    sku: ShortText = ""
    title: Text = ""
    quantity: int = Field(ge=1, le=1_000_000)
    unit_price: AmountText
    #: The line's product category, when it differs from the order's (KS-10).
    category: ShortText = ""


class RegisterOrder(BaseModel):
    """The facts of an order that cases are applied on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Id
    seller: Id
    buyer: Id
    platform: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(one_line)]
    amount: AmountText
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    paid_at: Instant
    shipped_at: Instant | None = None
    delivered_at: Instant | None = None
    gs: bool = False
    lines: list[OrderLine] = Field(default_factory=list)
    #: The goods' product category (validity windows per category, KS-10).
    category: ShortText = ""
    #: The seller's return address for this order, from its profile (KS-5).
    return_address: Text = ""
    #: The buyer's payment (what refunds go back to) and how refunds are paid.
    payment_reference: ShortText = ""
    refund_method: Literal["original_payment", "store_credit", "offline"] = "original_payment"

    @model_validator(mode="after")
    def _facts_in_order(self) -> RegisterOrder:
        # The same order ``order shipped`` / ``order delivered`` keep later.
        if self.shipped_at is not None and self.shipped_at < self.paid_at:
            raise PydanticCustomError("order", "shipped_at: before the order was paid (paid_at)")
        if self.delivered_at is not None and self.delivered_at < self.paid_at:
            raise PydanticCustomError("order", "delivered_at: before the order was paid (paid_at)")
        if (
            self.delivered_at is not None
            and self.shipped_at is not None
            and self.delivered_at < self.shipped_at
        ):
            raise PydanticCustomError("order", "delivered_at: before the order was shipped")
        return self


def describe(exc: ValidationError, what: str) -> str:
    """One readable line naming each bad field."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        parts.append(f"{loc}: {msg}" if loc else msg)
    return f"{what}: " + "; ".join(parts)


def parse_command(name: str, data: dict[str, Any]) -> Command:
    """Validate ``data`` as the command ``name``; raise :class:`InvalidInputError`."""
    cls = COMMANDS.get(name)
    if cls is None:
        raise InvalidInputError(f"command: unknown command {name!r} (known: {', '.join(COMMANDS)})")
    try:
        return cls.model_validate({**data, "name": name})
    except ValidationError as exc:
        raise InvalidInputError(describe(exc, name)) from None


def parse_order(data: dict[str, Any]) -> RegisterOrder:
    """Validate order facts; raise :class:`InvalidInputError` naming the field."""
    try:
        return RegisterOrder.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(describe(exc, "order")) from None


__all__ = ["COMMANDS", "Command", "RegisterOrder", "datetime", "parse_command", "parse_order"]
