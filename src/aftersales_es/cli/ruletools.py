"""Rule-set tooling: list the shipped rule sets, show one value by value, check a file.

What ``aftersales rules list|show|check`` print, as plain data, so that the
CLI, tests and other tools share one implementation. Nothing here changes a
rule set; see :mod:`aftersales_es.rules` (the model) and
:mod:`aftersales_es.ruleload` (reading, validation).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aftersales_es.domain.errors import RuleSetError
from aftersales_es.domain.ruleload import (
    InvalidRuleSetError,
    builtin_names,
    load_ruleset,
    parse_ruleset,
    read_ruleset_data,
)
from aftersales_es.domain.rules import RuleSet, Settings
from aftersales_es.domain.statechart import (
    CANCEL_KINDS,
    DEADLINE_ACTIONS,
    STATES,
    transitions_from,
)


def list_rulesets() -> list[dict[str, Any]]:
    """One row per shipped rule set: name, version, title, currency, kinds, digest."""
    rows = []
    for name in builtin_names():
        rules = load_ruleset(name)
        rows.append(
            {
                "name": rules.name,
                "version": rules.version,
                "title": rules.title,
                "currency": rules.currency,
                "kinds": list(rules.kinds),
                "digest": rules.digest,
            }
        )
    return rows


def describe(rules: RuleSet) -> dict[str, Any]:
    """Every value of ``rules`` with its rule id, basis and note (JSON-ready)."""
    data = rules.model_dump(mode="json")
    settings = [{"key": key, **item} for key, item in data["settings"].items()]
    deadlines = data["deadlines"]
    validity = data["validity"]
    penalties = [{"reason": key, **item} for key, item in data["penalties"].items()]
    counts = Counter(str(row["basis"]) for row in [*settings, *deadlines, *validity, *penalties])
    return {
        "name": rules.name,
        "version": rules.version,
        "title": rules.title,
        "source": rules.source,
        "currency": rules.currency,
        "kinds": data["kinds"],
        "digest": rules.digest,
        "basis_counts": dict(sorted(counts.items())),
        "settings": settings,
        "deadlines": deadlines,
        "validity": validity,
        "penalties": penalties,
        "catalogue": catalogue_rows(data["catalogue"]),
    }


def catalogue_rows(catalogue: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per catalogue item: section, id, labels, evidence need, rule, basis."""
    rows = []
    for section in ("reasons", "rejection_categories"):
        part = catalogue[section]
        for item in part["items"]:
            need = item.get("evidence")
            needs = ""
            if need:
                needs = ", ".join(f"{need[k]} {k}" for k in ("images", "files") if need[k])
            rule = need["rule"] if need else part["rule"]
            basis = need["basis"] if need else part["basis"]
            labels = {"id": item["id"], "en": item["en"], "zh": item["zh"]}
            rows.append({"section": section, **labels, "evidence": needs, "rule": rule,
                         "basis": basis})  # fmt: skip
    return rows


def show(name_or_path: str | Path) -> dict[str, Any]:
    """:func:`describe` a shipped rule set by name or a user's file by path."""
    return describe(load_ruleset(name_or_path))


@dataclass(frozen=True)
class CheckResult:
    """The outcome of :func:`check_file`: the rule set, or one line per problem."""

    path: str
    rules: RuleSet | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.rules is not None and not self.problems

    def lines(self) -> list[str]:
        """What ``rules check`` prints: ``ok: ...`` and notes, or the problems."""
        if self.rules is None:
            return [f"{self.path}: {p}" for p in self.problems]
        r = self.rules
        head = f"ok: {r.name} v{r.version} digest {r.digest}"
        return [head, *(f"note: {n}" for n in self.notes)]

    def as_dict(self) -> dict[str, Any]:
        r = self.rules
        return {
            "ok": self.ok,
            "path": self.path,
            "name": r.name if r else None,
            "version": r.version if r else None,
            "digest": r.digest if r else None,
            "problems": self.problems,
            "notes": self.notes,
        }


def check_file(path: str | Path) -> CheckResult:
    """Validate a user's rule-set file; every problem names its key (``deadlines.0.after``)."""
    origin = str(path)
    if not Path(path).is_file():
        return CheckResult(origin, problems=["(file): no such file"])
    try:
        rules = parse_ruleset(read_ruleset_data(origin), origin=origin)
    except InvalidRuleSetError as exc:
        return CheckResult(origin, problems=list(exc.problems))
    except RuleSetError as exc:
        return CheckResult(origin, problems=[str(exc).removeprefix(f"{origin}: ")])
    return CheckResult(origin, rules=rules, notes=_notes(rules))


def _notes(rules: RuleSet) -> list[str]:
    # Optional settings left out take a default; say so, since a reader of the
    # file cannot see it.
    notes = []
    for key in Settings.model_fields:
        if key not in rules.settings.model_fields_set:
            value = getattr(rules.settings, key)
            notes.append(f"settings.{key} not set; default {_cell(value.value)} [{value.rule}]")
    if rules.catalogue.reasons.rule == "default":
        notes.append("catalogue not set; the engine's reasons, any rejection category [default]")
    return notes + _waits(rules)


def _waits(rules: RuleSet) -> list[str]:
    """Open states a kind can reach with no deadline: a case there may wait forever."""
    found = []
    for state in sorted(set(DEADLINE_ACTIONS.values()), key=STATES.index):
        kinds = [
            k
            for k in rules.kinds
            if k not in CANCEL_KINDS
            and any(r.possible_for(k) for r in transitions_from(state))
            and rules.deadline_for(state, k) is None
        ]
        if kinds:
            found.append(f"no deadline in state {state} for {', '.join(kinds)}: cases may wait")
    return found


def _cell(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def show_text(view: dict[str, Any]) -> str:
    """The human rendering of :func:`describe`: header, settings table, deadlines table."""
    from aftersales_es.cli.render import render_table
    from aftersales_es.cli.spec import GLOSSARY

    counts = ", ".join(f"{n} {basis}" for basis, n in view["basis_counts"].items())
    head = [
        f"{view['name']} v{view['version']}  {view['title']}",
        f"currency {view['currency']}  kinds {', '.join(view['kinds'])}",
        f"source   {view['source']}",
        f"digest   {view['digest']}",
        f"basis    {counts}",
    ]
    settings = [{**s, "value": _cell(s["value"])} for s in view["settings"]]
    deadlines = [{**d, "kinds": _cell(d["kinds"])} for d in view["deadlines"]]
    return "\n".join(
        [
            *head,
            "",
            "settings",
            render_table(settings, ["key", "value", "rule", "basis", "note"]),
            "",
            "deadlines",
            render_table(
                deadlines, ["name", "state", "kinds", "after", "action", "rule", "basis", "note"]
            ),
            *_extra_tables(view),
            "",
            "glossary",
            render_table([{"term": t, "meaning": m} for t, m in GLOSSARY], ["term", "meaning"]),
        ]
    )


def _extra_tables(view: dict[str, Any]) -> list[str]:
    """Validity windows (KS-10, KM-2) and penalties (KM-5), when the rule set has them."""
    from aftersales_es.cli.render import render_table

    out: list[str] = []
    if view.get("validity"):
        rows = [
            {**w, **{k: _cell(w[k]) or "any" for k in ("kinds", "categories", "reasons")},
             "after": "never" if w["after"] is None else w["after"]}
            for w in view["validity"]
        ]  # fmt: skip
        cols = ["kinds", "categories", "reasons", "after", "rule", "basis", "note"]
        out += ["", "validity (first that fits)", render_table(rows, cols)]
    if view.get("penalties"):
        cols = ["reason", "form", "points", "rule", "basis", "note"]
        out += ["", "penalties", render_table(view["penalties"], cols)]
    if view.get("catalogue"):
        cols = ["section", "id", "en", "zh", "evidence", "rule", "basis"]
        out += ["", "catalogue (reasons and rejection categories)",
                render_table(view["catalogue"], cols)]  # fmt: skip
    return out


def list_text(rows: list[dict[str, Any]]) -> str:
    """The human rendering of :func:`list_rulesets`."""
    from aftersales_es.cli.render import render_table

    cells = [{**r, "kinds": _cell(r["kinds"])} for r in rows]
    return render_table(cells, ["name", "version", "title", "currency", "kinds"])
