"""Refund cap race (INV-cap): refunds on one order never add up to
more than the order amount, however many partial refunds race for it.

50 threads each want a partial refund on one 100.00 CNY order; their asks
add up to 200.00, twice the amount. One order holds one open case at a time
(INV-open), so each thread keeps applying (its own case id) until it gets the
slot or the cap refuses it, then takes one of three paths to the money:
approve (KS-2), a proposal the buyer accepts (KM-6/KM-7), or a rejection the
buyer escalates and the platform rules on (KS-8), which can find the cap
reached in between. Printed (``pytest -s``): refunds granted, refusals by
the cap, total refunded, maximum overshoot (0), and that the order's total
equals the sum of its cases' refunds and of the stored Refunded events.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import (
    ConcurrencyError,
    OpenCaseExistsError,
    RefundCapError,
    WindowClosedError,
)
from aftersales_es.domain.events import Refunded
from aftersales_es.engine import AfterSales

from .helpers import order, t

THREADS = 50
#: How many waiting threads race for the slot each time a case frees it.
RACERS = THREADS if os.environ.get("AFTERSALES_FUZZ") == "long" else 8
AMOUNT = Decimal("100.00")
#: Asks alternate 1.99 and 6.01: 25 x 8.00 = 200.00, twice the order.
ASKS = [Decimal("1.99") if i % 2 else Decimal("6.01") for i in range(THREADS)]


class Clock:
    """A shared virtual clock: every command gets a later instant than the last.

    It also lets waiting threads sleep until a case frees the order's slot
    instead of polling the store: :meth:`freed` wakes ``RACERS`` of them at
    once (all of them under ``AFTERSALES_FUZZ=long``), and they race for it.
    """

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()
        self._slot = threading.Condition()

    def freed(self) -> None:
        with self._slot:
            self._slot.notify(RACERS)

    def wait(self) -> None:
        with self._slot:
            self._slot.wait(timeout=random.uniform(0.2, 0.4))

    def tick(self) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=1)
            return self._now


def until_free(send: Callable[[datetime], Case], clock: Clock) -> Case:
    """Send at a fresh instant; again while another case holds the order's slot,
    a writer keeps conflicting, or a racer recorded a later instant on the order
    first (``WindowClosedError`` [time]: our instant went stale in the race)."""
    while True:
        try:
            return send(clock.tick())
        except OpenCaseExistsError:
            clock.wait()
        except (ConcurrencyError, WindowClosedError) as exc:
            if isinstance(exc, WindowClosedError) and exc.rule != "time":
                raise


def claim(app: AfterSales, clock: Clock, i: int) -> str:
    """Thread i: open a case for ASKS[i] and drive it to a refund by path i % 3;
    return what happened."""
    case, ask, path = f"K{i}", str(ASKS[i]), ("approve", "accept", "ruling")[i % 3]

    def send(command: str, **fields: object) -> Case:
        return until_free(lambda at: app.execute(command, case=case, at=at, **fields), clock)

    try:
        send("apply", order="O1", kind="refund_only", amount=ask, reason="quality_issue")
    except RefundCapError:
        return "refused by the cap at apply"
    try:
        return drive(send, ask, path)
    finally:
        clock.freed()


def drive(send: Callable[..., Case], ask: str, path: str) -> str:
    """Take the case from ``requested`` to a refund by ``path``, or withdraw it."""
    try:
        if path == "approve":
            send("approve")
        elif path == "accept":
            send("propose", kind="refund_only", amount=ask)
            send("accept_proposal")
        else:
            send("reject", category="other", buyer_contacted=True, reason="photos unclear")
            send("escalate", by="buyer")
            send("rule", in_favour_of="buyer", refund_amount=ask)
    except RefundCapError:
        send("withdraw")  # free the slot
        return f"refused by the cap at {path}"
    return f"refunded via {path}"


def test_racing_partial_refunds_never_exceed_the_order_amount_inv_cap(store: str) -> None:
    # Many claims on one order and grounds: a final ruling (KS-8) would stop
    # all but the first, so the race here is with rulings that are not final.
    app = AfterSales(store, settings={"ruling_final": False})
    order(app, amount=str(AMOUNT))
    clock = Clock(t(days=3))
    outcomes: dict[int, str] = {}
    barrier = threading.Barrier(THREADS)

    def run(i: int) -> None:
        barrier.wait(timeout=60)
        try:
            outcomes[i] = claim(app, clock, i)
        except Exception as exc:  # every other error is shown and fails the test
            outcomes[i] = f"error {type(exc).__name__}: {exc}"

    started = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=300)
    elapsed = time.perf_counter() - started

    held = app.get_order("O1")
    cases = [app.get_case(f"K{i}") for i in range(THREADS) if f"K{i}" in held.case_ids]
    by_cases = sum((c.refunded_total for c in cases), Decimal(0))
    by_events = sum(
        (e.amount for c in cases for e in app.case_events(c.case_id) if isinstance(e, Refunded)),
        Decimal(0),
    )
    overshoot = max(Decimal(0), held.refunded_total - AMOUNT)
    tally = Counter(o for o in outcomes.values() if not o.startswith("error"))
    errors = [f"K{i}: {o}" for i, o in outcomes.items() if o.startswith("error")]
    granted = sum(v for k, v in tally.items() if k.startswith("refunded"))
    unpaid = [ASKS[i] for i, o in outcomes.items() if o.startswith("refused")]
    kind = "postgres" if store.startswith("postgres") else "sqlite"
    print(
        f"\nrefund cap [{kind}]: {THREADS} threads asking {sum(ASKS)} on an order of {AMOUNT}"
        f" in {elapsed:.1f} s\n  {dict(sorted(tally.items()))}\n  total refunded"
        f" {held.refunded_total}, max overshoot {overshoot}, sum of case refunds {by_cases},"
        f" sum of Refunded events {by_events}, other errors {len(errors)} {errors[:3]}"
    )
    app.close()
    assert errors == []
    assert overshoot == 0 and held.refunded_total <= AMOUNT
    assert held.refunded_total == by_cases == by_events
    assert granted == sum(1 for c in cases if c.refunded_total > 0)
    assert sum(tally.values()) == THREADS
    # The cap, not a lost race, stopped the rest: what is left fits none of them.
    assert unpaid and all(ask > held.remaining for ask in unpaid)
