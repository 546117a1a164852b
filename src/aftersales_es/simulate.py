"""Scenario files (SPEC §4): a timed script run on a fresh store under a
virtual clock. Deadlines fire as the clock passes them, exactly as a worker
would fire them; refused commands are reported and do not stop the run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from .application import AfterSales
from .commands import Id, Instant, describe
from .errors import AfterSalesError, ScenarioError
from .rules import RuleSet, builtin_names, load_ruleset
from .views import case_dict, plain


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: Instant  # bounded (issue 6): the sweep before each step does time arithmetic
    command: str = Field(min_length=1, max_length=40)
    case: Id
    order: Id | None = None
    args: dict[str, Any] = Field(default_factory=dict)


class Scenario(BaseModel):
    """A validated scenario file."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    platform: str = Field(min_length=1, max_length=500)
    settings: dict[str, Any] = Field(default_factory=dict)
    orders: list[dict[str, Any]] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    until: Instant | None = None

    @model_validator(mode="after")
    def _in_time_order(self) -> Scenario:
        # A custom error, so the message reads as ours (no "Value error," prefix).
        times = [s.at for s in self.steps]
        for i in range(1, len(times)):
            if times[i] < times[i - 1]:
                raise PydanticCustomError(
                    "time_order",
                    "steps.{i}: goes back in time ({now} is before step {prev}'s {then}); "
                    "steps must be in time order",
                    {
                        "i": i,
                        "now": times[i].isoformat(),
                        "prev": i - 1,
                        "then": times[i - 1].isoformat(),
                    },
                )
        if self.until is not None and times and self.until < times[-1]:
            raise PydanticCustomError("time_order", "until: is before the last step")
        return self


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a YAML or JSON scenario; raise :class:`ScenarioError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    try:
        data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError, RecursionError) as exc:
        # RecursionError: nesting deeper than the parsers recurse (issue 6).
        raise ScenarioError(f"{path}: not valid YAML/JSON: {exc}") from None
    scenario = parse_scenario(data, origin=str(path))
    # A rule-set path is relative to the scenario file, wherever it is run from.
    beside = p.parent / scenario.platform
    if scenario.platform not in builtin_names() and beside.is_file():
        scenario = scenario.model_copy(update={"platform": str(beside)})
    return scenario


def parse_scenario(data: object, origin: str = "scenario") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError(f"{origin}: a scenario is a mapping, got {type(data).__name__}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(describe(exc, origin)) from None


def run(scenario: Scenario, store: str = "memory") -> dict[str, Any]:
    """Run a scenario on a fresh store and return the SPEC §4 output."""
    rulesets: dict[str, RuleSet] = {}
    platform = scenario.platform
    if platform not in builtin_names():
        # A rule-set file: orders name its platform, not the file's path.
        rules = load_ruleset(platform)
        rulesets[rules.name] = rules
        platform = rules.name
    app = AfterSales(store, rulesets=rulesets, settings=scenario.settings)
    try:
        return _run(app, scenario, platform)
    finally:
        app.close()


def _run(app: AfterSales, scenario: Scenario, platform: str) -> dict[str, Any]:
    for i, raw in enumerate(scenario.orders):
        facts = {"platform": platform, **raw}
        try:
            app.register_order(facts)
        except AfterSalesError as exc:
            raise ScenarioError(f"orders.{i}: {exc}") from None
    errors: list[dict[str, Any]] = []
    case_ids: list[str] = []
    for i, step in enumerate(scenario.steps):
        app.fire_due(step.at)
        data: dict[str, Any] = {**step.args, "case": step.case, "at": step.at}
        if step.order is not None:
            data["order"] = step.order
        try:
            app.execute(step.command, **data)
        except AfterSalesError as exc:
            errors.append(
                {"step": i, "command": step.command, "case": step.case, "message": str(exc)}
            )
        else:
            if step.case not in case_ids:
                case_ids.append(step.case)
    if scenario.until is not None:
        app.fire_due(scenario.until)
    cases = [case_dict(app.get_case(c), app.case_events(c)) for c in case_ids]
    deductions = [
        {
            "seller_id": d["seller_id"],
            "case_id": d["case_id"],
            "reason": d["reason"],
            "amount": plain(d["amount"]),
            "currency": d["currency"],
            "at": d["at"],
            "rule": d["rule"],
        }
        for d in app.deductions()
    ]
    return {"cases": cases, "deductions": deductions, "errors": errors}
