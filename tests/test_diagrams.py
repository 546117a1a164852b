"""The committed Mermaid statecharts are drawn from the table and kept current.

Given the transition table in ``statechart.py``, when the diagrams are
regenerated, then they match ``statecharts/`` byte for byte (run
``make statecharts`` after a table edit) and each kind's diagram draws
exactly the rows whose guard admits that kind.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from aftersales_es.domain.diagrams import DIAGRAMS, markdown, render, write_all
from aftersales_es.domain.statechart import (
    GOODS_TRANSITIONS,
    KIND_GUARDS,
    KINDS,
    PLAN_GUARDS,
    TRANSITIONS,
    Transition,
)

COMMITTED = Path(__file__).resolve().parent.parent / "statecharts"
EDGE = re.compile(r"^\s*(\w+) --> (\w+): (.+)$")


def edges(text: str) -> Counter[tuple[str, str, str]]:
    """(trigger, source, dest) of every labelled edge in a Mermaid diagram."""
    found: Counter[tuple[str, str, str]] = Counter()
    for line in text.splitlines():
        m = EDGE.match(line)
        if m:
            source, dest, labels = m.groups()
            for label in labels.split(" | "):
                found[(label.split(" ")[0], source, dest)] += 1
    return found


def rows(table: tuple[Transition, ...]) -> Counter[tuple[str, str, str]]:
    return Counter((t.trigger, t.source, t.dest) for t in table)


def admitted(t: Transition, kind: str) -> bool:
    # Written out again here, not imported, so the test checks the diagram's filter.
    if t.guard in KIND_GUARDS:
        return kind in KIND_GUARDS[t.guard]
    if t.guard in PLAN_GUARDS:  # a proposal: any kind but a cancellation (KM-6)
        return kind != "cancel_undelivered"
    # A dispute settled without a ruling: a refund for refund kinds, the return
    # step for goods kinds, the receipt or the replacement for exchange/repair.
    settled = {
        "to_refund": {"refund_only", "return_refund"},
        "to_return": {"return_refund", "exchange", "repair"},
        # KM-8: a ruling's remedy with the goods on their way back.
        "to_transit": {"return_refund", "exchange", "repair"},
        "to_receipt": {"exchange", "repair"},
        "to_replacement": {"exchange", "repair"},
    }
    return kind in settled.get(t.guard or "", {kind})


def test_committed_statecharts_regenerated_are_identical(tmp_path: Path) -> None:
    """Fails when statecharts/ is stale: run `make statecharts` and commit the result."""
    written = write_all(tmp_path)

    fresh = {p.name: p.read_bytes() for p in written}
    committed = {p.name: p.read_bytes() for p in COMMITTED.glob("*.md")}
    assert sorted(committed) == sorted(fresh), "statecharts/ files differ: run make statecharts"
    stale = [name for name in fresh if committed[name] != fresh[name]]
    assert stale == [], f"stale diagrams {stale}: run make statecharts"


def test_write_all_twice_same_bytes(tmp_path: Path) -> None:
    first = {p.name: p.read_bytes() for p in write_all(tmp_path / "a")}
    second = {p.name: p.read_bytes() for p in write_all(tmp_path / "b")}
    assert first == second
    assert set(first) == {f"{name}.md" for name in DIAGRAMS} | {"README.md"}


@pytest.mark.parametrize("kind", KINDS)
def test_kind_diagram_draws_exactly_the_rows_its_guards_admit(kind: str) -> None:
    expected = rows(tuple(t for t in TRANSITIONS if admitted(t, kind)))
    assert edges(render(kind)) == expected


def triggers(name: str) -> set[str]:
    return {trigger for trigger, _, _ in edges(render(name))}


def test_kind_diagrams_leave_out_other_kinds_paths() -> None:
    refund_only, exchange, cancel = (
        triggers(k) for k in ("refund_only", "exchange", "cancel_undelivered")
    )
    assert "approve" in refund_only
    assert not {"ship_back", "grant_cancel", "auto_close", "ship_replacement"} & refund_only
    assert {"ship_back", "ship_replacement", "confirm_completion"} <= exchange
    assert "grant_cancel" not in exchange
    assert "grant_cancel" in cancel
    assert not {"approve", "accept_proposal", "ship_back"} & cancel


def test_all_and_goods_diagrams_draw_every_row() -> None:
    assert edges(render("all")) == rows(TRANSITIONS)
    assert edges(render("goods")) == rows(GOODS_TRANSITIONS)


def test_diagrams_mark_initial_and_final_states_without_active_styling() -> None:
    text = render("all")
    assert "[*] --> requested" in text
    assert {"refunded --> [*]", "completed --> [*]", "closed --> [*]"} <= {
        line.strip() for line in text.splitlines()
    }
    for name in DIAGRAMS:
        drawn = render(name)
        assert "s_active" not in drawn and "s_previous" not in drawn
        _, front, body = drawn.split("---\n", 2)
        # Mermaid reads the front matter as YAML: the title must stay a plain mapping.
        assert set(yaml.safe_load(front)) == {"title"}
        assert body.startswith("stateDiagram-v2\n")


@pytest.mark.parametrize("name", DIAGRAMS)
def test_page_has_title_explanation_and_mermaid_block(name: str) -> None:
    page = markdown(name)
    title, explanation, block = page.split("\n\n", 2)
    assert title.startswith("# ") and "\n" not in explanation
    assert block.startswith("```mermaid\n") and block.endswith("```\n")


def test_render_unknown_diagram_refused() -> None:
    with pytest.raises(ValueError, match="unknown diagram 'refund'"):
        render("refund")
