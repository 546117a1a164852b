"""The case statechart: states and transitions as data, built once, shared.

``TRANSITIONS`` is the single table, and everything about a transition is
read from it: the case kinds (:data:`Kind`), who may send a trigger (its
``actors``) and which kinds, proposed plans or ruling outcomes admit it (its
``guard``, interpreted only by :meth:`Transition.admits`). The table is
checked when it is built, as python-statemachine checks its definitions:
every state known, every state reachable from the initial one, no trap
state, a final state reachable from every state, and none leaving a final
state. It builds one ``transitions.Machine`` (``model=None``: no case is
ever attached to it, see :mod:`.machines`) that every case consults through
:func:`destination`, and the same rows draw the diagrams (:mod:`.diagrams`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, get_args

from transitions import Machine

from aftersales_es.domain.machines import checked_machine, rows_of

#: The case kinds (SPEC §3), in the order rule sets and diagrams list them.
Kind = Literal["refund_only", "return_refund", "exchange", "repair", "cancel_undelivered"]
KINDS: tuple[str, ...] = get_args(Kind)
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
#: Who may send a trigger; ``system`` stands for deadlines and automatic rules.
ACTORS = ("buyer", "seller", "platform", "system")
PEOPLE = frozenset(ACTORS) - {"system"}

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
OUTCOME_GUARDS = (
    "for_buyer",
    "for_seller",
    "to_refund",
    "to_return",
    "to_transit",
    "to_receipt",
    "to_replacement",
)
#: The kinds an outcome guard admits (absent: every kind).
OUTCOME_KINDS: dict[str, frozenset[str]] = {
    "to_refund": frozenset({"refund_only", "return_refund"}),
    "to_return": KIND_GUARDS["goods_return"],
    "to_transit": KIND_GUARDS["goods_return"],
    "to_receipt": KIND_GUARDS["replacement"],
    "to_replacement": KIND_GUARDS["replacement"],
}

#: Kinds whose goods go back to the seller (the validity window applies, KS-10, KM-2).
GOODS_KINDS = KIND_GUARDS["goods_return"]
#: Kinds resolved by a replacement or repair: they ask for no money.
REPLACEMENT_KINDS = KIND_GUARDS["replacement"]
#: Kinds that ask for a refund (an amount above zero).
REFUND_KINDS = frozenset(KINDS) - REPLACEMENT_KINDS
#: Kinds granted or refused when applied for: the cancellation of an undelivered order (KM-1).
CANCEL_KINDS = KIND_GUARDS["cancel"]
#: Kinds a seller may negotiate: propose another plan (KM-6), reject, be escalated.
NEGOTIABLE_KINDS = KIND_GUARDS["negotiable"]


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

    def admits(
        self, kind: str, actor: str, plan: str | None = None, outcome: str | None = None
    ) -> bool:
        """Whether a case of ``kind`` may take this row when ``actor`` sends the trigger.

        ``plan`` is the proposed plan (a kind or ``offline``) for ``plan_*``
        guards, ``outcome`` the ruling (``for_buyer``/``for_seller``).
        """
        if actor not in self.actors:
            return False
        guard = self.guard
        if guard is None:
            return True
        if guard in KIND_GUARDS:
            return kind in KIND_GUARDS[guard]
        if guard in PLAN_GUARDS:
            return kind in NEGOTIABLE_KINDS and plan in PLAN_GUARDS[guard]
        return guard == outcome and kind in OUTCOME_KINDS.get(guard, frozenset(KINDS))

    def possible_for(self, kind: str) -> bool:
        """Whether a case of ``kind`` can ever take this row (for some actor, plan, outcome).

        A ``plan_*`` row belongs to every kind a seller can propose for.
        """
        if self.guard in KIND_GUARDS:
            return kind in KIND_GUARDS[self.guard]
        if self.guard in PLAN_GUARDS:
            return kind in NEGOTIABLE_KINDS
        return kind in OUTCOME_KINDS.get(self.guard or "", frozenset(KINDS))

    @property
    def conditions(self) -> list[str]:
        """The row as ``transitions`` condition names (``by_buyer_or_seller``, guard)."""
        names = [f"by_{'_or_'.join(self.actors)}"]
        return [*names, self.guard] if self.guard else names


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
    # KM-3: goods bound for the platform's overseas warehouse are received by it.
    _t("confirm_receipt", "returning", "refunded", "seller,platform", "return_refund"),
    _t("confirm_receipt", "returning", "received", "seller,platform", "replacement"),
    # KM-6, KM-7: a partial refund offered on the returned goods, for the buyer to accept.
    _t("propose_partial_refund", "returning", "received", "seller", "return_refund"),
    _t("accept_partial_refund", "received", "refunded", "buyer", "return_refund"),
    _t("ship_replacement", "received", "reshipping", "seller", "replacement"),
    _t("confirm_completion", "reshipping", "completed", "buyer", "replacement"),
    # KS-8: "either party may ask the platform to intervene" while the case is
    # being handled; a ruling is final, so nobody escalates a finished case.
    _t("escalate", "requested", "disputed", "buyer,seller", "negotiable"),
    _t("escalate", "proposed", "disputed", "buyer,seller"),
    _t("escalate", "rejected", "disputed", "buyer,seller"),
    _t("escalate", "awaiting_return", "disputed", "buyer,seller", "goods_return"),
    _t("escalate", "returning", "disputed", "buyer,seller", "goods_return"),
    _t("escalate", "received", "disputed", "buyer,seller", "goods_return"),
    _t("escalate", "reshipping", "disputed", "buyer,seller", "replacement"),
    _t("submit_evidence", "disputed", "disputed", "buyer,seller"),
    _t("rule", "disputed", "refunded", "platform", "for_buyer"),
    _t("rule", "disputed", "closed", "platform", "for_seller"),
    # KM-8: a remedy ordered goes on from where the goods are (see :mod:`.rulings`).
    _t("rule", "disputed", "awaiting_return", "platform", "to_return"),
    _t("rule", "disputed", "returning", "platform", "to_transit"),
    _t("rule", "disputed", "received", "platform", "to_receipt"),
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
    # Every open state ends by itself (the rule set's deadlines): an unanswered
    # proposal lapses to the seller's review, a received exchange or repair not
    # reshipped is refunded, a rejection nobody pursues closes, and a dispute
    # with no ruling in the platform's time is settled by the buyer's plan
    # from where the goods are (``to_*`` outcome guards).
    _t("lapse_proposal", "proposed", "requested", "system"),
    _t("auto_refund", "received", "refunded", "system", "replacement"),
    _t("close_rejected", "rejected", "closed", "system"),
    # An offer the buyer leaves unanswered goes to the platform (as KM-5's, no deduction).
    _t("auto_escalate", "received", "disputed", "system", "return_refund"),
    _t("auto_rule", "disputed", "refunded", "system", "to_refund"),
    _t("auto_rule", "disputed", "awaiting_return", "system", "to_return"),
    _t("auto_rule", "disputed", "received", "system", "to_receipt"),
    _t("auto_rule", "disputed", "reshipping", "system", "to_replacement"),
)

#: Deadline actions a rule set may attach to a state, with the state each fires from.
DEADLINE_ACTIONS: dict[str, str] = {
    "auto_approve": "requested",
    "auto_arbitrate": "requested",
    "auto_close": "awaiting_return",
    "auto_receive": "returning",
    "auto_complete": "reshipping",
    "lapse_proposal": "proposed",
    "auto_refund": "received",
    "close_rejected": "rejected",
    "auto_rule": "disputed",
    "auto_escalate": "received",
}

#: What the system does when a deadline fires, as a refusal tells the user.
AUTOMATIC: dict[str, str] = {
    "auto_approve": "the system approves the application",
    "auto_arbitrate": "the case goes to platform arbitration",
    "auto_close": "the system closes the case",
    "auto_receive": "the system confirms receipt",
    "auto_complete": "the system confirms completion",
    "lapse_proposal": "the proposal lapses and the seller reviews again",
    "auto_refund": "the system refunds the goods' price",
    "close_rejected": "the system closes the rejected case",
    "auto_rule": "the system settles the dispute by the buyer's plan",
    "auto_escalate": "the unanswered offer goes to the platform",
    "scrap_goods": "the warehouse scraps the goods",
    "send_goods_back": "the warehouse sends the goods back at the seller's freight",
}

# The warehouse goods of a Kilimall GS return (KM-3, KM-4) live beside the case.
GOODS_STATES = ("held", "requested_back", "sent_back", "scrapped")
GOODS_TERMINAL = frozenset({"sent_back", "scrapped"})
GOODS_TRANSITIONS: tuple[Transition, ...] = (
    _t("request_goods_back", "held", "requested_back", "seller"),
    # KM-4: the warehouse ships them, the seller pays the freight; if it has
    # not by its deadline, the system records the dispatch at the tariff.
    _t("send_goods_back", "requested_back", "sent_back", "platform,system"),
    _t("scrap_goods", "held", "scrapped", "system"),
)


#: The machines every case consults. Built, and their tables checked, once at import.
MACHINE: Machine = checked_machine(STATES, TRANSITIONS, "requested", TERMINAL, ACTORS)
GOODS_MACHINE: Machine = checked_machine(
    GOODS_STATES, GOODS_TRANSITIONS, "held", GOODS_TERMINAL, ACTORS
)


def rows(trigger: str, state: str, chart: str = "case") -> list[Transition]:
    """The table rows ``trigger`` has out of ``state``, in table order."""
    machine = MACHINE if chart == "case" else GOODS_MACHINE
    return rows_of(machine, trigger, state)


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

    Answers come from the shared machine, each candidate row judged by
    :meth:`Transition.admits`; they are cached because the table never
    changes after import.
    """
    for row in rows(trigger, state, machine_name):
        if row.admits(kind, actor, plan, outcome):
            return row.dest
    return None


def transitions_from(state: str, chart: str = "case") -> tuple[Transition, ...]:
    """Every row out of ``state``: trigger, destination, admitted actors and guard.

    What a user interface needs to say what can happen next on a case: keep
    the rows whose :meth:`Transition.possible_for` admits the case's kind.
    """
    table = TRANSITIONS if chart == "case" else GOODS_TRANSITIONS
    return tuple(t for t in table if t.source == state)


def triggers_from(state: str) -> list[str]:
    """Every trigger the table has out of ``state``, automatic ones included."""
    return sorted({t.trigger for t in transitions_from(state)})


def commands_from(state: str, kind: str) -> list[str]:
    """What people may send a case of ``kind`` in ``state``: ``approve (seller)``, ...

    Automatic triggers (deadlines, rules) are left out: nobody can send them.
    """
    found: dict[str, set[str]] = {}
    for t in transitions_from(state):
        people = PEOPLE.intersection(t.actors)
        if people and t.possible_for(kind):
            found.setdefault(t.trigger, set()).update(people)
    return [f"{c} ({' or '.join(sorted(who))})" for c, who in found.items()]
