"""Reading rule-set files, and explaining what is wrong with them.

Validation names the key of every problem (``deadlines.0.after: duration
'-5h' must be positive``), one line each (:class:`InvalidRuleSetError`), so
that ``aftersales rules check`` can print them; a misspelt key is one
problem ("did you mean ...?"), not "unknown" plus "missing".
"""

from __future__ import annotations

import difflib
import json
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from aftersales_es.domain.errors import RuleSetError
from aftersales_es.domain.rules import RuleSet


class InvalidRuleSetError(RuleSetError):
    """A rule set failed validation; ``problems`` has one line per problem, each naming its key."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.origin = origin
        self.problems = problems
        super().__init__(f"{origin}: " + "; ".join(problems))


def parse_ruleset(data: object, *, origin: str = "rule set") -> RuleSet:
    """Validate raw data as a :class:`RuleSet`; raise :class:`RuleSetError` naming the key."""
    if not isinstance(data, dict):
        keys = ", ".join(RuleSet.model_fields)
        got = "an empty file" if data is None else _show(data)
        raise InvalidRuleSetError(origin, [f"(top): a rule set is a mapping of {keys}; got {got}"])
    try:
        return RuleSet.model_validate(data)
    except ValidationError as exc:
        raise InvalidRuleSetError(origin, _problems(exc.errors())) from None


def _problems(errors: list[ErrorDetails]) -> list[str]:
    """One line per problem; a misspelt key is one problem, not "unknown" plus "missing"."""
    missing = {tuple(e["loc"]) for e in errors if e["type"] == "missing"}
    typos: dict[tuple[int | str, ...], str] = {}
    for e in errors:
        loc = tuple(e["loc"])
        if e["type"] == "extra_forbidden":
            siblings = [str(m[-1]) for m in missing if m[:-1] == loc[:-1]]
            close = difflib.get_close_matches(str(loc[-1]), siblings, n=1)
            if close:
                typos[loc] = close[0]
    spelt = {(*loc[:-1], name) for loc, name in typos.items()}
    return [_explain(e, typos.get(tuple(e["loc"]))) for e in errors if tuple(e["loc"]) not in spelt]


def _explain(err: ErrorDetails, typo_of: str | None = None) -> str:
    """One line naming the key (``deadlines.0.after``) and what is wrong with it."""
    loc = tuple(err["loc"])
    kind, given = err["type"], err.get("input")
    if kind == "extra_forbidden" and typo_of:
        why = f"unknown key; did you mean {typo_of!r} (required, missing)?"
    elif kind == "extra_forbidden":
        known = _keys_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        why = f"unknown key ({hint}known: {', '.join(known)})"
    elif kind == "missing":
        why = "required key is missing"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        why = f"expected a mapping with keys {', '.join(_keys_at(loc))}; got {_show(given)}"
    elif kind == "value_error":
        why = err["msg"].removeprefix("Value error, ")
    else:
        why = f"{err['msg'].replace('Input should', 'should')} (got {_show(given)})"
    key = ".".join(str(p) for p in loc)
    return f"{key}: {why}" if key else why


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model at ``loc`` (from the top of a rule set) accepts."""
    model: type[BaseModel] | None = RuleSet
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part)
        model = _model_of(field.annotation) if field else None
    return list(model.model_fields) if model else []


def _model_of(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        if (found := _model_of(arg)) is not None:
            return found
    return None


def _show(value: object) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def builtin_names() -> list[str]:
    """Names of the rule sets shipped inside the package."""
    folder = resources.files("aftersales_es") / "rulesets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def read_ruleset_data(name_or_path: str | Path) -> object:
    """The raw data of a shipped rule set (by name) or a user's YAML/JSON file (by path)."""
    origin = str(name_or_path)
    if isinstance(name_or_path, str) and name_or_path in builtin_names():
        folder = resources.files("aftersales_es") / "rulesets"
        text = (folder / f"{name_or_path}.yaml").read_text(encoding="utf-8")
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
        return json.loads(text) if origin.endswith(".json") else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise InvalidRuleSetError(origin, [f"(file): invalid JSON at {where}: {exc.msg}"]) from None
    except yaml.YAMLError as exc:
        raise InvalidRuleSetError(origin, [f"(file): {_yaml_problem(exc)}"]) from None
    except RecursionError:
        raise InvalidRuleSetError(origin, ["(file): nested too deeply"]) from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    # PyYAML's own message spans several lines; keep the problem and where it is.
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    text = f"invalid YAML{where}: {problem}" + (f" ({context})" if context else "")
    if "end of stream" in problem or "<stream end>" in problem:
        text += "; the file looks truncated"
    return text


def load_ruleset(name_or_path: str | Path, overrides: dict[str, Any] | None = None) -> RuleSet:
    """Load a shipped rule set by name (``kuaishou``) or a user's file by path."""
    data = read_ruleset_data(name_or_path)
    return parse_ruleset(data, origin=str(name_or_path)).with_overrides(overrides)
