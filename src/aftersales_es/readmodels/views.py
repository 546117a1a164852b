"""Plain-data views of cases and events, for JSON output and tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersales_es.adapters.caseviews import ViewRow
from aftersales_es.domain.case import Case
from aftersales_es.domain.events import CaseEvent
from aftersales_es.domain.next_actions import next_actions
from aftersales_es.domain.rules import RuleSet

_SKIP = {"originator_id", "originator_version", "timestamp", "originator_topic", "at"}
#: Line, fee and evidence fields left out at their defaults, so cases without
#: them print exactly as they did before those fields existed.
_QUIET = {"lines": (), "fee": 0, "attachments": (), "evidence": (), "reasoning": ""}


def plain(value: Any) -> Any:
    """JSON-ready: datetimes as ISO strings, decimals as strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def event_dict(e: CaseEvent) -> dict[str, Any]:
    """``{"type", "at", "version", "auto", ...fields}`` as in SPEC §4."""
    out: dict[str, Any] = {
        "type": type(e).__name__,
        "at": e.at.isoformat(),
        "version": e.originator_version,
        "auto": e.auto,
    }
    for key, value in e.__dict__.items():
        if key in _QUIET and (value == _QUIET[key] or value == []):
            continue
        if key not in _SKIP and key not in out:
            out[key] = plain(value)
    return out


def case_dict(case: Case, events: list[CaseEvent] | None = None) -> dict[str, Any]:
    """A case as SPEC §4 prints it, plus its pending deadline."""
    pending = case.pending_deadline
    out: dict[str, Any] = {
        "case_id": case.case_id,
        "order_id": case.order_id,
        "platform": case.platform,
        "kind": case.kind,
        "state": case.state,
        "amount": plain(case.amount),
        "refunded_total": plain(case.refunded_total),
        "currency": case.currency,
        "version": case.version,
        "pending_deadline": None
        if pending is None
        else {
            "name": pending.name,
            "due": pending.due.isoformat(),
            "action": pending.action,
            "rule": pending.rule,
        },
    }
    if case.lines:  # Only cases that name lines show them
        out["lines"] = plain(list(case.lines))
    if case.fee_total:  # The buyer-side return fee kept from the refund
        out["fee_total"] = plain(case.fee_total)
    if events is not None:
        out["events"] = [event_dict(e) for e in events]
    return out


def case_view(case: Case, events: Sequence[CaseEvent], rules: RuleSet) -> dict[str, Any]:
    """A case for output: :func:`case_dict` with its events, then what can
    happen next (``"next"``), as ``show`` prints it and the stored view holds it."""
    view = case_dict(case, list(events))
    view["next"] = next_actions(case, rules).as_dict()
    return view


def view_row(case: Case, new: Sequence[CaseEvent], rules: RuleSet) -> ViewRow:
    """What a save of ``case`` with its ``new`` events writes as its stored
    view: the same parts :func:`case_view` gives, split into head and rows."""
    return ViewRow(
        case.case_id,
        case.id.hex,
        case.version,
        case_dict(case),
        next_actions(case, rules).as_dict(),
        [(e.originator_version, event_dict(e)) for e in new],
    )
