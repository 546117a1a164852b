"""KS-5's return address: the approval records where the goods go back (given
on approval, else the seller's address registered with the order), and
``ship_back`` refers to it; shipping elsewhere is refused. Given -> when ->
then on the aggregates (``Desk``).
"""

from __future__ import annotations

from datetime import timedelta

from aftersales_es.domain.errors import NotAllowedError
from aftersales_es.domain.events import Approved, Arbitrated, ProposalAccepted, ShippedBack

from .desk import Desk
from .helpers import order, refused, t

APPLIED = t(days=3)
H = timedelta(hours=1)
D = timedelta(days=1)
BILL = {"carrier": "SF", "tracking_number": "SF1"}
PROFILE = "Returns desk, 8 Keji Rd, Shenzhen 518057"
DOCK = "Dock 4, 12 Huangpu Ave, Guangzhou 510000"


def applied(desk: Desk, kind: str = "return_refund", **facts: str) -> None:
    order(desk, return_address=PROFILE, **facts)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind=kind)


def event(desk: Desk, cls: type) -> object:
    return next(e for e in desk.case_events("C1") if isinstance(e, cls))


def test_approval_records_the_address_given_and_ship_back_refers_to_it_ks5(desk: Desk) -> None:
    applied(desk)
    case = desk.execute("approve", case="C1", at=APPLIED + H, return_address=DOCK)
    assert case.return_address == DOCK
    approved = event(desk, Approved)
    assert isinstance(approved, Approved) and approved.return_address == DOCK
    desk.execute("ship_back", case="C1", at=APPLIED + 2 * H, **BILL)
    shipped = event(desk, ShippedBack)
    assert isinstance(shipped, ShippedBack) and shipped.return_address == DOCK


def test_approval_without_an_address_takes_the_sellers_registered_one_ks5(desk: Desk) -> None:
    applied(desk)
    case = desk.execute("approve", case="C1", at=APPLIED + H)
    assert case.return_address == PROFILE


def test_ship_back_to_another_address_refused_ks5(desk: Desk) -> None:
    applied(desk)
    desk.execute("approve", case="C1", at=APPLIED + H, return_address=DOCK)
    with refused(desk, NotAllowedError, "KS-5", DOCK):
        desk.execute("ship_back", case="C1", at=APPLIED + 2 * H, return_address=PROFILE, **BILL)
    # the same address, written with other case and spacing, is the same address
    desk.execute("ship_back", case="C1", at=APPLIED + 2 * H, **BILL,
                 return_address="  dock 4,  12 huangpu ave, GUANGZHOU 510000")  # fmt: skip
    shipped = event(desk, ShippedBack)
    assert isinstance(shipped, ShippedBack) and shipped.return_address == DOCK


def test_without_any_address_the_buyers_is_recorded_ks5(desk: Desk) -> None:
    order(desk)
    desk.execute("apply", case="C1", order="O1", at=APPLIED, kind="return_refund")
    case = desk.execute("approve", case="C1", at=APPLIED + H)
    assert case.return_address == ""
    desk.execute("ship_back", case="C1", at=APPLIED + 2 * H, return_address=DOCK, **BILL)
    shipped = event(desk, ShippedBack)
    assert isinstance(shipped, ShippedBack) and shipped.return_address == DOCK


def test_an_address_on_a_refund_only_approval_refused_ks5(desk: Desk) -> None:
    applied(desk, kind="refund_only")
    with refused(desk, NotAllowedError, "KS-5", "no goods go back"):
        desk.execute("approve", case="C1", at=APPLIED + H, return_address=DOCK)


def test_silent_seller_approval_takes_the_registered_address_ks4_ks5(desk: Desk) -> None:
    applied(desk)
    desk.fire_due(APPLIED + 2 * D)
    case = desk.get_case("C1")
    approved = event(desk, Approved)
    assert case.state == "awaiting_return"
    assert isinstance(approved, Approved) and (approved.auto, approved.return_address) == (
        True, PROFILE,
    )  # fmt: skip


def test_accepted_return_plan_takes_the_registered_address_km7_ks5(desk: Desk) -> None:
    applied(desk, kind="refund_only")
    desk.execute("propose", case="C1", at=APPLIED + H, kind="return_refund", amount="120.00")
    case = desk.execute("accept_proposal", case="C1", at=APPLIED + 2 * H)
    accepted = event(desk, ProposalAccepted)
    assert case.state == "awaiting_return" and case.return_address == PROFILE
    assert isinstance(accepted, ProposalAccepted) and accepted.return_address == PROFILE


def test_ruling_the_goods_back_records_the_return_address_ks5_ks8(desk: Desk) -> None:
    applied(desk, kind="refund_only")
    desk.execute("escalate", case="C1", at=APPLIED + H, by="buyer")
    desk.execute("rule", case="C1", at=APPLIED + D, in_favour_of="buyer",
                 outcome="return_then_refund")  # fmt: skip
    ruled = event(desk, Arbitrated)
    assert isinstance(ruled, Arbitrated) and ruled.return_address == PROFILE


def test_kilimall_arbitration_by_the_buyers_plan_takes_the_registered_address_km5(
    desk: Desk,
) -> None:
    applied(desk, platform="kilimall", amount="4200.00", currency="KES")
    desk.fire_due(APPLIED + 3 * D)
    case = desk.get_case("C1")
    assert (case.state, case.return_address) == ("awaiting_return", PROFILE)
