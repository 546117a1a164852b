"""Deadlines: what is due when, computed from event times and the rule set.

A deadline is data on the case (name, due instant, action, rule id). It is
recomputed only when the case enters a state, from that event's own ``at``,
so replay and audit see the same instants whenever a worker noticed them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aftersales_es.domain.rules import RuleSet

#: The KM-4 warehouse deadlines live beside the case's own deadline: goods
#: held are scrapped, goods asked back are sent back, unless done in time.
GOODS_DEADLINE = "goods_scrap"
SEND_BACK_DEADLINE = "goods_send_back"
GOODS_DEADLINES = frozenset({GOODS_DEADLINE, SEND_BACK_DEADLINE})


@dataclass(frozen=True, slots=True, order=True)
class Deadline:
    """A pending deadline: fires ``action`` at ``due`` under ``rule``."""

    due: datetime
    name: str
    action: str
    rule: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Deadline:
        return cls(due=d["due"], name=d["name"], action=d["action"], rule=d["rule"])

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "due": self.due, "action": self.action, "rule": self.rule}


def later(at: datetime, period: timedelta) -> datetime:
    """``period`` of elapsed time after ``at``, in ``at``'s time zone.

    Plain ``at + period`` is wall-clock arithmetic for a ``zoneinfo`` zone, so
    "48 h" across a daylight-saving change would be 47 or 49 real hours.
    """
    return (at.astimezone(UTC) + period).astimezone(at.tzinfo)


def elapsed(start: datetime, end: datetime) -> timedelta:
    """Real time from ``start`` to ``end`` (see :func:`later`)."""
    return end.astimezone(UTC) - start.astimezone(UTC)


def case_deadlines(state: str, kind: str, at: datetime, rules: RuleSet) -> list[dict[str, Any]]:
    """The deadline a case of ``kind`` gets on entering ``state`` at ``at`` (0 or 1)."""
    d = rules.deadline_for(state, kind)
    if d is None:
        return []
    return [{"name": d.name, "due": later(at, d.after), "action": d.action, "rule": d.rule}]


def goods_deadline(received_at: datetime, rules: RuleSet) -> dict[str, Any]:
    """KM-4: goods at the warehouse are scrapped unless asked back in time."""
    s = rules.settings.goods_scrap_after
    return {
        "name": GOODS_DEADLINE,
        "due": later(received_at, s.value),
        "action": "scrap_goods",
        "rule": s.rule,
    }


def send_back_deadline(requested_at: datetime, rules: RuleSet) -> dict[str, Any]:
    """KM-4: goods asked back are sent within a period (an assumption), else the
    system records their dispatch at the rule set's tariff."""
    s = rules.settings.goods_send_back_within
    return {
        "name": SEND_BACK_DEADLINE,
        "due": later(requested_at, s.value),
        "action": "send_goods_back",
        "rule": s.rule,
    }


def overdue(pending: list[Deadline], at: datetime) -> Deadline | None:
    """The case's own deadline already due at ``at`` (goods deadlines aside)."""
    for d in pending:
        if d.name not in GOODS_DEADLINES and d.due <= at:
            return d
    return None
