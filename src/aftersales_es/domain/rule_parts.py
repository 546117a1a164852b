"""The parts a rule set is built from: tagged settings, fees, validity windows
and penalties, and the value types they use.

:mod:`.rules` assembles them into a :class:`~aftersales_es.domain.rules.RuleSet`;
they live apart so that module holds only the rule set and its deadlines.
"""

from __future__ import annotations

from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from aftersales_es.domain.rulevalues import Amount, Duration
from aftersales_es.domain.statechart import Kind

Basis = Literal["documented", "assumption", "example", "disabled", "override"]
Reason = Literal[
    "changed_mind",
    "not_received",
    "other",
    "wrong_item",
    "missing_item",
    "quality_issue",
    "damaged",
    "not_as_described",
]
SELLER_FAULT: frozenset[str] = frozenset(
    {"wrong_item", "missing_item", "quality_issue", "damaged", "not_as_described"}
)
#: What a seller may be penalised for (the ledger's reasons; SPEC §3).
PenaltyReason = Literal[
    "no_reply_arbitration", "undelivered_loss", "return_processing_fee", "ruled_liable"
]
#: How a window counts: real time from receipt, or whole days from the day after
#: receipt (the Chinese statute's way: 签收次日起算), ending at midnight.
Counting = Literal["elapsed", "from_next_day"]

#: A count cap: a non-negative whole number, or ``null`` for no cap.
Cap = Annotated[int, Field(strict=True, ge=0)] | None
#: A limit: a whole number above zero.
Positive = Annotated[int, Field(strict=True, gt=0)]

T = TypeVar("T")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Setting(Strict, Generic[T]):
    """A value tagged with the rule it comes from."""

    value: T
    rule: str = Field(min_length=1)
    basis: Basis = "documented"
    note: str = ""


class FeeSpec(Strict):
    """A buyer-side return fee, deducted from the refund of returned goods.

    ``type`` fixed: ``value`` is an amount; percent: ``value`` is a percentage
    (0-100) of what the buyer asked. Rounded to the currency's minor unit with
    ``rounding`` and capped at what was asked, so refund + fee == asked.
    """

    type: Literal["fixed", "percent"]
    value: Amount
    waived_for_seller_fault: bool = True
    rounding: Literal["half_even", "half_up", "down"] = "half_even"

    @model_validator(mode="after")
    def _percent_at_most_100(self) -> FeeSpec:
        if self.type == "percent" and self.value > 100:
            raise ValueError(f"a percent fee is at most 100 (got {self.value})")
        return self


#: ``return_fee`` when a rule set does not set it (no buyer-side fee).
NO_FEE: Setting[FeeSpec | None] = Setting[FeeSpec | None](
    value=None, rule="default", basis="assumption", note="not set in the rule set: no fee"
)


def default_setting(value: Any, note: str) -> Any:
    """The value of a setting a rule set leaves out (rule ``default``)."""
    return Setting[Any](value=value, rule="default", basis="assumption", note=f"not set: {note}")


class ValidityWindow(Strict):
    """How long after receipt a case of ``kinds`` may be applied for (KS-10, KM-2).

    It applies to goods in ``categories`` (empty: any) applied for with one of
    ``reasons`` (empty: any); ``after`` null means never (a non-returnable
    category, e.g. custom-made or perishable goods for a no-reason return).
    The first window that fits wins; none fits: ``after_sales_validity``.
    """

    kinds: list[Kind] = Field(min_length=1)
    categories: list[str] = []
    reasons: list[Reason] = []
    after: Duration | None
    rule: str = Field(min_length=1)
    basis: Basis = "documented"
    note: str = ""

    def fits(self, kind: str, category: str, reason: str) -> bool:
        """Whether this window covers a ``kind`` case on ``category`` goods for ``reason``."""
        return (
            kind in self.kinds
            and (not self.categories or category in self.categories)
            and (not self.reasons or reason in self.reasons)
        )


class Penalty(Strict):
    """What a seller is charged for one reason: money, points, or both (KM-5).

    Money is the reason's amount (SPEC §3: the amount asked, refunded, the fee
    or the ruled refund); ``points`` is how many points a points penalty takes.
    """

    form: Literal["money", "points", "both"]
    points: Annotated[int, Field(strict=True, ge=0)] = 0
    rule: str = Field(min_length=1)
    basis: Basis = "documented"
    note: str = ""

    @model_validator(mode="after")
    def _points_when_points(self) -> Penalty:
        if self.form != "money" and self.points <= 0:
            raise ValueError(f"a {self.form} penalty takes points above 0")
        if self.form == "money" and self.points:
            raise ValueError("a money penalty takes no points (form: both for money and points)")
        return self

    @property
    def money(self) -> bool:
        return self.form in ("money", "both")
