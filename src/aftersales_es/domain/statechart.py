"""The case statechart: states and transitions as data, built once, shared.

``TRANSITIONS`` is the single table. It builds one ``transitions.Machine``
(``model=None``: no case is ever attached to it) whose transitions carry the
guards as condition names; :func:`destination` asks that machine which
transition a trigger may take from a state for a case kind and an actor.
The same table draws the diagrams (see :mod:`aftersales_es.diagrams`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from transitions import Machine

KINDS = ("refund_only", "return_refund", "exchange", "repair", "cancel_undelivered")
STATES = (
    "requested",
    "proposed",
    "awaiting_return",
    "returning",
    "received",
    "reshipping",
    "rejected",
    "disputed",
    "refunded",
    "completed",
    "closed",
)
TERMINAL = frozenset({"refunded", "completed", "closed"})
#: States in which a case holds its order's single open slot.
OPEN = frozenset(STATES) - TERMINAL - {"rejected"}
ACTORS = ("buyer", "seller", "platform", "system")

#: Guard name -> the case kinds (or, for ``plan_*``, the proposed plan) it admits.
KIND_GUARDS: dict[str, frozenset[str]] = {
    "refund_only": frozenset({"refund_only"}),
    "return_refund": frozenset({"return_refund"}),
    "goods_return": frozenset({"return_refund", "exchange", "repair"}),
    "replacement": frozenset({"exchange", "repair"}),
    "cancel": frozenset({"cancel_undelivered"}),
    # A cancellation is granted or refused the moment it is applied for, so
    # it never waits in ``requested`` for the seller to negotiate.
    "negotiable": frozenset({"refund_only", "return_refund", "exchange", "repair"}),
}
PLAN_GUARDS: dict[str, frozenset[str]] = {
    "plan_refund_only": frozenset({"refund_only"}),
    "plan_goods_return": frozenset({"return_refund", "exchange", "repair"}),
    "plan_offline": frozenset({"offline"}),
}
OUTCOME_GUARDS = ("for_buyer", "for_seller")


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the table: ``trigger`` moves ``source`` to ``dest``.

    ``guard`` names a kind, plan or outcome guard (None: any); ``actors`` are
    who may send the trigger (``system`` for deadlines and automatic rules).
    """

    trigger: str
    source: str
    dest: str
    actors: tuple[str, ...]
    guard: str | None = None


def _t(trigger: str, source: str, dest: str, actors: str, guard: str | None = None) -> Transition:
    return Transition(trigger, source, dest, tuple(actors.split(",")), guard)


TRANSITIONS: tuple[Transition, ...] = (
    _t("approve", "requested", "refunded", "seller", "refund_only"),
    _t("approve", "requested", "awaiting_return", "seller", "goods_return"),
    _t("propose", "requested", "proposed", "seller", "negotiable"),
    _t("accept_proposal", "proposed", "refunded", "buyer", "plan_refund_only"),
    _t("accept_proposal", "proposed", "awaiting_return", "buyer", "plan_goods_return"),
    _t("accept_proposal", "proposed", "closed", "buyer", "plan_offline"),
    _t("decline_proposal", "proposed", "requested", "buyer"),
    _t("reject", "requested", "rejected", "seller", "negotiable"),
    _t("ship_back", "awaiting_return", "returning", "buyer", "goods_return"),
    _t("confirm_receipt", "returning", "refunded", "seller", "return_refund"),
    _t("confirm_receipt", "returning", "received", "seller", "replacement"),
    _t("ship_replacement", "received", "reshipping", "seller", "replacement"),
    _t("confirm_completion", "reshipping", "completed", "buyer", "replacement"),
    _t("escalate", "rejected", "disputed", "buyer,seller"),
    _t("escalate", "proposed", "disputed", "buyer,seller"),
    _t("escalate", "requested", "disputed", "seller", "negotiable"),
    _t("escalate", "returning", "disputed", "buyer,seller", "goods_return"),
    _t("escalate", "received", "disputed", "buyer", "replacement"),
    _t("escalate", "reshipping", "disputed", "buyer", "replacement"),
    _t("submit_evidence", "disputed", "disputed", "buyer,seller"),
    _t("rule", "disputed", "refunded", "platform", "for_buyer"),
    _t("rule", "disputed", "closed", "platform", "for_seller"),
    _t("withdraw", "requested", "closed", "buyer", "negotiable"),
    _t("withdraw", "proposed", "closed", "buyer"),
    _t("withdraw", "rejected", "closed", "buyer"),
    _t("withdraw", "awaiting_return", "closed", "buyer", "goods_return"),
    _t("withdraw", "disputed", "closed", "buyer"),
    # Automatic transitions: deadlines (KS-1, KS-4, KS-5, KS-6, KM-5) and
    # rules applied when a case is opened (KS-9 express refund, KM-1 cancel).
    _t("express_refund", "requested", "refunded", "system", "refund_only"),
    _t("grant_cancel", "requested", "refunded", "system", "cancel"),
    _t("auto_approve", "requested", "refunded", "system", "refund_only"),
    _t("auto_approve", "requested", "awaiting_return", "system", "goods_return"),
    _t("auto_arbitrate", "requested", "disputed", "system"),
    _t("enforce_plan", "disputed", "refunded", "system", "refund_only"),
    _t("enforce_plan", "disputed", "awaiting_return", "system", "goods_return"),
    _t("auto_close", "awaiting_return", "closed", "system", "goods_return"),
    _t("auto_receive", "returning", "refunded", "system", "return_refund"),
    _t("auto_receive", "returning", "received", "system", "replacement"),
    _t("auto_complete", "reshipping", "completed", "system", "replacement"),
)

#: Deadline actions a rule set may attach to a state, with the trigger each fires.
DEADLINE_ACTIONS: dict[str, str] = {
    "auto_approve": "requested",
    "auto_arbitrate": "requested",
    "auto_close": "awaiting_return",
    "auto_receive": "returning",
    "auto_complete": "reshipping",
}

# The warehouse goods of a Kilimall GS return (KM-3, KM-4) live beside the case.
GOODS_STATES = ("held", "requested_back", "scrapped")
GOODS_TRANSITIONS: tuple[Transition, ...] = (
    _t("request_goods_back", "held", "requested_back", "seller"),
    _t("scrap_goods", "held", "scrapped", "system"),
)


def _conditions(t: Transition) -> list[str]:
    conds = [f"by_{'_or_'.join(t.actors)}"]
    if t.guard:
        conds.append(t.guard)
    return conds


def build_machine(
    states: tuple[str, ...], table: tuple[Transition, ...], initial: str, cls: type = Machine
) -> Machine:
    """Build a transitions machine from a table (also used for the diagrams)."""
    machine: Machine = cls(
        model=None,
        states=list(states),
        transitions=[
            {"trigger": t.trigger, "source": t.source, "dest": t.dest, "conditions": _conditions(t)}
            for t in table
        ],
        initial=initial,
        auto_transitions=False,
        send_event=False,
    )
    return machine


#: The one machine every case consults. Built once at import.
MACHINE: Machine = build_machine(STATES, TRANSITIONS, "requested")
GOODS_MACHINE: Machine = build_machine(GOODS_STATES, GOODS_TRANSITIONS, "held")


def _admits(guard: str | None, kind: str, plan: str | None, outcome: str | None) -> bool:
    if guard is None:
        return True
    if guard in KIND_GUARDS:
        return kind in KIND_GUARDS[guard]
    if guard in PLAN_GUARDS:
        return plan in PLAN_GUARDS[guard]
    return guard == outcome


@lru_cache(maxsize=4096)
def destination(
    trigger: str,
    state: str,
    kind: str,
    actor: str,
    plan: str | None = None,
    outcome: str | None = None,
    machine_name: str = "case",
) -> str | None:
    """The state ``trigger`` leads to from ``state``, or None if not allowed.

    Answers come from the shared machine's transition table, filtered by the
    actor and by the kind / plan / outcome guards; they are cached because the
    table never changes after import.
    """
    machine = MACHINE if machine_name == "case" else GOODS_MACHINE
    for t in machine.get_transitions(trigger=trigger, source=state):
        conds = [str(c.func) for c in t.conditions]
        actors = conds[0].removeprefix("by_").split("_or_")
        if actor not in actors:
            continue
        if _admits(conds[1] if len(conds) > 1 else None, kind, plan, outcome):
            return str(t.dest)
    return None


def triggers_from(state: str) -> list[str]:
    """Every trigger the table has out of ``state`` (for error messages and UIs)."""
    return sorted({t.trigger for t in TRANSITIONS if t.source == state})
