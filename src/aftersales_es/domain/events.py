"""The case's events: names and fields are public contract (SPEC §3).

Every event carries ``at``, ``actor`` (buyer, seller, platform or system),
``auto`` and ``rule`` (set when a deadline or rule caused it), the case
``state`` after it and the case's pending ``deadlines`` after it. Storing the
outcome, not only the input, means a later change of the statechart or of a
rule file can never rewrite history. ``apply`` only assigns fields.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersales_es.domain.base import TimedCreated
from aftersales_es.domain.case_event import CaseEvent
from aftersales_es.domain.case_view import Case
from aftersales_es.domain.ledger_events import DeductionRecorded, DeductionWaived, PointsDeducted
from aftersales_es.domain.message_events import MessagePosted, add_evidence
from aftersales_es.domain.offer_events import PartialRefundAccepted, PartialRefundProposed

__all__ = [
    "EVENT_TYPES",
    "Applied",
    "Approved",
    "Arbitrated",
    "CaseEvent",
    "Closed",
    "Completed",
    "DeductionRecorded",
    "DeductionWaived",
    "Escalated",
    "EvidenceSubmitted",
    "GoodsReturnToSellerRequested",
    "GoodsScrapped",
    "GoodsSentBack",
    "MessagePosted",
    "PartialRefundAccepted",
    "PartialRefundProposed",
    "PointsDeducted",
    "ProposalAccepted",
    "ProposalDeclined",
    "ProposalLapsed",
    "Proposed",
    "Received",
    "Refunded",
    "Rejected",
    "ReplacementShipped",
    "ShippedBack",
    "Withdrawn",
]


class Applied(CaseEvent, TimedCreated):
    case_id: str
    order_id: str
    seller_id: str
    buyer_id: str
    platform: str
    ruleset: dict[str, Any]
    kind: str
    amount: Decimal
    currency: str
    reason: str
    #: Version 2: the order lines the case covers, [{line, quantity}];
    #: empty covers the whole order. v1 events are upcast to ().
    lines: tuple[dict[str, Any], ...] = ()

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A v1 application always covered the whole order."""
        state["lines"] = ()


class Approved(CaseEvent):
    return_address: str = ""  # KS-5: where goods go back ("" none, or stored before)

    def record(self, case: Case) -> None:
        case.return_address = self.return_address or case.return_address


class Proposed(CaseEvent):
    kind: str
    amount: Decimal
    offline: bool

    def record(self, case: Case) -> None:
        case.proposal = {"kind": self.kind, "amount": self.amount, "offline": self.offline}


class ProposalAccepted(CaseEvent):
    kind: str
    amount: Decimal
    return_address: str = ""  # KS-5, as on Approved

    def record(self, case: Case) -> None:
        case.return_address = self.return_address or case.return_address
        case.kind = self.kind
        case.amount = self.amount
        case.proposal = None


class ProposalDeclined(CaseEvent):
    def record(self, case: Case) -> None:
        case.proposal = None


class ProposalLapsed(CaseEvent):
    """Nobody answered the proposal in time: back to the seller's review."""

    def record(self, case: Case) -> None:
        case.proposal = None


class Rejected(CaseEvent):
    """The seller rejected (KS-3).

    Version 2 added ``category``, which classifies the rejection
    for reports; ``reason`` stays the seller's own words. Events stored before
    the change have no ``category`` and are upcast on load, so old histories
    still replay.
    """

    reason: str
    category: str = "unspecified"
    #: Version 3: whether the seller says it talked to the buyer first (KS-3).
    buyer_contacted: bool = False

    class_version = 3

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A v1 rejection never recorded a category: it is ``unspecified``."""
        state["category"] = "unspecified"

    @staticmethod
    def upcast_v2_v3(state: dict[str, Any]) -> None:
        """A v2 rejection never said the buyer was contacted."""
        state["buyer_contacted"] = False

    def record(self, case: Case) -> None:
        case.rejection_reason = self.reason


class ShippedBack(CaseEvent):
    carrier: str
    tracking_number: str
    return_address: str = ""  # KS-5: where they were shipped ("" none given)
    #: The return freight and who bears it (seller, buyer, insurance); events
    #: stored before freight was recorded have none.
    freight: Decimal | None = None
    freight_payer: str = ""

    def record(self, case: Case) -> None:
        case.waybill = {"carrier": self.carrier, "tracking_number": self.tracking_number}


class Received(CaseEvent):
    to_warehouse: bool

    def record(self, case: Case) -> None:
        if self.to_warehouse:
            case.goods = "held"


class Refunded(CaseEvent):
    """The buyer is refunded ``amount``.

    Version 2 adds ``fee``, the buyer-side return fee kept from the
    refund (``amount + fee`` is what was asked), and ``lines``, the refund's
    allocation over the case's order lines ([{line, quantity, amount, fee}]).
    v1 events are upcast to no fee and no lines.
    """

    amount: Decimal
    refunded_total: Decimal
    fee: Decimal = Decimal(0)
    lines: tuple[dict[str, Any], ...] = ()

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A v1 refund kept no fee and covered the whole order."""
        state["fee"] = state["amount"] - state["amount"]
        state["lines"] = ()

    def record(self, case: Case) -> None:
        case.refunded_total = self.refunded_total
        case.fee_total = case.fee_total + self.fee


class ReplacementShipped(CaseEvent):
    carrier: str
    tracking_number: str

    def record(self, case: Case) -> None:
        case.replacement_waybill = {
            "carrier": self.carrier,
            "tracking_number": self.tracking_number,
        }


class Completed(CaseEvent):
    pass


class Escalated(CaseEvent):
    """A party (or the system) took the case to the platform (KS-8, KM-5).

    Version 2 adds ``source``, the state the case was escalated from, which
    says where the goods are when a dispute is settled without a ruling.
    v1 events are upcast to ``""`` (unknown).
    """

    by: str
    evidence_due: datetime
    source: str = ""

    class_version = 2

    @staticmethod
    def upcast_v1_v2(state: dict[str, Any]) -> None:
        """A v1 escalation did not record where it came from."""
        state["source"] = ""

    def record(self, case: Case) -> None:
        case.escalated_by = self.by
        case.evidence_due = self.evidence_due
        case.escalated_from = self.source


class EvidenceSubmitted(CaseEvent):
    """Evidence for the platform (KS-8): a note and, since attachments, files."""

    by: str
    note: str
    attachments: tuple[dict[str, Any], ...] = ()

    def record(self, case: Case) -> None:
        case.evidence_count += 1
        add_evidence(case, self, "evidence", self.note)


class Arbitrated(CaseEvent):
    """The platform's ruling (KS-8, KM-8): its ``outcome`` ("" if stored before
    outcomes), the ``kind`` a remedy puts in force ("" none), the refund ordered;
    the ``evidence`` items it considered and its ``reasoning`` (older rulings
    considered nothing recorded)."""

    in_favour_of: str
    refund_amount: Decimal
    seller_liable: bool
    evidence: tuple[str, ...] = ()
    reasoning: str = ""
    outcome: str = ""
    kind: str = ""
    return_address: str = ""  # KS-5, as on Approved

    def record(self, case: Case) -> None:
        case.ruling = {
            "in_favour_of": self.in_favour_of,
            "refund_amount": self.refund_amount,
            "seller_liable": self.seller_liable,
            **({"evidence": list(self.evidence)} if self.evidence else {}),
            **({"reasoning": self.reasoning} if self.reasoning else {}),
            **({"outcome": self.outcome} if self.outcome else {}),
        }
        if self.kind:
            case.kind, case.amount = self.kind, self.refund_amount
        case.return_address = self.return_address or case.return_address


class Withdrawn(CaseEvent):
    pass


class Closed(CaseEvent):
    reason: str

    def record(self, case: Case) -> None:
        case.closed_reason = self.reason


class GoodsReturnToSellerRequested(CaseEvent):
    def record(self, case: Case) -> None:
        case.goods = "requested_back"


class GoodsScrapped(CaseEvent):
    def record(self, case: Case) -> None:
        case.goods = "scrapped"


class GoodsSentBack(CaseEvent):
    """KM-4: the warehouse sent the goods back to the seller, at the seller's freight."""

    carrier: str
    tracking_number: str
    freight: Decimal
    currency: str

    def record(self, case: Case) -> None:
        case.goods = "sent_back"


EVENT_TYPES: dict[str, type[CaseEvent]] = {
    cls.__name__: cls
    for cls in (
        Applied,
        Approved,
        Proposed,
        ProposalAccepted,
        ProposalDeclined,
        ProposalLapsed,
        Rejected,
        ShippedBack,
        Received,
        Refunded,
        ReplacementShipped,
        Completed,
        Escalated,
        EvidenceSubmitted,
        Arbitrated,
        Withdrawn,
        Closed,
        DeductionRecorded,
        DeductionWaived,
        PointsDeducted,
        GoodsReturnToSellerRequested,
        GoodsScrapped,
        MessagePosted,
        PartialRefundProposed,
        PartialRefundAccepted,
        GoodsSentBack,
    )
}
