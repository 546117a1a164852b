"""Explaining what is wrong with a rule set, one line per problem, naming its key.

``deadlines.0.after: duration '-5h' must be positive``; a misspelt key is one
problem ("did you mean ...?"), not "unknown" plus "missing". The model whose
keys are explained is a parameter, so this module needs no rule-set model.
"""

from __future__ import annotations

import difflib
from typing import get_args

from pydantic import BaseModel
from pydantic_core import ErrorDetails

from aftersales_es.domain.errors import RuleSetError


class InvalidRuleSetError(RuleSetError):
    """A rule set failed validation; ``problems`` has one line per problem, each naming its key."""

    def __init__(self, origin: str, problems: list[str]) -> None:
        self.origin = origin
        self.problems = problems
        super().__init__(f"{origin}: " + "; ".join(problems))


def problems(errors: list[ErrorDetails], root: type[BaseModel]) -> list[str]:
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
    return [
        _explain(e, root, typos.get(tuple(e["loc"])))
        for e in errors
        if tuple(e["loc"]) not in spelt
    ]


def _explain(err: ErrorDetails, root: type[BaseModel], typo_of: str | None = None) -> str:
    """One line naming the key (``deadlines.0.after``) and what is wrong with it."""
    loc = tuple(err["loc"])
    kind, given = err["type"], err.get("input")
    if kind == "extra_forbidden" and typo_of:
        why = f"unknown key; did you mean {typo_of!r} (required, missing)?"
    elif kind == "extra_forbidden":
        known = _keys_at(loc[:-1], root)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        why = f"unknown key ({hint}known: {', '.join(known)})"
    elif kind == "missing":
        why = "required key is missing"
    elif kind in ("model_type", "model_attributes_type", "dict_type"):
        why = f"expected a mapping with keys {', '.join(_keys_at(loc, root))}; got {show(given)}"
    elif kind == "value_error":
        why = err["msg"].removeprefix("Value error, ")
    else:
        why = f"{err['msg'].replace('Input should', 'should')} (got {show(given)})"
    key = ".".join(str(p) for p in loc)
    return f"{key}: {why}" if key else why


def _keys_at(loc: tuple[int | str, ...], root: type[BaseModel]) -> list[str]:
    """The keys the model at ``loc`` (from ``root``) accepts."""
    model: type[BaseModel] | None = root
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


def show(value: object) -> str:
    """A short description of a value for a problem line."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
