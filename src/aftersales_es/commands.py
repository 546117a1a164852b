"""Commands: validated input, before anything is recorded.

Each command is a frozen pydantic model; ``COMMANDS`` maps the public
command names of SPEC §3 to them, so the whole vocabulary is visible in one
place and the CLI, the scenario runner and the API share one validation.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
)

from .errors import InvalidInputError
from .rules import Kind, Reason

_CONTROL = {chr(c) for c in range(32)} - {"\n", "\t"} | {chr(127)}


def _no_control(value: str) -> str:
    if any(ch in _CONTROL for ch in value):
        raise ValueError("contains control characters")
    return value


def _amount_text(value: object) -> object:
    if isinstance(value, (float, bool)):
        raise ValueError("give amounts as decimal strings, e.g. '12.50'")
    if isinstance(value, (int, Decimal)):
        return str(value)
    return value


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
Text = Annotated[str, Field(max_length=500), AfterValidator(_no_control)]
ShortText = Annotated[str, Field(max_length=64), AfterValidator(_no_control)]
AmountText = Annotated[str, BeforeValidator(_amount_text), Field(min_length=1, max_length=40)]
Party = Literal["buyer", "seller"]


class Command(BaseModel):
    """Base: every command names its case and the business instant it happened."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = ""
    case: Id
    at: AwareDatetime
    idempotency_key: Annotated[str, Field(min_length=1, max_length=128)] | None = None

    def args(self) -> dict[str, Any]:
        """The command's own arguments (what the case method takes)."""
        return self.model_dump(exclude={"name", "case", "at", "idempotency_key"})


class Apply(Command):
    name: Literal["apply"] = "apply"
    order: Id
    kind: Kind
    amount: AmountText | None = None
    reason: Reason = "other"


class Approve(Command):
    name: Literal["approve"] = "approve"


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


class ShipBack(Command):
    name: Literal["ship_back"] = "ship_back"
    carrier: ShortText = ""
    tracking_number: ShortText = ""


class ConfirmReceipt(Command):
    name: Literal["confirm_receipt"] = "confirm_receipt"


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


class Rule(Command):
    name: Literal["rule"] = "rule"
    in_favour_of: Party
    refund_amount: AmountText | None = None
    seller_liable: bool | None = None


class Withdraw(Command):
    name: Literal["withdraw"] = "withdraw"


class RequestGoodsBack(Command):
    name: Literal["request_goods_back"] = "request_goods_back"


COMMANDS: dict[str, type[Command]] = {
    c.model_fields["name"].default: c
    for c in (
        Apply, Approve, Propose, AcceptProposal, DeclineProposal, Reject, ShipBack,
        ConfirmReceipt, ShipReplacement, ConfirmCompletion, Escalate, SubmitEvidence, Rule,
        Withdraw, RequestGoodsBack,
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


class RegisterOrder(BaseModel):
    """The facts of an order that cases are applied on."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    id: Id
    seller: Id
    buyer: Id
    platform: Annotated[str, Field(min_length=1, max_length=200)]
    amount: AmountText
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    paid_at: AwareDatetime
    shipped_at: AwareDatetime | None = None
    delivered_at: AwareDatetime | None = None
    gs: bool = False
    lines: list[OrderLine] = Field(default_factory=list)


def describe(exc: ValidationError, what: str) -> str:
    """One readable line naming each bad field."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top)"
        parts.append(f"{loc}: {err['msg']}")
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
