"""Refund payouts: the outbox, the operations on an instruction, and the worker.

**Outbox.** :func:`outbox` turns every ``Refunded`` event a save is about to
write into a :class:`~aftersales_es.domain.payout.Payout` instruction, which
the service saves in the same transaction (see ``CaseService._save``): a
refund decision and its instruction are written together or not at all, and
a retried command derives the same instruction id again.

**Worker.** :class:`PayoutWorker` asks the payout index what may be sent,
records ``PayoutSent`` (version-checked: two workers never send the same try)
*before* calling the provider with the instruction id as idempotency key,
then records the answer. A worker killed between the two leaves the payout
``sending``; once its lease is over, the next worker sends it again under the
same key and the provider, which pays a key once, answers as before. Times
come from the worker's clock, passed to the payout as event fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import RecordConflictError

from aftersales_es.adapters.storage import Stored, fold
from aftersales_es.app.ports import PayoutProvider, PayoutQueue
from aftersales_es.domain.case import Case
from aftersales_es.domain.errors import ConcurrencyError, InvalidInputError
from aftersales_es.domain.events import Refunded
from aftersales_es.domain.order import Order
from aftersales_es.domain.payout import (
    Answer,
    Payout,
    PayoutNotFoundError,
    RetryPolicy,
    payout_id,
    payout_uuid,
)

__all__ = ["PayoutWorker", "Payouts", "outbox"]

Log = Callable[[dict[str, Any]], None]
CALLBACK_STATUSES = ("succeeded", "failed")


def outbox(aggregates: Iterable[Any]) -> list[Payout]:
    """The payout instructions of the refunds among ``aggregates``' new events."""
    found = list(aggregates)
    orders = {a.order_id: a for a in found if isinstance(a, Order)}
    instructions = []
    for case in found:
        if not isinstance(case, Case):
            continue
        for e in case.pending_events:
            if not isinstance(e, Refunded) or e.amount <= 0:
                continue
            order = orders.get(case.order_id)
            reference = getattr(order, "payment_reference", "") or f"order:{case.order_id}"
            method = getattr(order, "refund_method", "") or "original_payment"
            instructions.append(
                Payout.instruct(
                    e.at,
                    payout_id=payout_id(case.case_id, e.originator_version),
                    case_id=case.case_id,
                    order_id=case.order_id,
                    seller_id=case.seller_id,
                    buyer_id=case.buyer_id,
                    amount=e.amount,
                    currency=case.currency,
                    method=method,
                    payment_reference=reference,
                    refund_version=e.originator_version,
                    rule=e.rule,
                )
            )
    return instructions


class Payouts:
    """Load, decide and save one payout instruction, retrying on a conflict."""

    def __init__(self, app: Stored, policy: RetryPolicy | None = None) -> None:
        self.app = app
        self.policy = policy or RetryPolicy()

    def get(self, pid: str) -> Payout:
        """The instruction ``pid`` as it is now."""
        try:
            payout: Payout = self._holder(pid).repository.get(payout_uuid(pid), projector_func=fold)
        except AggregateNotFoundError:
            raise PayoutNotFoundError(pid) from None
        return payout

    def _holder(self, pid: str) -> Any:
        """The store that holds ``pid``: on a store of partitions, its case's
        partition (a payout is saved with the refund that decided it)."""
        parts = getattr(self.app, "partitions", None)
        if not parts:
            return self.app
        for part in parts:
            if payout_uuid(pid) in part.repository:
                return part
        raise PayoutNotFoundError(pid)

    def change(self, pid: str, decide: Callable[[Payout], bool]) -> tuple[Payout, bool]:
        """Run ``decide`` on fresh state and save what it recorded; whether it did."""
        for _ in range(5):
            payout = self.get(pid)
            if not decide(payout):
                return payout, False
            try:
                self._holder(pid)._save(payout)
            except RecordConflictError:
                continue
            return payout, True
        raise ConcurrencyError(f"payout {pid}: kept conflicting; try again")

    def confirm(self, pid: str, *, at: datetime, reference: str, by: str = "person") -> Payout:
        """Record that the money arrived (a person, or a provider's callback)."""
        return self.change(pid, lambda p: p.succeed(at, reference, by))[0]

    def fail(self, pid: str, *, at: datetime, reason: str, by: str = "person") -> Payout:
        """A person records that the payout failed for good (it needs a person again)."""
        return self.change(pid, lambda p: p.fail(at, reason, by, self.policy, final=True))[0]

    def retry(self, pid: str, *, at: datetime, by: str = "person") -> Payout:
        """A person sends a given-up instruction again; its tries start over."""

        def decide(p: Payout) -> bool:
            p.retry(at, by)
            return True

        return self.change(pid, decide)[0]

    def callback(
        self, pid: str, *, at: datetime, status: str, reference: str = "", reason: str = ""
    ) -> tuple[Payout, bool]:
        """A provider's final outcome; a repeat changes nothing (False)."""
        if status not in CALLBACK_STATUSES:
            known = ", ".join(CALLBACK_STATUSES)
            raise InvalidInputError(f"status: {status!r}; use one of {known}")
        if status == "succeeded":
            return self.change(pid, lambda p: p.succeed(at, reference, "provider"))
        why = reason or "the provider reported a failure"
        return self.change(pid, lambda p: p.fail(at, why, "provider", self.policy))


def wall_clock() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def _discard(record: dict[str, Any]) -> None:
    """A log sink that drops records."""


class PayoutWorker:
    """Sends due payout instructions to ``provider`` and records its answers."""

    def __init__(
        self,
        app: Stored,
        provider: PayoutProvider,
        queue: PayoutQueue,
        *,
        clock: Callable[[], datetime] = wall_clock,
        policy: RetryPolicy | None = None,
        batch: int = 25,
        log: Log = _discard,
        on_answer: Callable[[str, Answer], None] | None = None,
    ) -> None:
        self.payouts = Payouts(app, policy)
        self.app, self.provider, self.queue = app, provider, queue
        self.clock, self.batch, self.log, self.on_answer = clock, batch, log, on_answer
        self.sent = 0
        self.failed = 0

    @property
    def policy(self) -> RetryPolicy:
        return self.payouts.policy

    def run_once(self) -> int:
        """Send every payout due now (a batch at a time); how many were sent."""
        sent = 0
        now = self.clock()
        done: set[str] = set()
        while True:
            due = [pid for pid in self.queue.sendable(now, self.batch) if pid not in done]
            if not due:
                return sent
            for pid in due:
                done.add(pid)
                sent += self._one(pid, now)

    def _one(self, pid: str, now: datetime) -> int:
        payout = self.payouts.get(pid)
        if not payout.sendable(now):
            return 0  # another worker or a person came first
        accepted = self.provider.currencies
        if accepted is not None and payout.currency not in accepted:
            reason = (
                f"currency {payout.currency} not accepted by provider {self.provider.name}"
                f" (accepts {', '.join(sorted(accepted))})"
            )
            p, _ = self.payouts.change(
                pid, lambda q: q.fail(now, reason, "system", self.policy, final=True)
            )
            self._logged(p, reason)
            return 0
        payout.send(now, self.provider.name, self.policy)
        try:
            self.app._save(payout)
        except RecordConflictError:
            return 0  # another worker is sending this try
        try:
            answer = self.provider.send(payout.instruction)
        except Exception as exc:  # an adapter's bug must not lose the instruction
            answer = Answer("unavailable", reason=f"{type(exc).__name__}: {exc}")
        if self.on_answer is not None:
            self.on_answer(pid, answer)
        self._record(pid, payout.attempts, answer)
        return 1

    def _record(self, pid: str, attempt: int, answer: Answer) -> None:
        at = self.clock()
        name, policy = self.provider.name, self.policy

        def decide(q: Payout) -> bool:
            if answer.outcome == "paid":
                return q.succeed(at, answer.reference, name)
            if q.status != "sending" or q.attempts != attempt:
                return False  # a callback or a person recorded the outcome first
            if answer.outcome == "accepted":
                q.accept(at, answer.reference)
                return True
            final = answer.outcome == "declined"
            return q.fail(at, answer.reason or answer.outcome, "system", policy, final=final)

        payout, _ = self.payouts.change(pid, decide)
        self.sent += 1
        self._logged(payout, answer.reason)

    def _logged(self, p: Payout, reason: str) -> None:
        if p.status in ("pending", "given_up"):
            self.failed += 1
        record: dict[str, Any] = {
            "event": f"payout_{p.status}",
            "payout": p.payout_id,
            "case": p.case_id,
            "amount": f"{p.amount} {p.currency}",
            "attempt": p.attempts,
            "provider": self.provider.name,
        }
        if p.status in ("pending", "given_up"):
            record["reason"] = reason or p.reason
        if p.status == "pending" and p.retry_at is not None:
            record["retry_at"] = p.retry_at.isoformat()
        self.log(record)
