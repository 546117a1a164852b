"""Platform rule sets as data: pydantic models, overrides and digests.

A rule set is a YAML file (see ``rulesets/``). Every value carries the rule id
it comes from and its basis: ``documented`` (the platform's text says so),
``assumption`` (the text is silent; our default), ``example`` (a template
value) or ``disabled``. A case records the name, version and digest of the
rule set it was applied under and keeps those values for its whole life.

Files are read in :mod:`.ruleload`, their problems explained in :mod:`.ruleproblems`;
``docs/rules-template.yaml`` explains every key.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator

from aftersales_es.domain.catalogue import Catalogue, MediaType, legacy_catalogue
from aftersales_es.domain.errors import RuleSetError
from aftersales_es.domain.money import MINOR_UNITS
from aftersales_es.domain.rule_parts import (
    NO_FEE,
    SELLER_FAULT,
    Basis,
    Cap,
    Counting,
    FeeSpec,
    Penalty,
    PenaltyReason,
    Positive,
    Reason,
    Setting,
    Strict,
    ValidityWindow,
    default_setting,
)
from aftersales_es.domain.ruleproblems import InvalidRuleSetError, problems, show
from aftersales_es.domain.rulevalues import Amount, Duration
from aftersales_es.domain.statechart import DEADLINE_ACTIONS, KINDS, STATES, Kind, rows

__all__ = [
    "SELLER_FAULT",
    "Amount",
    "DeadlineRule",
    "Duration",
    "FeeSpec",
    "Kind",
    "Penalty",
    "Reason",
    "RuleSet",
    "Setting",
    "Settings",
    "ValidityWindow",
    "parse_ruleset",
]


def _valid_kinds(action: str, state: str) -> list[str]:
    """The case kinds for which a deadline ``action`` in ``state`` is a transition."""
    if DEADLINE_ACTIONS.get(action) != state:
        return []
    return [
        k
        for k in KINDS
        if any("system" in row.actors and row.possible_for(k) for row in rows(action, state))
    ]


class DeadlineRule(Strict):
    """A deadline that starts when a case enters ``state`` and fires ``action``.

    ``kinds`` defaults to every kind the action applies to in that state.
    """

    name: str = Field(min_length=1)
    state: str
    action: str
    kinds: list[Kind] = Field(min_length=1)
    after: Duration
    rule: str = Field(min_length=1)
    basis: Basis = "documented"
    note: str = ""

    @model_validator(mode="before")
    @classmethod
    def _default_kinds(cls, data: Any) -> Any:
        if isinstance(data, dict) and "kinds" not in data:
            action, state = str(data.get("action")), str(data.get("state"))
            fits = _valid_kinds(action, state)
            return {**data, "kinds": fits or list(KINDS)}
        return data

    @field_validator("state")
    @classmethod
    def _state_has_deadlines(cls, state: str) -> str:
        starts = sorted(set(DEADLINE_ACTIONS.values()), key=STATES.index)
        if state not in STATES:
            raise ValueError(f"unknown state {state!r} (deadline states: {', '.join(starts)})")
        if state not in starts:
            raise ValueError(
                f"no deadline can start in state {state!r} (deadline states: {', '.join(starts)})"
            )
        return state

    @field_validator("action")
    @classmethod
    def _action_exists_for_state(cls, action: str, info: ValidationInfo) -> str:
        state = info.data.get("state")
        if action not in DEADLINE_ACTIONS:
            known = ", ".join(DEADLINE_ACTIONS)
            raise ValueError(f"unknown action {action!r} (actions: {known})")
        if state is not None and DEADLINE_ACTIONS[action] != state:
            here = ", ".join(a for a, s in DEADLINE_ACTIONS.items() if s == state)
            raise ValueError(
                f"action {action!r} does not exist for state {state!r} (actions there: {here}; "
                f"{action} belongs to {DEADLINE_ACTIONS[action]!r})"
            )
        return action

    @field_validator("kinds")
    @classmethod
    def _action_applies_to_kinds(cls, kinds: list[str], info: ValidationInfo) -> list[str]:
        state, action = info.data.get("state"), info.data.get("action")
        if state is None or action is None:
            return kinds  # already reported on its own key
        fits = _valid_kinds(action, state)
        wrong = [k for k in kinds if k not in fits]
        if wrong:
            raise ValueError(
                f"{action} in state {state!r} does not apply to {', '.join(wrong)} cases "
                f"(it applies to: {', '.join(fits)})"
            )
        return kinds


class Settings(Strict):
    """The scalar values of a rule set; each key may be overridden by name."""

    express_refund: Setting[bool]
    express_refund_paid_within: Setting[Duration]
    express_refund_amount_below: Setting[Amount]
    after_sales_validity: Setting[Duration]
    evidence_window: Setting[Duration]
    exchange_repair_must_be_supported: Setting[bool]
    cancel_shipped_after: Setting[Duration]
    undelivered_loss_borne_by_seller: Setting[bool]
    warehouse_returns: Setting[bool]
    warehouse_return_reasons: Setting[list[Reason]]
    return_processing_fee: Setting[Amount]
    goods_scrap_after: Setting[Duration]
    no_reply_deduction: Setting[bool]
    # Optional so that rule sets recorded before it existed still load.
    max_applications_after_rejection: Setting[Cap] = Setting[Cap](
        value=None, rule="default", basis="assumption", note="not set in the rule set: no cap"
    )
    # A buyer-side return fee; optional for the same reason.
    return_fee: Setting[FeeSpec | None] = NO_FEE
    # The settings below are optional for the same reason; each default is the
    # behaviour cases had before the setting existed.
    cancel_gs_only: Setting[bool] = default_setting(
        False, "any order may be cancelled when undelivered"
    )
    waivable_deductions: Setting[list[PenaltyReason]] = default_setting(
        [], "no deduction is waivable"
    )
    warehouse_return_extra_reasons: Setting[list[Reason]] = default_setting(
        [], "no reasons beyond warehouse_return_reasons"
    )
    rejection_needs_buyer_contact: Setting[bool] = default_setting(False, "not required")
    validity_counting: Setting[Counting] = default_setting("elapsed", "real time from receipt")
    ruling_final: Setting[bool] = default_setting(False, "a ruled order may be applied for again")
    # Attachments and messages (evidence and the case conversation).
    attachment_max_bytes: Setting[Positive] = default_setting(10 * 2**20, "10 MiB a file")
    attachment_types: Setting[list[MediaType]] = default_setting(
        ["image/jpeg", "image/png", "application/pdf"], "photos and PDF documents"
    )
    attachments_per_case: Setting[Positive] = default_setting(20, "20 files a case")
    message_max_chars: Setting[Positive] = default_setting(2000, "2,000 characters a message")
    # Return freight: who bears it follows the reason (see :mod:`.freight`).
    seller_pays_return_freight_for: Setting[list[Reason]] = default_setting(
        sorted(SELLER_FAULT), "the seller bears the return freight of seller-fault reasons"
    )
    freight_insurance: Setting[bool] = default_setting(
        False, "no freight insurance: the buyer bears the freight of own reasons"
    )
    # KM-4: goods asked back leave the warehouse at the seller's freight.
    send_back_freight: Setting[Amount] = Setting[Amount](
        value=Decimal(0), rule="default", basis="assumption", note="not set: no send-back tariff"
    )
    goods_send_back_within: Setting[Duration] = Setting[Duration](
        value=timedelta(days=7), rule="default", basis="assumption", note="not set: 7 days"
    )


class RuleSet(Strict):
    """A platform's after-sales rules, validated. Immutable; see :func:`load_ruleset`."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    version: int = Field(ge=1)
    title: str = ""
    source: str = ""
    currency: str
    kinds: list[Kind] = Field(min_length=1)
    deadlines: list[DeadlineRule]
    settings: Settings
    #: Validity windows per kind, category and reason (KS-10, KM-2); optional.
    validity: list[ValidityWindow] = Field(default=[])
    #: Penalties per reason (KM-5); a reason not listed is charged in money.
    penalties: dict[PenaltyReason, Penalty] = Field(default={})
    #: The reasons and rejection categories commands may name, with labels;
    #: a rule set stored before catalogues gets the legacy one.
    catalogue: Catalogue

    @model_validator(mode="before")
    @classmethod
    def _legacy_catalogue(cls, data: Any) -> Any:
        # Rule sets stored before catalogues listed the rejection categories
        # as a setting: they move into the catalogue, the setting goes.
        if not isinstance(data, dict):
            return data
        data = dict(data)
        legacy = None
        if isinstance(data.get("settings"), dict):
            data["settings"] = dict(data["settings"])
            legacy = data["settings"].pop("rejection_categories", None)
        if "catalogue" not in data:
            return {**data, "catalogue": legacy_catalogue({"rejection_categories": legacy})}
        if legacy is not None:
            raise ValueError(
                "settings.rejection_categories: the categories are listed under"
                " catalogue.rejection_categories (with their labels); remove this setting"
            )
        return data

    @field_validator("currency")
    @classmethod
    def _known_currency(cls, currency: str) -> str:
        if currency not in MINOR_UNITS:
            known = ", ".join(sorted(MINOR_UNITS))
            raise ValueError(f"unknown currency {currency!r} (known: {known})")
        return currency

    @model_validator(mode="after")
    def _one_deadline_per_state_and_kind(self) -> RuleSet:
        first: dict[tuple[str, str], int] = {}
        for i, d in enumerate(self.deadlines):
            for k in d.kinds:
                j = first.setdefault((d.state, k), i)
                if j != i:
                    raise ValueError(
                        f"deadlines.{i}: a second deadline for {k} cases in state "
                        f"{d.state!r} (deadlines.{j} is the first)"
                    )
        return self

    @cached_property
    def digest(self) -> str:
        """sha256 of the canonical JSON of every value: what a case records."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def deadline_for(self, state: str, kind: str) -> DeadlineRule | None:
        """The deadline that starts when a case of ``kind`` enters ``state``."""
        for d in self.deadlines:
            if d.state == state and kind in d.kinds:
                return d
        return None

    def window_for(self, kind: str, category: str, reason: str) -> ValidityWindow | None:
        """The validity window of a ``kind`` case on ``category`` goods for ``reason``."""
        return next((w for w in self.validity if w.fits(kind, category, reason)), None)

    def penalty(self, reason: str) -> Penalty:
        """How a ``reason`` penalty is charged (money when the rule set says nothing)."""
        found = self.penalties.get(reason)  # type: ignore[call-overload]
        return found if found is not None else Penalty(form="money", rule="default")

    def with_overrides(self, overrides: dict[str, Any] | None) -> RuleSet:
        """A copy with single settings replaced (``{"express_refund": True}``)."""
        if not overrides:
            return self
        data = self.model_dump(mode="json")
        for key, value in overrides.items():
            if key not in data["settings"]:
                known = ", ".join(sorted(data["settings"]))
                raise RuleSetError(f"settings.{key}: unknown setting (known: {known})")
            data["settings"][key]["value"] = value
            data["settings"][key]["basis"] = "override"
        return parse_ruleset(data, origin=f"{self.name} with overrides")


def parse_ruleset(data: object, *, origin: str = "rule set") -> RuleSet:
    """Validate raw data as a :class:`RuleSet`; raise :class:`RuleSetError` naming the key."""
    if not isinstance(data, dict):
        keys = ", ".join(RuleSet.model_fields)
        got = "an empty file" if data is None else show(data)
        raise InvalidRuleSetError(origin, [f"(top): a rule set is a mapping of {keys}; got {got}"])
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise InvalidRuleSetError(origin, problems(exc.errors(), RuleSet)) from None
