"""Plain-data views of cases and events, for JSON output and tables."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersales_es.domain.case import Case
from aftersales_es.domain.events import CaseEvent

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
