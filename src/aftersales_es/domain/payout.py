"""The refund payout: an outbox instruction carrying a refund decision to a provider.

Each ``Refunded`` event of a case is one refund decision; the service saves
a :class:`Payout` for it in the same transaction as the decision (see
:mod:`aftersales_es.app.payouts`), so no decided refund can lack its
instruction and no instruction can exist without its decision. The payout's
id (:func:`payout_id`, derived from the case id and the refund's event
version) is the idempotency key sent to the provider: however often an
instruction is sent, the provider pays it once.

Its life: ``pending`` (instructed, or a retry scheduled) -> ``sending`` (a
worker handed it to the provider; ``lease_until`` says when another worker
may send it again, with the same key, if no answer was recorded) ->
``accepted`` (the provider took it; the outcome comes later) ->
``succeeded``; or ``failed`` into another ``pending`` try at ``retry_at``
(backoff), or ``given_up`` after the last try or a permanent refusal, which
needs a person (``retry`` or ``confirm``). Every instant is an event field
the caller passes in: nothing here reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal
from uuid import UUID, uuid5

from aftersales_es.domain.base import NAMESPACE, TimedAggregate, TimedCreated, TimedEvent
from aftersales_es.domain.deadlines import later
from aftersales_es.domain.errors import AfterSalesError, NotFoundError

Method = Literal["original_payment", "store_credit", "offline"]
METHODS: tuple[str, ...] = ("original_payment", "store_credit", "offline")
STATUSES = ("pending", "sending", "accepted", "succeeded", "given_up")
#: Statuses a worker acts on by itself; ``accepted`` waits for the provider.
OPEN = frozenset({"pending", "sending", "accepted"})


def payout_id(case_id: str, refund_version: int) -> str:
    """The instruction id of the refund at ``refund_version`` of ``case_id``."""
    return f"PO-{case_id}-{refund_version}"


def payout_uuid(pid: str) -> UUID:
    """The store id of a payout instruction."""
    return uuid5(NAMESPACE, f"payout:{pid}")


class PayoutError(AfterSalesError):
    """A payout command that does not fit the instruction's status."""

    def __init__(self, payout: str, status: str, command: str, why: str) -> None:
        super().__init__(f"payout {payout} (status {status}): {command} refused: {why}")
        self.payout, self.status, self.command = payout, status, command


class PayoutNotFoundError(NotFoundError):
    def __init__(self, pid: str) -> None:
        super().__init__(f"payout {pid!r} not found (see 'aftersales payouts list')")
        self.payout = pid


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how late a failed payout is tried again (exponential backoff)."""

    max_attempts: int = 5
    first: timedelta = timedelta(minutes=1)
    factor: int = 4
    cap: timedelta = timedelta(hours=6)
    #: How long a worker's send may go unanswered before another sends it again.
    lease: timedelta = timedelta(minutes=5)

    def backoff(self, attempt: int) -> timedelta:
        """The wait after the ``attempt``-th failed try (1-based)."""
        wait: timedelta = self.first * self.factor ** max(attempt - 1, 0)
        return min(wait, self.cap)


@dataclass(frozen=True, slots=True)
class Instruction:
    """What a provider is asked to pay: the instruction as sent."""

    payout_id: str
    case_id: str
    order_id: str
    seller_id: str
    buyer_id: str
    amount: Decimal
    currency: str
    method: str
    payment_reference: str


@dataclass(frozen=True, slots=True)
class Answer:
    """A provider's answer to a send: ``paid`` (final), ``accepted`` (outcome
    later, by callback or a person), ``declined`` (permanent: no retry) or
    ``unavailable`` (timeout, 5xx: try again later)."""

    outcome: Literal["paid", "accepted", "declined", "unavailable"]
    reference: str = ""
    reason: str = ""


class PayoutInstructed(TimedCreated):
    payout_id: str
    case_id: str
    order_id: str
    seller_id: str
    buyer_id: str
    amount: Decimal
    currency: str
    method: str
    payment_reference: str
    refund_version: int
    rule: str | None


class PayoutSent(TimedEvent):
    attempt: int
    provider: str
    lease_until: datetime

    def apply(self, p: Payout) -> None:
        p.status, p.attempts, p.provider, p.lease_until = (
            "sending",
            self.attempt,
            self.provider,
            (self.lease_until),
        )


class PayoutAccepted(TimedEvent):
    provider: str
    reference: str

    def apply(self, p: Payout) -> None:
        p.status, p.reference = "accepted", self.reference


class PayoutSucceeded(TimedEvent):
    reference: str
    by: str

    def apply(self, p: Payout) -> None:
        p.status, p.reference, p.reason = "succeeded", self.reference, ""


class PayoutFailed(TimedEvent):
    attempt: int
    reason: str
    by: str

    def apply(self, p: Payout) -> None:
        p.reason = self.reason


class PayoutRetryScheduled(TimedEvent):
    retry_at: datetime
    by: str

    def apply(self, p: Payout) -> None:
        p.status, p.retry_at = "pending", self.retry_at
        if self.by != "system":  # a person asked: the tries start over
            p.base = p.attempts


class PayoutGivenUp(TimedEvent):
    attempts: int
    reason: str

    def apply(self, p: Payout) -> None:
        p.status, p.reason = "given_up", self.reason


class Payout(TimedAggregate):
    """One refund payout instruction. Create it with :meth:`instruct`."""

    def __init__(
        self,
        *,
        payout_id: str,
        case_id: str,
        order_id: str,
        seller_id: str,
        buyer_id: str,
        amount: Decimal,
        currency: str,
        method: str,
        payment_reference: str,
        refund_version: int,
        rule: str | None,
    ) -> None:
        self.payout_id, self.case_id, self.order_id = payout_id, case_id, order_id
        self.seller_id, self.buyer_id = seller_id, buyer_id
        self.amount, self.currency, self.method = amount, currency, method
        self.payment_reference, self.refund_version, self.rule = (
            payment_reference,
            refund_version,
            rule,
        )
        self.status = "pending"
        self.attempts = 0
        self.base = 0  # attempts before a person last asked for a retry
        self.provider = ""
        self.reference = ""
        self.reason = ""
        self.retry_at: datetime | None = None
        self.lease_until: datetime | None = None

    @classmethod
    def instruct(cls, at: datetime, **fields: object) -> Payout:
        """The instruction for one refund decision (saved with the decision)."""
        pid = str(fields["payout_id"])
        payout: Payout = cls._create(PayoutInstructed, id=payout_uuid(pid), at=at, **fields)
        return payout

    @property
    def instruction(self) -> Instruction:
        """What is sent to the provider."""
        return Instruction(
            self.payout_id,
            self.case_id,
            self.order_id,
            self.seller_id,
            self.buyer_id,
            self.amount,
            self.currency,
            self.method,
            self.payment_reference,
        )

    def sendable(self, now: datetime) -> bool:
        """Whether a worker may send it at ``now``: pending and its retry due, or
        sent and left unanswered past its lease (the sender died)."""
        if self.status == "pending":
            return self.retry_at is None or self.retry_at <= now
        return self.status == "sending" and self.lease_until is not None and self.lease_until <= now

    def _refuse(self, command: str, why: str) -> PayoutError:
        return PayoutError(self.payout_id, self.status, command, why)

    def send(self, at: datetime, provider: str, policy: RetryPolicy) -> None:
        """A worker hands the instruction to ``provider`` (before calling it)."""
        if not self.sendable(at):
            raise self._refuse("send", "not due for sending")
        lease = later(at, policy.lease)
        self._record(
            PayoutSent, at=at, attempt=self.attempts + 1, provider=provider, lease_until=lease
        )

    def accept(self, at: datetime, reference: str) -> None:
        """The provider took the instruction; its outcome comes later."""
        if self.status != "sending":
            raise self._refuse("accept", "not being sent")
        self._record(PayoutAccepted, at=at, provider=self.provider, reference=reference)

    def succeed(self, at: datetime, reference: str, by: str) -> bool:
        """The money arrived (provider, callback or a person). A repeat with the
        same reference changes nothing (False); another reference is refused."""
        if self.status == "succeeded":
            if reference in ("", self.reference):
                return False
            raise self._refuse("succeed", f"already paid under reference {self.reference!r}")
        self._record(PayoutSucceeded, at=at, reference=reference or self.reference, by=by)
        return True

    def fail(
        self, at: datetime, reason: str, by: str, policy: RetryPolicy, *, final: bool = False
    ) -> bool:
        """A try failed: retry after the backoff, or give up after the last try
        (or at once if ``final``, a permanent refusal). A failure reported when
        no try is under way (a repeated callback) changes nothing (False)."""
        if self.status == "succeeded":
            raise self._refuse("fail", f"already paid under reference {self.reference!r}")
        trying = ("pending", "sending", "accepted") if final else ("sending", "accepted")
        if self.status not in trying:
            return False
        self._record(PayoutFailed, at=at, attempt=self.attempts, reason=reason, by=by)
        if final or self.attempts - self.base >= policy.max_attempts:
            self._record(PayoutGivenUp, at=at, attempts=self.attempts, reason=reason)
        else:
            retry_at = later(at, policy.backoff(self.attempts - self.base))
            self._record(PayoutRetryScheduled, at=at, retry_at=retry_at, by="system")
        return True

    def retry(self, at: datetime, by: str) -> None:
        """A person sends a given-up instruction again: its tries start over."""
        if self.status != "given_up":
            raise self._refuse("retry", "only a given-up payout is retried by hand")
        self._record(PayoutRetryScheduled, at=at, retry_at=at, by=by)
