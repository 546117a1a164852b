"""Mermaid statecharts drawn from the one transition table.

The diagrams come from the same rows as the runtime machine
(:data:`~aftersales_es.domain.statechart.TRANSITIONS` and ``GOODS_TRANSITIONS``),
drawn by ``transitions``' own ``GraphMachine`` with the Mermaid engine, so a
table edit shows up in the committed ``statecharts/`` folder
(``make statecharts``) and the test suite fails until it is regenerated.

Each diagram is drawn from a fresh machine with no model attached, so no
state is styled as active, and the text holds no timestamp: the same table
always gives the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from transitions.extensions import GraphMachine

from aftersales_es.domain.machines import build_machine
from aftersales_es.domain.statechart import (
    GOODS_STATES,
    GOODS_TERMINAL,
    GOODS_TRANSITIONS,
    KINDS,
    NEGOTIABLE_KINDS,
    STATES,
    TERMINAL,
    TRANSITIONS,
    Transition,
)

#: Every diagram name :func:`render` knows, in the order they are written.
DIAGRAMS = (*KINDS, "all", "goods")

_EXPLAIN = {
    "all": "Every transition of the case statechart, for all kinds together.",
    "goods": "The warehouse goods of a Kilimall GS return (KM-3, KM-4), kept beside the case.",
}


class _MermaidMachine(GraphMachine):
    """A ``GraphMachine`` that draws Mermaid text (no Graphviz) with its guards."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(graph_engine="mermaid", show_conditions=True, **kwargs)


def kind_table(kind: str) -> tuple[Transition, ...]:
    """The rows of :data:`TRANSITIONS` a case of ``kind`` can take, in table order."""
    if kind not in KINDS:
        raise ValueError(f"unknown case kind {kind!r} (known: {', '.join(KINDS)})")
    return tuple(t for t in TRANSITIONS if t.possible_for(kind))


Chart = tuple[tuple[str, ...], tuple[Transition, ...], str, frozenset[str]]


def _chart(name: str) -> Chart:
    if name == "all":
        return STATES, TRANSITIONS, "requested", TERMINAL
    if name == "goods":
        return GOODS_STATES, GOODS_TRANSITIONS, "held", GOODS_TERMINAL
    table = kind_table(name)
    # Only the states this kind can touch, in the table's state order.
    used = {"requested"} | {t.source for t in table} | {t.dest for t in table}
    return tuple(s for s in STATES if s in used), table, "requested", TERMINAL & used


def render(name: str) -> str:
    """The Mermaid ``stateDiagram-v2`` text of one diagram (a kind, ``all`` or ``goods``)."""
    if name not in DIAGRAMS:
        raise ValueError(f"unknown diagram {name!r} (known: {', '.join(DIAGRAMS)})")
    states, table, initial, final = _chart(name)
    machine = build_machine(states, table, initial, cls=_MermaidMachine)
    assert isinstance(machine, _MermaidMachine)
    # model=None: draw the machine's graph directly (get_graph needs a model),
    # which also leaves every state unstyled by any "current" state.
    text = machine.graph_cls(machine).get_graph(title=f"title: {_title(name)}").draw(None)
    assert isinstance(text, str)
    return _clean(text, states, final)


def _clean(text: str, states: tuple[str, ...], final: frozenset[str]) -> str:
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        # Drop the styles for active / previous states: docs show no current state.
        if stripped.startswith("classDef ") and not stripped.startswith("classDef s_default "):
            continue
        if stripped.startswith("Class ") and not stripped.endswith(" s_default"):
            line = line.rsplit(" ", 1)[0] + " s_default"
        lines.append(line.rstrip())
    # Mark the final states, which the flat Mermaid graph does not draw.
    lines.extend(f"  {s} --> [*]" for s in states if s in final)
    return "\n".join(lines) + "\n"


def _title(name: str) -> str:
    # No ": " in a title: Mermaid reads the front matter as YAML and rejects it.
    if name == "all":
        return "Case statechart (all kinds)"
    if name == "goods":
        return "Warehouse goods statechart"
    return f"Case statechart for {name}"


def _explain(name: str) -> str:
    if name in _EXPLAIN:
        return _EXPLAIN[name]
    text = f"The rows of the table whose guard admits a case of kind `{name}`"
    if name in NEGOTIABLE_KINDS:
        return text + " (accepting a proposal turns the case into the proposed kind)."
    return text + " (the rules grant it when it is applied for, KM-1)."


def markdown(name: str) -> str:
    """One diagram as a Markdown page: title, one-line explanation, Mermaid block."""
    return (
        f"# {_title(name)}\n\n"
        f"{_explain(name)} Generated from `aftersales_es.domain.statechart` by "
        f"`make statecharts`; do not edit.\n\n"
        f"```mermaid\n{render(name)}```\n"
    )


def _index() -> str:
    rows = "".join(f"- [{_title(n)}]({n}.md): {_explain(n)}\n" for n in DIAGRAMS)
    return (
        "# Statecharts\n\n"
        "Mermaid diagrams drawn from the transition table in "
        "`src/aftersales_es/domain/statechart.py` (regenerate with `make statecharts`; "
        "the test suite fails when they are stale).\n\n"
        f"{rows}"
    )


def write_all(out: str | Path) -> list[Path]:
    """Write every diagram page and a ``README.md`` index into ``out``; return the paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    pages = [(f"{n}.md", markdown(n)) for n in DIAGRAMS] + [("README.md", _index())]
    paths = []
    for filename, text in pages:
        path = folder / filename
        # Fixed encoding and newlines: the bytes must not depend on the platform.
        with path.open("w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        paths.append(path)
    return paths
