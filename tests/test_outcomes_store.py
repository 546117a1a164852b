"""Richer outcomes on the real stores (SQLite and PostgreSQL): the read models
and the audit follow a ruling that changes the case's kind (KM-8), a partial
refund offer (KM-7) and the return address (KS-5); the ledger re-derives to
the cent."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from aftersales_es.audit.check import audit
from aftersales_es.engine import AfterSales
from aftersales_es.readmodels.ledger import from_events

from .helpers import order, t

APPLIED = t(days=3)
H = timedelta(hours=1)
BILL = {"carrier": "SF", "tracking_number": "SF1"}
PROFILE = "Returns desk, 8 Keji Rd, Shenzhen 518057"


def test_ruled_return_and_accepted_offer_audit_clean_km8_km7_ks5(app: AfterSales) -> None:
    # given: C1, a refund-only case ruled return-then-refund (it becomes a return)
    order(app, "O1", return_address=PROFILE)
    app.execute("apply", case="C1", order="O1", at=APPLIED, kind="refund_only", amount="80.00")
    app.execute("escalate", case="C1", at=APPLIED + H, by="buyer")
    app.execute("rule", case="C1", at=APPLIED + 2 * H, in_favour_of="buyer",
                outcome="return_then_refund")  # fmt: skip
    app.execute("ship_back", case="C1", at=APPLIED + 3 * H, **BILL)
    app.execute("confirm_receipt", case="C1", at=APPLIED + 4 * H)
    # and: C2, a return whose seller offered a partial refund the buyer accepted
    order(app, "O2")
    app.execute("apply", case="C2", order="O2", at=APPLIED, kind="return_refund")
    app.execute("approve", case="C2", at=APPLIED + H, return_address="Dock 4, Guangzhou")
    app.execute("ship_back", case="C2", at=APPLIED + 2 * H, **BILL)
    app.execute("propose_partial_refund", case="C2", at=APPLIED + 3 * H, amount="45.50",
                reason="scratched")  # fmt: skip
    app.execute("accept_partial_refund", case="C2", at=APPLIED + 4 * H)
    # then: the case list shows the kind the ruling put in force
    rows = {r["case_id"]: r for r in app.cases()}
    assert (rows["C1"]["kind"], rows["C1"]["state"]) == ("return_refund", "refunded")
    assert rows["C2"]["refunded_total"] == "45.50"
    # and: the ledger re-derives from the events; the audit finds nothing
    ledger = [(r["reason"], r["amount"]) for r in from_events(app.case_events("C1"), "C1")]
    assert ledger == [("ruled_liable", Decimal("80.00"))]
    assert audit(app).mismatches == []
    assert app.get_order("O2").refunded_total == Decimal("45.50")
