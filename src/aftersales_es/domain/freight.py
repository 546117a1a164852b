"""Freight: who bears the return shipping, and KM-4's send-back to the seller.

The return freight follows the reason and the rule set: a seller-fault
reason (``seller_pays_return_freight_for``) puts it on the seller; the
buyer's own reason on the buyer, unless the buyer claims on a freight
insurance (运费险) the rule set offers (``freight_insurance``), which pays it.
What the seller bears joins the ledger as its own kind, ``return_freight``;
KM-4's send-back of warehouse goods as ``send_back_freight``. Amounts come
from the command (or, for a send-back nobody recorded in time, the rule
set's tariff), never from a clock or a carrier.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersales_es.domain import events as ev
from aftersales_es.domain.case_payments import PaymentSteps
from aftersales_es.domain.deadlines import GOODS_DEADLINES, send_back_deadline
from aftersales_es.domain.money import quantum
from aftersales_es.domain.rules import RuleSet

#: The ledger's freight kinds (reasons of their rows).
RETURN_FREIGHT = "return_freight"
SEND_BACK_FREIGHT = "send_back_freight"
FREIGHT_KINDS = (RETURN_FREIGHT, SEND_BACK_FREIGHT)
PAYERS = ("seller", "buyer", "insurance")


def freight_payer(reason: str, rules: RuleSet, insured: bool) -> tuple[str, str]:
    """Who bears the return freight of a case applied for ``reason``, and the rule."""
    s = rules.settings
    seller = s.seller_pays_return_freight_for
    if reason in seller.value:
        return "seller", seller.rule
    if insured and s.freight_insurance.value:
        return "insurance", s.freight_insurance.rule
    return "buyer", seller.rule


def ship_back_fields(
    steps: PaymentSteps, freight: Decimal | None, insured: bool
) -> tuple[dict[str, Any], str]:
    """The freight fields of ``ShippedBack`` and the rule that decided the payer."""
    if freight is None:
        return {}, ""
    payer, rule = freight_payer(steps.case.reason, steps.ctx.rules, insured)
    return {"freight": freight, "freight_payer": payer}, rule


def charge_return_freight(
    steps: PaymentSteps, at: datetime, fields: dict[str, Any], rule: str
) -> None:
    """The seller's share of the return freight joins the ledger."""
    if fields.get("freight_payer") == "seller" and fields["freight"] > 0:
        steps.deduct(at, RETURN_FREIGHT, fields["freight"], rule=rule, actor="buyer", auto=False)


def request_back(steps: PaymentSteps, at: datetime) -> None:
    """KM-4: the seller asks for the goods; their scrap deadline gives way to
    the warehouse's send-back deadline."""
    case = steps.case
    rest = [d for d in case.deadlines if d["name"] not in GOODS_DEADLINES]
    steps.record(
        ev.GoodsReturnToSellerRequested,
        at=at,
        actor="seller",
        auto=False,
        rule=None,
        state=case.state,
        deadlines=[*rest, send_back_deadline(at, steps.ctx.rules)],
    )


def send_back(
    steps: PaymentSteps,
    at: datetime,
    *,
    actor: str,
    carrier: str = "",
    tracking_number: str = "",
    freight: Decimal | None = None,
) -> None:
    """KM-4: the goods leave the warehouse for the seller, who bears the freight
    (the tariff of the rule set when no amount is given)."""
    case, s = steps.case, steps.ctx.rules.settings
    tariff = s.send_back_freight
    amount = freight if freight is not None else tariff.value.quantize(quantum(case.currency))
    rule = tariff.rule if tariff.rule != "default" else s.goods_scrap_after.rule
    auto = actor == "system"
    rest = [d for d in case.deadlines if d["name"] not in GOODS_DEADLINES]
    steps.record(
        ev.GoodsSentBack,
        at=at,
        actor=actor,
        auto=auto,
        rule=rule,
        state=case.state,
        deadlines=rest,
        carrier=carrier,
        tracking_number=tracking_number,
        freight=amount,
        currency=case.currency,
    )
    if amount > 0:
        steps.deduct(at, SEND_BACK_FREIGHT, amount, rule=rule, actor=actor, auto=auto)
