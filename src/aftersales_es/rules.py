"""Platform rule sets as data: pydantic models, loading, overrides and digests.

A rule set is a YAML file (see ``rulesets/``). Every value carries the rule id
it comes from and its basis: ``documented`` (the platform's text says so),
``assumption`` (the text is silent; our default), ``example`` (a template
value) or ``disabled``. A case records the name, version and digest of the
rule set it was applied under and keeps those values for its whole life.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, ValidationError

from .errors import RuleSetError
from .money import check_currency
from .statechart import DEADLINE_ACTIONS, KINDS

_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _parse_duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ValueError("a duration is a string like '48h', '10d' or '30m'")
    elif isinstance(value, int):
        seconds = value
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
    else:
        raise ValueError(f"{value!r} is not a duration like '48h', '10d' or '30m'")
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be positive")
    return timedelta(seconds=seconds)


def _show_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def _parse_decimal(value: object) -> Decimal:
    if isinstance(value, (float, bool)):
        raise ValueError("give amounts as decimal strings, e.g. '300.00'")
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{value!r} is not a decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value!r} must be a non-negative finite amount")
    return amount


Duration = Annotated[
    timedelta, BeforeValidator(_parse_duration), PlainSerializer(_show_duration, return_type=str)
]
Amount = Annotated[Decimal, BeforeValidator(_parse_decimal), PlainSerializer(str, return_type=str)]
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
Kind = Literal["refund_only", "return_refund", "exchange", "repair", "cancel_undelivered"]
SELLER_FAULT: frozenset[str] = frozenset(
    {"wrong_item", "missing_item", "quality_issue", "damaged", "not_as_described"}
)

T = TypeVar("T")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Setting(_Strict, Generic[T]):
    """A value tagged with the rule it comes from."""

    value: T
    rule: str = Field(min_length=1)
    basis: Basis = "documented"
    note: str = ""


class DeadlineRule(_Strict):
    """A deadline that starts when a case enters ``state`` and fires ``action``."""

    name: str = Field(min_length=1)
    state: str
    kinds: list[Kind] = Field(default_factory=lambda: list(KINDS))
    after: Duration
    action: str
    rule: str = Field(min_length=1)
    basis: Basis = "documented"
    note: str = ""


class Settings(_Strict):
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


class RuleSet(_Strict):
    """A platform's after-sales rules, validated. Immutable; see :func:`load_ruleset`."""

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    version: int = Field(ge=1)
    title: str = ""
    source: str = ""
    currency: str
    kinds: list[Kind] = Field(min_length=1)
    deadlines: list[DeadlineRule]
    settings: Settings

    def model_post_init(self, context: Any, /) -> None:
        try:
            check_currency(self.currency)
        except Exception as exc:
            raise ValueError(str(exc)) from None
        seen: set[tuple[str, str]] = set()
        for d in self.deadlines:
            if d.action not in DEADLINE_ACTIONS:
                raise ValueError(f"deadline {d.name!r}: unknown action {d.action!r}")
            if DEADLINE_ACTIONS[d.action] != d.state:
                raise ValueError(
                    f"deadline {d.name!r}: action {d.action!r} does not exist for state "
                    f"{d.state!r} (it belongs to {DEADLINE_ACTIONS[d.action]!r})"
                )
            for k in d.kinds:
                if (d.state, k) in seen:
                    raise ValueError(f"deadline {d.name!r}: two deadlines for {d.state}/{k}")
                seen.add((d.state, k))

    @property
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
        raise RuleSetError(f"{origin}: a rule set is a mapping, got {type(data).__name__}")
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        )
        raise RuleSetError(f"{origin}: {problems}") from None


def builtin_names() -> list[str]:
    """Names of the rule sets shipped inside the package."""
    folder = resources.files("aftersales_es") / "rulesets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def load_ruleset(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> RuleSet:
    """Load a shipped rule set by name (``kuaishou``) or a user's file by path."""
    text: str
    origin = str(name_or_path)
    if isinstance(name_or_path, str) and name_or_path in builtin_names():
        text = (resources.files("aftersales_es") / "rulesets" / f"{name_or_path}.yaml").read_text(
            encoding="utf-8"
        )
    else:
        path = Path(name_or_path)
        if not path.is_file():
            known = ", ".join(builtin_names())
            raise RuleSetError(f"{origin}: no such rule set (shipped: {known}) and no such file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleSetError(f"{origin}: cannot read: {exc}") from None
    try:
        data = json.loads(text) if origin.endswith(".json") else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        raise RuleSetError(f"{origin}: not valid YAML/JSON: {exc}") from None
    return parse_ruleset(data, origin=origin).with_overrides(overrides)
