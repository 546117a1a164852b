"""A case's history: its timeline, and the case as it stood at any version or time.

The timeline is derived from the events alone: who acted (the buyer, the
seller, the platform, or the rule id when a deadline or rule acted), the
state before and after, the amounts, and which deadlines each event set or
cleared (the difference between its pending ``deadlines`` and the previous
event's). The same functions render a live case and a replayed export, so
both print identically.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import InvalidInputError, NotFoundError
from aftersales_es.domain.events import CaseEvent
from aftersales_es.readmodels.views import case_dict, plain

if TYPE_CHECKING:
    from aftersales_es.engine import AfterSales

#: Event fields shown as amounts (in the case's currency).
AMOUNT_FIELDS = ("amount", "fee", "refund_amount", "refunded_total")
#: Fields every event has, shown in their own columns rather than as detail.
_COMMON = {
    "originator_id",
    "originator_version",
    "timestamp",
    "originator_topic",
    "at",
    "actor",
    "auto",
    "rule",
    "state",
    "deadlines",
}
#: Fields added to events later, left out of the detail when empty (files,
#: the evidence a ruling considered, its reasoning).
_OPTIONAL = {"attachments", "evidence", "reasoning"}
#: Case attributes beyond ``case_dict`` that an auditor needs to see.
_EXTRA = (
    "applied_kind",
    "reason",
    "deducted_total",
    "proposal",
    "rejection_reason",
    "waybill",
    "replacement_waybill",
    "goods",
    "escalated_by",
    "evidence_due",
    "evidence_count",
    "evidence",
    "ruling",
    "closed_reason",
)


def state_view(case: Case) -> dict[str, Any]:
    """Everything a case holds, as plain JSON-ready data (``case_dict`` plus detail)."""
    out = case_dict(case)
    out.update({key: plain(getattr(case, key, None)) for key in _EXTRA})
    out["pending_deadlines"] = [
        {"name": d.name, "due": d.due.isoformat(), "action": d.action, "rule": d.rule}
        for d in sorted(case.pending_deadlines)
    ]
    return out


def _deadline(d: dict[str, Any]) -> dict[str, Any]:
    return {"name": d["name"], "due": plain(d["due"]), "action": d["action"], "rule": d["rule"]}


def _key(d: dict[str, Any]) -> tuple[str, str]:
    return (d["name"], plain(d["due"]))


def timeline(events: Sequence[CaseEvent]) -> list[dict[str, Any]]:
    """One row per event: time, event, who, state before -> after, amounts, deadlines.

    ``by`` is the rule id for automatic events (``auto``) and the actor
    otherwise. A deadline is *set* when it appears in an event's pending list
    and *cleared* when it drops out; a cleared deadline whose due instant is
    the event's own time and whose rule caused the event is marked ``fired``.
    """
    rows: list[dict[str, Any]] = []
    before: str | None = None
    pending: dict[tuple[str, str], dict[str, Any]] = {}
    currency = ""
    for e in events:
        currency = getattr(e, "currency", currency) or currency
        now = {_key(d): d for d in e.deadlines}
        cleared = []
        for key in sorted(set(pending) - set(now)):
            d = _deadline(pending[key])
            fired = e.auto and pending[key]["due"] == e.at and d["rule"] == e.rule
            cleared.append({**d, "fired": bool(fired)})
        detail = {
            k: plain(v)
            for k, v in sorted(e.__dict__.items())
            if k not in _COMMON
            and k not in AMOUNT_FIELDS
            and k != "class_version"
            and not (k in _OPTIONAL and not v)
        }
        rows.append(
            {
                "version": e.originator_version,
                "at": e.at.isoformat(),
                "event": type(e).__name__,
                "actor": e.actor,
                "auto": e.auto,
                "rule": e.rule,
                "by": (e.rule or e.actor) if e.auto else e.actor,
                "state_before": before,
                "state_after": e.state,
                "amounts": {k: plain(e.__dict__[k]) for k in AMOUNT_FIELDS if k in e.__dict__},
                "currency": currency,
                "deadlines_set": [_deadline(now[k]) for k in sorted(set(now) - set(pending))],
                "deadlines_cleared": cleared,
                "detail": detail,
            }
        )
        before, pending = e.state, now
    return rows


def history_view(case: Case, events: Sequence[CaseEvent]) -> dict[str, Any]:
    """The case's state plus its timeline up to the case's version."""
    upto = [e for e in events if e.originator_version <= case.version]
    return {"case": state_view(case), "timeline": timeline(upto)}


def version_at(events: Sequence[CaseEvent], when: datetime) -> int:
    """The last version whose event happened at or before ``when``."""
    if when.tzinfo is None:
        raise InvalidInputError(f"as-of {when.isoformat()}: needs a timezone offset")
    found = [e.originator_version for e in events if e.at <= when]
    if not found:
        first = events[0].at.isoformat() if events else "never"
        raise NotFoundError(f"the case did not exist yet at {when.isoformat()} (applied {first})")
    return max(found)


def case_at(
    app: AfterSales,
    case_id: str,
    *,
    version: int | None = None,
    as_of: datetime | None = None,
) -> tuple[Case, list[CaseEvent]]:
    """The case as it stood at ``version`` or at the instant ``as_of``, with its events.

    Rebuilt by the repository's versioned ``get`` (from a snapshot when one
    exists), not by re-running commands.
    """
    events = app.case_events(case_id)
    last = events[-1].originator_version
    if version is not None and as_of is not None:
        raise InvalidInputError("give --version or --as-of, not both")
    if as_of is not None:
        version = version_at(events, as_of)
    if version is not None and not 1 <= version <= last:
        raise InvalidInputError(f"case {case_id}: version {version} out of range 1..{last}")
    case = app.get_case(case_id, version=version)
    return case, [e for e in events if e.originator_version <= case.version]


def history(
    app: AfterSales,
    case_id: str,
    *,
    version: int | None = None,
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """The history view of a case, now or as it stood at ``version`` / ``as_of``."""
    case, events = case_at(app, case_id, version=version, as_of=as_of)
    return history_view(case, events)


def _fmt_deadline(d: dict[str, Any], sign: str) -> str:
    if sign == "-":
        return f"-{d['name']}" + (" (fired)" if d.get("fired") else "")
    return f"+{d['name']} {d['due']} {d['action']} [{d['rule']}]"


def render(view: dict[str, Any]) -> str:
    """The history view as text: a header with the state, then the timeline."""
    head, lines = render_parts(view)
    return "\n".join(head) + "\n\n" + _table(lines)


#: The timeline's columns, in order.
TIMELINE_COLUMNS = ("v", "at", "event", "by", "state", "amounts", "deadlines", "detail")


def render_parts(view: dict[str, Any]) -> tuple[list[str], list[dict[str, str]]]:
    """The header lines and the timeline rows (as text cells) of a history view."""
    c = view["case"]
    head = [
        f"case {c['case_id']}  order {c['order_id']}  {c['platform']}  {c['kind']}",
        f"state {c['state']}  asked {c['amount']}  refunded {c['refunded_total']}  "
        f"deducted {c['deducted_total']} {c['currency']}  version {c['version']}",
    ]
    pending = c["pending_deadlines"]
    head.append(
        "pending: "
        + (", ".join(f"{d['action']} at {d['due']} [{d['rule']}]" for d in pending) or "none")
    )
    lines = []
    for r in view["timeline"]:
        amounts = " ".join(f"{k}={v}" for k, v in r["amounts"].items())
        marks = [_fmt_deadline(d, "+") for d in r["deadlines_set"]]
        marks += [_fmt_deadline(d, "-") for d in r["deadlines_cleared"]]
        detail = " ".join(f"{k}={_short(v)}" for k, v in r["detail"].items() if k not in _IN_HEADER)
        lines.append(
            {
                "v": str(r["version"]),
                "at": r["at"],
                "event": r["event"],
                "by": r["by"],
                "state": f"{r['state_before'] or '-'} -> {r['state_after']}",
                "amounts": f"{amounts} {r['currency']}" if amounts else "",
                "deadlines": "; ".join(marks),
                "detail": detail,
            }
        )
    return head, lines


#: Detail the text header already shows; a rule set is shown by name and version.
_IN_HEADER = {"case_id", "order_id", "seller_id", "buyer_id", "platform", "currency"}


def _short(value: Any) -> str:
    if isinstance(value, dict) and {"name", "version", "digest"} <= set(value):
        return f"{value['name']}@v{value['version']}"
    if isinstance(value, list) and value and all(_is_file(v) for v in value):
        # attachments: name, type and the digest's first digits ('evidence CASE' has it whole)
        return ", ".join(f"{v['name']} ({v['media_type']}, {v['digest'][:12]})" for v in value)
    text = value if isinstance(value, str) else _compact(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_file(value: Any) -> bool:
    return isinstance(value, dict) and "digest" in value and "media_type" in value


def _compact(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _table(rows: list[dict[str, str]]) -> str:
    cols = TIMELINE_COLUMNS
    widths = [max([len(c)] + [len(r[c]) for r in rows]) for c in cols]
    out = ["  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    out += [
        "  ".join(r[c].ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip() for r in rows
    ]
    return "\n".join(out)
