"""The statechart is checked as python-statemachine checks its definitions.

Given the one transition table, then: every state is reachable from
``requested``, no state is a trap, a final state is reachable from every
state (also per kind, through the runtime ``destination()``), the table
covers every command and deadline action, and the machine is one shared
object that never attaches to a case. A malformed table is refused when its
machine is built; what a refusal offers instead are commands people send.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pytest
import transitions.core

from aftersales_es.app.commands import COMMANDS
from aftersales_es.domain import statechart
from aftersales_es.domain.errors import StatechartError
from aftersales_es.domain.machines import checked_machine
from aftersales_es.domain.statechart import (
    ACTORS,
    AUTOMATIC,
    DEADLINE_ACTIONS,
    GOODS_STATES,
    GOODS_TERMINAL,
    GOODS_TRANSITIONS,
    KINDS,
    MACHINE,
    OUTCOME_GUARDS,
    PLAN_GUARDS,
    STATES,
    TERMINAL,
    TRANSITIONS,
    Transition,
    commands_from,
    destination,
    transitions_from,
)

from .desk import Desk
from .helpers import order, t

Edges = Iterable[tuple[str, str]]


def closure(start: Iterable[str], edges: Edges) -> set[str]:
    """Every state reachable from ``start`` along ``edges`` (source, dest)."""
    pairs = list(edges)
    seen, todo = set(start), list(start)
    while todo:
        here = todo.pop()
        for source, dest in pairs:
            if source == here and dest not in seen:
                seen.add(dest)
                todo.append(dest)
    return seen


TABLE_EDGES = [(t.source, t.dest) for t in TRANSITIONS]


def test_every_state_reachable_from_requested() -> None:
    assert closure(["requested"], TABLE_EDGES) == set(STATES)


def test_no_trap_state_every_open_state_has_a_way_out() -> None:
    for state in set(STATES) - TERMINAL:
        assert any(s == state and d != state for s, d in TABLE_EDGES), f"{state} is a trap"


def test_final_states_have_no_way_out() -> None:
    assert not [t for t in TRANSITIONS if t.source in TERMINAL]


def test_a_final_state_reachable_from_every_state() -> None:
    reverse = [(d, s) for s, d in TABLE_EDGES]
    assert closure(TERMINAL, reverse) == set(STATES)


Node = tuple[str, str]  # (state, kind): accepting a proposal changes the kind


def _runtime_edges() -> set[tuple[Node, Node]]:
    """What destination() lets a case do, over every kind, actor, plan and outcome."""
    plans = [None, *{p for admitted in PLAN_GUARDS.values() for p in admitted}]
    found: set[tuple[Node, Node]] = set()
    for kind in KINDS:
        for row in TRANSITIONS:
            for actor in ACTORS:
                for plan in plans:
                    for outcome in (None, *OUTCOME_GUARDS):
                        dest = destination(row.trigger, row.source, kind, actor, plan, outcome)
                        if dest is None:
                            continue
                        new_kind = plan if plan not in (None, "offline") else kind
                        if row.trigger != "accept_proposal":
                            new_kind = kind
                        found.add(((row.source, kind), (dest, str(new_kind))))
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_can_finish_from_every_state_it_reaches(kind: str) -> None:
    edges = _runtime_edges()
    reached = closure([("requested", kind)], edges)
    finals = {(state, k) for state in TERMINAL for k in KINDS}
    finishing = closure(finals, [(d, s) for s, d in edges])
    assert reached - finishing == set(), f"{kind} can get stuck"


def test_every_state_appears_in_the_table() -> None:
    used = {t.source for t in TRANSITIONS} | {t.dest for t in TRANSITIONS}
    assert used == set(STATES)


def test_every_command_is_a_trigger_of_the_table() -> None:
    triggers = {t.trigger for t in TRANSITIONS}
    # apply creates the case; request_goods_back and send_goods_back belong to
    # the goods chart (KM-3, KM-4); waive_deduction reverses a ledger entry and
    # moves no state (KM-1); message is conversation, accepted in every state,
    # never a transition.
    outside = {"apply", "request_goods_back", "send_goods_back", "waive_deduction", "message"}
    assert set(COMMANDS) - outside <= triggers
    assert "request_goods_back" in {t.trigger for t in GOODS_TRANSITIONS}


@pytest.mark.parametrize(("action", "state"), sorted(DEADLINE_ACTIONS.items()))
def test_every_deadline_action_is_a_system_trigger_from_its_state(action: str, state: str) -> None:
    assert [r for r in TRANSITIONS if (r.trigger, r.source) == (action, state)]
    assert all("system" in r.actors for r in TRANSITIONS if r.trigger == action)
    outcomes = [None, *OUTCOME_GUARDS]  # auto_rule's destination depends on its outcome
    assert any(
        destination(action, state, kind, "system", outcome=o) for kind in KINDS for o in outcomes
    )


def test_destination_agrees_with_the_table_ks2() -> None:
    """KS-2: approving a refund-only case refunds; goods kinds wait for the return."""
    assert destination("approve", "requested", "refund_only", "seller") == "refunded"
    assert destination("approve", "requested", "exchange", "seller") == "awaiting_return"
    assert destination("approve", "requested", "refund_only", "buyer") is None
    assert destination("approve", "requested", "cancel_undelivered", "seller") is None
    assert destination("accept_proposal", "proposed", "repair", "buyer", plan="offline") == "closed"
    assert destination("rule", "disputed", "exchange", "platform", outcome="for_buyer") == (
        "refunded"
    )


def test_machine_is_one_shared_table_no_case_attached(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[object] = []
    real_init = transitions.core.Machine.__init__

    def counting_init(self: object, *args: object, **kwargs: object) -> None:
        built.append(self)
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(transitions.core.Machine, "__init__", counting_init)
    desk = Desk()
    order(desk)
    desk.execute("apply", case="C1", order="O1", at=t(days=3), kind="exchange", reason="damaged")
    desk.execute("approve", case="C1", at=t(days=3, hours=1))
    desk.execute("ship_back", case="C1", at=t(days=4), carrier="SF", tracking_number="SF1")
    case = desk.get_case("C1")

    assert built == [], "a Machine was built while running a case"
    assert statechart.MACHINE is MACHINE and MACHINE.models == []
    assert case.state == "returning"
    names = set(vars(case))
    assert not {"trigger", "machine", "get_triggers"} & names
    assert not [n for n in names if n.startswith(("may_", "to_", "is_"))]
    assert not [v for v in vars(case).values() if type(v).__module__.startswith("transitions")]


def row(trigger: str, source: str, dest: str, actors: str = "buyer") -> Transition:
    return Transition(trigger, source, dest, tuple(actors.split(",")))


GOOD = (row("go", "a", "b"), row("stop", "b", "z"))


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ((*GOOD, row("go", "a", "nowhere")), "unknown state 'nowhere'"),
        ((*GOOD, row("go", "a", "b", "robot")), "unknown actor"),
        ((row("stop", "a", "z"),), "unreachable from a: b"),
        ((row("go", "a", "b"), row("stop", "a", "z")), "trap states (no way out): b"),
        (
            (*GOOD, row("go", "a", "c"), row("loop", "c", "d"), row("back", "d", "c")),
            "no final state reachable from: c, d",
        ),
        ((*GOOD, row("again", "z", "a")), "final states with a way out: z"),
    ],
    ids=["unknown-state", "unknown-actor", "unreachable", "trap", "no-final", "final-leaves"],
)
def test_malformed_table_refused_when_built(table: tuple[Transition, ...], problem: str) -> None:
    states = ("a", "b", "c", "d", "z") if any(t.dest == "d" for t in table) else ("a", "b", "z")
    with pytest.raises(StatechartError, match=re.escape(problem)):
        checked_machine(states, table, "a", frozenset({"z"}), ACTORS)


def test_well_formed_table_builds_a_machine_keeping_its_rows() -> None:
    machine = checked_machine(("a", "b", "z"), GOOD, "a", frozenset({"z"}), ACTORS)
    assert [t.dest for t in machine.get_transitions("go", "a")] == ["b"]


def test_goods_table_is_checked_like_the_case_table() -> None:
    assert {t.source for t in transitions_from("held", "goods")} == {"held"}
    assert set(GOODS_STATES) - GOODS_TERMINAL == {"held", "requested_back"}  # KM-4


@pytest.mark.parametrize("kind", KINDS)
def test_commands_offered_are_ones_people_send_never_automatic(kind: str) -> None:
    automatic = {t.trigger for t in TRANSITIONS if t.actors == ("system",)}
    for state in STATES:
        offered = {c.split(" ")[0] for c in commands_from(state, kind)}
        assert not offered & automatic, (state, offered & automatic)
        assert offered <= set(COMMANDS)
        for name in offered:  # each is possible for the kind, by a person
            assert any(
                destination(name, state, kind, who, plan, outcome)
                for who in ("buyer", "seller", "platform")
                for plan in (None, *{p for ps in PLAN_GUARDS.values() for p in ps})
                for outcome in (None, *OUTCOME_GUARDS)
            ), (state, name)


def test_every_deadline_action_says_what_the_system_does() -> None:
    assert set(DEADLINE_ACTIONS) | {"scrap_goods"} <= set(AUTOMATIC)


def test_admits_is_the_one_reading_of_a_guard() -> None:
    approve_refund, approve_goods = (t for t in TRANSITIONS if t.trigger == "approve")
    assert approve_refund.admits("refund_only", "seller")
    assert not approve_refund.admits("refund_only", "buyer")
    assert approve_goods.admits("repair", "seller") and not approve_goods.admits("repair", "buyer")
    offline = next(t for t in TRANSITIONS if t.guard == "plan_offline")
    assert offline.admits("exchange", "buyer", plan="offline")
    assert not offline.admits("cancel_undelivered", "buyer", plan="offline")
    assert not offline.possible_for("cancel_undelivered")
