"""What can happen next on a case: the commands allowed now, by whom, and the
deadline that acts if nobody does.

Read from the statechart (:func:`~aftersales_es.domain.statechart.destination`,
the same answer a command gets when it is decided) and from the case's rule
set and pending deadlines, never from a second table. Pure: no store, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aftersales_es.domain.rulings import destinations
from aftersales_es.domain.statechart import PEOPLE, destination, transitions_from

if TYPE_CHECKING:
    from aftersales_es.domain.case import Case
    from aftersales_es.domain.rules import RuleSet

#: Who may send a command, in the order they are listed: the system's own
#: triggers (deadlines, automatic rules) are not commands anyone can send.
PARTIES = tuple(a for a in ("buyer", "seller", "platform") if a in PEOPLE)


@dataclass(frozen=True)
class Allowed:
    """A command some party may send now, and where it leads."""

    command: str
    actors: tuple[str, ...]
    leads_to: tuple[str, ...]
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "command": self.command,
            "actors": list(self.actors),
            "leads_to": list(self.leads_to),
        }
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class NextActions:
    """The commands allowed now and the pending deadlines, earliest first."""

    allowed: list[Allowed] = field(default_factory=list)
    deadlines: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "allowed": [a.as_dict() for a in self.allowed],
            "if_nobody_acts": self.deadlines[0] if self.deadlines else None,
            "deadlines": self.deadlines,
        }


def _plan(case: Case) -> str | None:
    proposal = case.proposal
    if proposal is None:
        return None
    return "offline" if proposal.get("offline") else str(proposal["kind"])


def _leads(trigger: str, case: Case, actor: str) -> list[str]:
    if trigger == "rule":  # every outcome a ruling may order (KM-8)
        return destinations(case) if actor == "platform" else []
    dest = destination(trigger, case.state, case.kind, actor, plan=_plan(case))
    return [] if dest is None else [dest]


def _refused_by_rules(trigger: str, case: Case, rules: RuleSet) -> bool:
    if trigger in ("escalate", "propose_partial_refund"):  # a ruling is final (KS-8)
        return bool(rules.settings.ruling_final.value) and case.ruling is not None
    if trigger == "accept_partial_refund":
        return case.offer is None
    if trigger == "reject":
        must = rules.settings.exchange_repair_must_be_supported
        return bool(must.value) and case.kind in ("exchange", "repair")
    if trigger == "accept_proposal":
        return case.proposal is None
    return False


def next_actions(case: Case, rules: RuleSet) -> NextActions:
    """What ``case`` allows now under ``rules`` (see the module doc)."""
    allowed = []
    triggers = {t.trigger for t in transitions_from(case.state) if PEOPLE & set(t.actors)}
    for trigger in sorted(triggers):
        actors, leads = [], []
        for actor in PARTIES:
            dests = _leads(trigger, case, actor)
            if dests and not _refused_by_rules(trigger, case, rules):
                actors.append(actor)
                leads += [d for d in dests if d not in leads]
        if actors:
            note = ""
            if trigger == "submit_evidence" and case.evidence_due is not None:
                note = f"until {case.evidence_due.isoformat()}"
            allowed.append(Allowed(trigger, tuple(actors), tuple(leads), note))
    goods = case.goods or "none"
    if destination("request_goods_back", goods, case.kind, "seller", machine_name="goods"):
        allowed.append(Allowed("request_goods_back", ("seller",), ("requested_back",)))
    if destination("send_goods_back", goods, case.kind, "platform", machine_name="goods"):
        allowed.append(Allowed("send_goods_back", ("platform",), ("sent_back",)))
    deadlines = [
        {"name": d.name, "due": d.due.isoformat(), "action": d.action, "rule": d.rule}
        for d in sorted(case.pending_deadlines, key=lambda d: d.due)
    ]
    return NextActions(allowed, deadlines)
