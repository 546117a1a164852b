"""Reading rule-set files: shipped ones by name, a user's YAML or JSON by path.

Every problem is reported as an :class:`InvalidRuleSetError` with one line
per problem naming its key (see :mod:`.ruleproblems`), so that
``aftersales rules check`` can print them.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from aftersales_es.domain.errors import RuleSetError
from aftersales_es.domain.ruleproblems import InvalidRuleSetError
from aftersales_es.domain.rules import RuleSet, parse_ruleset

__all__ = [
    "InvalidRuleSetError",
    "builtin_names",
    "load_ruleset",
    "parse_ruleset",
    "read_ruleset_data",
]


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
