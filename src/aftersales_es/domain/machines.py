"""A transition table as a ``transitions.Machine``, checked before it is built.

The checks are python-statemachine's on its definitions: every state known,
every state reachable from the initial one, no trap state (a state other
than a final one with no way out), a final state reachable from every state,
and no way out of a final state. A malformed table fails at import, not on
the first case that meets the hole.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from transitions import Machine
from transitions.core import Transition as MachineTransition

from aftersales_es.domain.errors import StatechartError


class Row(Protocol):
    """One row of a table (:class:`aftersales_es.domain.statechart.Transition`)."""

    @property
    def trigger(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def dest(self) -> str: ...
    @property
    def actors(self) -> tuple[str, ...]: ...
    @property
    def conditions(self) -> list[str]: ...


def _closure(start: Iterable[str], edges: list[tuple[str, str]]) -> set[str]:
    seen, todo = set(start), list(start)
    while todo:
        here = todo.pop()
        for source, dest in edges:
            if source == here and dest not in seen:
                seen.add(dest)
                todo.append(dest)
    return seen


def validate(
    states: Sequence[str],
    table: Sequence[Row],
    initial: str,
    final: frozenset[str],
    actors: Sequence[str],
) -> None:
    """Raise :class:`StatechartError` listing every problem of ``table``, if any."""
    known = set(states)
    problems = [
        f"{t.trigger}: unknown state {s!r}"
        for t in table
        for s in (t.source, t.dest)
        if s not in known
    ]
    problems += [
        f"{t.trigger}: unknown actor in {t.actors}" for t in table if set(t.actors) - set(actors)
    ]
    edges = [(t.source, t.dest) for t in table]
    if unreachable := known - _closure([initial], edges):
        problems.append(f"unreachable from {initial}: {', '.join(sorted(unreachable))}")
    traps = {s for s in known - final if not any(a == s and b != s for a, b in edges)}
    if traps:
        problems.append(f"trap states (no way out): {', '.join(sorted(traps))}")
    if stuck := known - _closure(final, [(b, a) for a, b in edges]):
        problems.append(f"no final state reachable from: {', '.join(sorted(stuck))}")
    if leaving := sorted({t.source for t in table if t.source in final}):
        problems.append(f"final states with a way out: {', '.join(leaving)}")
    if problems:
        raise StatechartError("; ".join(problems))


class _RowTransition(MachineTransition):
    """A machine transition that keeps the table row it was built from.

    ``transitions`` passes extra ``add_transition`` arguments to its
    transition class for exactly this kind of extension.
    """

    def __init__(self, *args: Any, row: Row, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row = row


class _TableMachine(Machine):
    transition_cls = _RowTransition


def build_machine(
    states: Sequence[str], table: Sequence[Row], initial: str, cls: type[Machine] = Machine
) -> Machine:
    """A machine of ``table``, with no model (the diagrams draw part-tables with it too)."""
    keep_rows = issubclass(cls, _TableMachine)
    machine = cls(model=None, states=list(states), initial=initial, auto_transitions=False)
    for t in table:
        extra: dict[str, Any] = {"row": t} if keep_rows else {}
        conditions: list[Any] = list(t.conditions)
        machine.add_transition(t.trigger, t.source, t.dest, conditions=conditions, **extra)
    return machine


def checked_machine(
    states: Sequence[str],
    table: Sequence[Row],
    initial: str,
    final: frozenset[str],
    actors: Sequence[str],
) -> Machine:
    """Validate ``table``, then build the machine whose transitions keep their rows."""
    validate(states, table, initial, final, actors)
    return build_machine(states, table, initial, _TableMachine)


def rows_of(machine: Machine, trigger: str, state: str) -> list[Any]:
    """The rows ``trigger`` has out of ``state`` in a :func:`checked_machine`, in order."""
    found = machine.get_transitions(trigger=trigger, source=state)
    return [t.row for t in found if isinstance(t, _RowTransition)]
