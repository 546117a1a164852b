"""The checks on a new application (the buyer's ``apply``); private to the case.

Everything here decides only from the order, the rule set and the command:
it records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from aftersales_es.domain.deadlines import case_deadlines, elapsed, later
from aftersales_es.domain.errors import (
    CommandRefusedError,
    NotAllowedError,
    OpenCaseExistsError,
    RefundCapError,
    WindowClosedError,
)
from aftersales_es.domain.money import fmt, zero
from aftersales_es.domain.order import Order
from aftersales_es.domain.rules import RuleSet
from aftersales_es.domain.statechart import (
    CANCEL_KINDS,
    GOODS_KINDS,
    REPLACEMENT_KINDS,
    destination,
)


def application(
    case_id: str,
    order: Order,
    rules: RuleSet,
    *,
    at: datetime,
    kind: str,
    amount: Decimal | None,
    lines: list[dict[str, Any]] | None,
    reason: str = "other",
) -> dict[str, Any]:
    """The fields of the ``Applied`` event (but the buyer's reason), or a refusal.

    An application without lines records exactly what it did before lines existed.
    """
    parts = tuple({"line": p["line"], "quantity": int(p["quantity"])} for p in lines or ())
    asked = check_application(
        case_id, order, rules, at=at, kind=kind, amount=amount, lines=list(parts), reason=reason
    )
    return {
        "case_id": case_id,
        "order_id": order.order_id,
        "seller_id": order.seller_id,
        "buyer_id": order.buyer_id,
        "platform": rules.name,
        "kind": kind,
        "amount": asked,
        "currency": order.currency,
        **({"lines": parts} if parts else {}),
        "actor": "buyer",
        "auto": False,
        "rule": None,
        "state": "requested",
        "deadlines": case_deadlines("requested", kind, at, rules),
        "ruleset": {"name": rules.name, "version": rules.version, "digest": rules.digest},
    }


#: Builds the refusal of the application (raised by the caller).
Refuse = Callable[[type[CommandRefusedError], str, str], CommandRefusedError]


def check_application(
    case_id: str,
    order: Order,
    rules: RuleSet,
    *,
    at: datetime,
    kind: str,
    amount: Decimal | None,
    lines: list[dict[str, Any]] | None = None,
    reason: str = "other",
) -> Decimal:
    """The amount the application asks for, or a refusal naming the rule.

    ``amount`` None asks for what is left to refund on the order (on named
    ``lines``: the named quantities' price, capped by what each line has
    left); exchanges and repairs ask for nothing.
    """

    def refuse(err: type[CommandRefusedError], rule: str, why: str) -> CommandRefusedError:
        return err(case_id, "new", "apply", rule, why)

    if kind not in rules.kinds:
        offered = ", ".join(rules.kinds)
        raise refuse(NotAllowedError, f"{rules.name}.kinds", f"{kind} not offered ({offered})")
    reasons = rules.catalogue.reasons
    if reason not in reasons.ids:
        why = f"unknown reason {reason!r}; use one of: {', '.join(reasons.ids)}"
        raise refuse(NotAllowedError, reasons.rule, why)
    if at < order.paid_at:
        raise refuse(WindowClosedError, "order", f"applied before payment ({order.paid_at})")
    if order.last_case_at is not None and at < order.last_case_at:
        # Another case already recorded something later on this order.
        last = order.last_case_at.isoformat()
        why = (
            f"at {at.isoformat()} is before the last case event on order {order.order_id} ({last})"
        )
        raise refuse(WindowClosedError, "time", why)
    named = [part["line"] for part in lines or []]
    blocked = order.blocking(named)
    if blocked is not None:
        what = f"line(s) {', '.join(named)} of order" if named else "order"
        why = f"{what} {order.order_id} already has open case {blocked[1]}"
        raise refuse(OpenCaseExistsError, blocked[0], why)
    asked = _asked(refuse, order, kind, amount, lines)
    _check_window(refuse, order, rules, at, kind)
    _check_validity(refuse, order, rules, at, kind, named, reason)
    _check_final(refuse, order, rules, named, reason)
    return asked


def _asked(
    refuse: Refuse,
    order: Order,
    kind: str,
    amount: Decimal | None,
    lines: list[dict[str, Any]] | None,
) -> Decimal:
    """The amount asked: none for an exchange or repair, else within what is left (INV-cap)."""
    if lines:
        amount = _check_lines(refuse, order, kind, amount, lines)
    if kind in REPLACEMENT_KINDS:
        if amount is not None and amount != 0:
            why = f"an exchange or repair ({kind}) asks for no refund (amount 0)"
            raise refuse(NotAllowedError, "apply", why)
        amount = zero(order.currency)
    else:
        if order.remaining <= 0:
            why = f"order {order.order_id} is already fully refunded"
            raise refuse(RefundCapError, "INV-cap", why)
        if amount is None:
            amount = order.remaining
        elif amount == 0:
            raise refuse(NotAllowedError, "apply", f"a {kind} case asks for an amount above 0")
    if amount > order.remaining:
        why = (
            f"asks {fmt(amount)} but only {fmt(order.remaining)} {order.currency} of order "
            f"{order.order_id} is left to refund"
        )
        raise refuse(RefundCapError, "INV-cap", why)
    return amount


def _check_window(refuse: Refuse, order: Order, rules: RuleSet, at: datetime, kind: str) -> None:
    """KS-10, KM-2: goods come back within the validity period; KM-1: when a cancel is allowed."""
    s = rules.settings
    if kind in CANCEL_KINDS:
        cancel = s.cancel_shipped_after
        if s.cancel_gs_only.value and not order.gs:
            why = "only a global-selling (GS) order may be cancelled as undelivered"
            raise refuse(NotAllowedError, s.cancel_gs_only.rule, why)
        if order.delivered(at):
            raise refuse(NotAllowedError, cancel.rule, "the goods were received")
        opens = later(order.paid_at, cancel.value)
        if order.shipped(at) and at < opens:
            why = f"a shipped order may be cancelled only from {opens.isoformat()}"
            raise refuse(WindowClosedError, cancel.rule, why)


def _check_validity(
    refuse: Refuse,
    order: Order,
    rules: RuleSet,
    at: datetime,
    kind: str,
    lines: list[str],
    reason: str,
) -> None:
    """KS-10, KM-2: within the validity window of the kind, each line's
    category and the reason; a window of null refuses (non-returnable goods)."""
    fallback = rules.settings.after_sales_validity
    windows = [rules.window_for(kind, c, reason) for c in order.category_of(lines)]
    if all(w is None for w in windows) and kind not in GOODS_KINDS:
        return
    for category, w in zip(order.category_of(lines), windows, strict=True):
        rule = w.rule if w else fallback.rule
        if w is not None and w.after is None:
            why = f"{category or 'these'} goods cannot be returned for a {kind} case ({reason})"
            raise refuse(NotAllowedError, rule, why)
        if order.delivered_at is None or order.delivered_at > at:
            raise refuse(NotAllowedError, rule, "the goods have not been delivered")
        period = w.after if w is not None and w.after is not None else fallback.value
        ends = window_end(order.delivered_at, period, rules.settings.validity_counting.value)
        if at >= ends:
            why = f"the {kind} validity period ({_days(period)}) ended {ends.isoformat()}"
            raise refuse(WindowClosedError, rule, why)


def _days(period: timedelta) -> str:
    return f"{period.days}d" if period.days * 86400 == period.total_seconds() else str(period)


def window_end(received: datetime, period: timedelta, counting: str) -> datetime:
    """When a window of ``period`` from ``received`` closes (exclusive).

    ``from_next_day`` counts whole days from the day after receipt, as the
    statute does, so the window closes at midnight (``received``'s offset)
    after its last day; ``elapsed`` is real time from the receipt instant.
    """
    if counting != "from_next_day":
        return later(received, period) + timedelta(microseconds=1)
    days = -(-int(period.total_seconds()) // 86400)  # part days count as whole days
    first = received.date() + timedelta(days=1)
    last = first + timedelta(days=days - 1)
    return datetime.combine(last + timedelta(days=1), time(0), tzinfo=received.tzinfo)


def _check_final(
    refuse: Refuse, order: Order, rules: RuleSet, lines: list[str], reason: str
) -> None:
    """KS-8: a ruling is final; the same order, line(s) and grounds are not heard again."""
    final = rules.settings.ruling_final
    ruled = order.ruled(lines, reason) if final.value else None
    if ruled is not None:
        what = f"line(s) {', '.join(lines)} of order" if lines else "order"
        why = (
            f"case {ruled} on {what} {order.order_id} was ruled on the same grounds "
            f"({reason}); the ruling is final"
        )
        raise refuse(NotAllowedError, final.rule, why)


def _check_lines(
    refuse: Refuse, order: Order, kind: str, amount: Decimal | None, lines: list[dict[str, Any]]
) -> Decimal | None:
    """The named lines exist, once each, with quantities left; the amount
    within what they may refund (INV-line-qty, INV-line-cap). Returns the amount
    asked (the default for a refund kind when ``amount`` is None)."""
    if kind in CANCEL_KINDS:
        raise refuse(NotAllowedError, "apply", "a cancellation covers the whole order")
    names = [part["line"] for part in lines]
    for name in names:
        if order.line(name) is None:
            known = ", ".join(ln["line"] for ln in order.lines) or "none"
            raise refuse(
                NotAllowedError, "apply", f"order {order.order_id} has no line {name} ({known})"
            )
        if names.count(name) > 1:
            raise refuse(NotAllowedError, "apply", f"line {name} is named twice")
    for part in lines:
        left = order.line_left(part["line"])[0]
        if part["quantity"] > left:
            raise refuse(
                RefundCapError,
                "INV-line-qty",
                f"asks {part['quantity']} of line {part['line']} but only {left} "
                f"of order {order.order_id} are left",
            )
    if kind in REPLACEMENT_KINDS:
        return amount
    cap = sum(order.line_caps(lines), Decimal(0))
    if amount is None:
        amount = min(cap, order.remaining).quantize(order.amount)
        if amount <= 0:
            raise refuse(RefundCapError, "INV-line-cap", f"nothing is left to refund on {names}")
    if amount > cap:
        raise refuse(
            RefundCapError,
            "INV-line-cap",
            f"asks {fmt(amount)} but the named line(s) {', '.join(names)} may refund at most "
            f"{fmt(cap)} {order.currency}",
        )
    return amount


def check_resubmission(case_id: str, order: Order, rules: RuleSet) -> None:
    """The cap on applications after a rejection (``max_applications_after_rejection``)."""
    cap = rules.settings.max_applications_after_rejection
    after = order.applications_after_rejection
    if cap.value is not None and order.rejected_case_ids and after >= cap.value:
        why = f"after a rejection the buyer may apply again at most {cap.value} time(s)"
        used = f"on order {order.order_id} ({after} used)"
        raise NotAllowedError(case_id, "new", "apply", cap.rule, f"{why} {used}")


def express_refund_applies(order: Order, rules: RuleSet, at: datetime, kind: str) -> bool:
    """KS-9: a refund-only application is refunded at once when all conditions hold."""
    s = rules.settings
    return bool(
        destination("express_refund", "requested", kind, "system") is not None
        and s.express_refund.value
        and elapsed(order.paid_at, at) < s.express_refund_paid_within.value
        and order.currency == rules.currency
        and order.amount < s.express_refund_amount_below.value
        and not order.shipped(at)
    )
