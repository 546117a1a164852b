"""Scenario files (SPEC §4): a timed script run on a fresh store under a
virtual clock. Deadlines fire as the clock passes them, exactly as a worker
would fire them; refused commands are reported and do not stop the run.

The scenario is the only writer of its private store: an index in memory
(:mod:`.scenario_clock`) tells ``fire_due`` which deadlines are due, and the output
is built from each case's events, without the read-model projector.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from aftersales_es.app.commands import COMMANDS, describe
from aftersales_es.app.fields import Id, Instant
from aftersales_es.domain.base import case_uuid
from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import AfterSalesError, ScenarioError
from aftersales_es.domain.events import (
    CaseEvent,
    DeductionRecorded,
    DeductionWaived,
    PointsDeducted,
)
from aftersales_es.domain.ruleload import builtin_names, load_ruleset
from aftersales_es.domain.rules import RuleSet
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.projector import ledger_entry, utc_key
from aftersales_es.readmodels.views import case_dict
from aftersales_es.sim.clock import DueIndex
from aftersales_es.sim.files import ScenarioFile, attachments, read_paths


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    at: Instant  # bounded: the sweep before each step does time arithmetic
    command: str = Field(min_length=1, max_length=40)
    case: Id
    order: Id | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    #: Files the command attaches (message, apply, submit_evidence).
    attach: list[ScenarioFile] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _known_command(self) -> Step:
        if self.command not in COMMANDS:
            raise PydanticCustomError(
                "command",
                "command: unknown command '{name}'; use one of {known}",
                {"name": self.command, "known": ", ".join(COMMANDS)},
            )
        return self


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


@contextmanager
def _bulk() -> Iterator[None]:
    """Pause the cyclic garbage collector while building large acyclic data.

    Each full collection walks every live object; a 10,000-case scenario,
    its store's cached aggregates and its output make that ~1 s.
    Plain data makes no cycles, and reference counting still frees it.
    """
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a YAML or JSON scenario; raise :class:`ScenarioError`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read: {exc}") from None
    with _bulk():
        try:
            data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
        except (yaml.YAMLError, json.JSONDecodeError, RecursionError) as exc:
            # RecursionError: nesting deeper than the parsers recurse.
            raise ScenarioError(f"{path}: not valid YAML/JSON: {exc}") from None
        scenario = parse_scenario(data, origin=str(path))
    if any(step.attach for step in scenario.steps):  # files to attach, beside the scenario
        steps = read_paths(list(scenario.steps), p.parent)
        scenario = scenario.model_copy(update={"steps": steps})
    # A rule-set path is relative to the scenario file, wherever it is run from.
    beside = p.parent / scenario.platform
    if scenario.platform not in builtin_names() and beside.is_file():
        scenario = scenario.model_copy(update={"platform": str(beside)})
    # The rule set and its settings are checked now, not when (or if) an order needs them.
    try:
        load_ruleset(scenario.platform).with_overrides(scenario.settings)
    except AfterSalesError as exc:
        raise ScenarioError(f"{path}: {exc}") from None
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
    app = ScenarioApp(store, rulesets=rulesets, settings=scenario.settings)
    try:
        return _run(app, scenario, platform)
    finally:
        app.close()


class ScenarioApp(AfterSales):
    """The application a scenario runs on: it keeps every case event it saves.

    The scenario alone writes its fresh store, so what ``save`` returned is
    every case event the store holds; the output is built from them rather
    than reading each case back and decoding it again. The store's
    JSON round trip changes nothing the output shows, which a test checks
    for every event type.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.saved: dict[UUID, list[CaseEvent]] = {}  # by case, in version order
        self.pending = DueIndex()  # the deadlines of every case saved
        super().__init__(*args, **kwargs)

    def save(self, *objs: Any, **kwargs: Any) -> Any:
        recordings = super().save(*objs, **kwargs)
        for r in recordings:  # reached once stored: a conflict raises before
            if isinstance(r.domain_event, CaseEvent):
                self.saved.setdefault(r.domain_event.originator_id, []).append(r.domain_event)
        for obj in objs:
            if isinstance(obj, Case):
                self.pending.seen(obj)
        return recordings


def _run(app: ScenarioApp, scenario: Scenario, platform: str) -> dict[str, Any]:
    for i, raw in enumerate(scenario.orders):
        facts = {"platform": platform, **raw}
        try:
            app.register_order(facts)
        except AfterSalesError as exc:
            raise ScenarioError(f"orders.{i}: {exc}") from None
    errors: list[dict[str, Any]] = []
    case_ids: dict[str, None] = {}  # in order of first success; a dict for O(1) look-ups
    for i, step in enumerate(scenario.steps):
        app.fire_due(step.at, app.pending)
        data: dict[str, Any] = {**step.args, "case": step.case, "at": step.at}
        if step.order is not None:
            data["order"] = step.order
        try:
            files = attachments(step.attach, data)
            app.execute(step.command, files=files, **data)
        except AfterSalesError as exc:
            errors.append(
                {"step": i, "command": step.command, "case": step.case, "message": str(exc)}
            )
        else:
            case_ids.setdefault(step.case, None)
    if scenario.until is not None:
        app.fire_due(scenario.until, app.pending)
    return _report(app, list(case_ids), errors)


def _report(app: ScenarioApp, case_ids: list[str], errors: list[dict[str, Any]]) -> dict[str, Any]:
    """The SPEC §4 output: each case with its events, the ledger, the refusals.

    Each case is folded from its saved events (what ``get_case`` does from
    the stored ones), and the ledger taken from them: on a store this run
    alone wrote, exactly the deduction read model (one row per
    ``DeductionRecorded``, in the order of ``AfterSales.deductions``),
    without projecting the whole log.
    """
    cases: list[dict[str, Any]] = []
    ledger: list[tuple[str, str, int, Any]] = []
    with _bulk():
        for case_id in case_ids:
            events = app.saved[case_uuid(case_id)]
            case: Case | None = None
            for e in events:
                case = e.mutate(case)
            assert case is not None  # a case exists once its Applied is saved
            cases.append(case_dict(case, events))
            ledger.extend(
                (utc_key(e.at), case_id, e.originator_version, e)
                for e in events
                if isinstance(e, (DeductionRecorded, DeductionWaived, PointsDeducted))
            )
    ledger.sort(key=lambda row: row[:3])
    # Money rows (a waiver as its negative reversing row, KM-1) under
    # "deductions"; points penalties (KM-5) apart, as they are not money.
    deductions: list[dict[str, Any]] = []
    points: list[dict[str, Any]] = []
    for _, case_id, _, e in ledger:
        reason, amount, unit = ledger_entry(e)
        row = {"seller_id": e.seller_id, "case_id": case_id, "reason": reason}
        row |= {"amount": amount, "currency": unit, "at": e.at.isoformat(), "rule": e.rule}
        (points if isinstance(e, PointsDeducted) else deductions).append(row)
    return {"cases": cases, "deductions": deductions, "points": points, "errors": errors}


def to_json(value: Any) -> str:
    """The scenario output as the CLI prints it (indented, non-ASCII kept)."""
    with _bulk():
        return json.dumps(value, indent=2, ensure_ascii=False)
