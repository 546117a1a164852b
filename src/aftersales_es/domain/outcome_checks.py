"""The checks of richer outcomes, made before anything is recorded: a seller's
partial-refund offer on returned goods (KM-6, KM-7), the finality of a ruling
(KS-8, KM-8) and the return address goods are shipped to (KS-5).

Like :mod:`.case_checks`, each function returns or refuses, naming the case,
its state, the command and the rule; none records anything.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aftersales_es.domain.case_checks import check_cap, refuse
from aftersales_es.domain.case_view import Case
from aftersales_es.domain.errors import NotAllowedError, TransitionNotAllowedError
from aftersales_es.domain.money import fmt
from aftersales_es.domain.order import Order
from aftersales_es.domain.rules import RuleSet

#: The rule a partial refund's amount is checked under: KM-6 lists "full or
#: partial refund amounts" among the seller's options.
OFFER_RULE = "KM-6"


def check_not_ruled(case: Case, rules: RuleSet, command: str) -> None:
    """KS-8, KM-8: a ruled case is not heard again, nor its outcome bargained
    down; the seller carries it out (when the rule set makes rulings final)."""
    final = rules.settings.ruling_final
    if final.value and case.ruling is not None:
        why = "the platform has ruled on this case; its outcome is final"
        refuse(case, NotAllowedError, command, final.rule, why)


def check_offer(
    case: Case, order: Order, rules: RuleSet, amount: Decimal, reason: str, warehouse: bool
) -> None:
    """A partial refund the seller may offer: on goods it received itself, for a
    reason, above zero and below the amount asked, within the refund caps."""
    command = "propose_partial_refund"
    check_not_ruled(case, rules, command)
    if warehouse:
        why = "the goods go to the platform's overseas warehouse: the seller cannot inspect them"
        refuse(case, NotAllowedError, command, rules.settings.warehouse_returns.rule, why)
    if not reason.strip():
        refuse(case, NotAllowedError, command, OFFER_RULE, "a partial refund says why (reason)")
    if not 0 < amount < case.amount:
        why = f"a partial refund is above 0 and below the {fmt(case.amount)} asked"
        refuse(case, NotAllowedError, command, OFFER_RULE, why)
    check_cap(case, order, command, amount)


def check_offered(case: Case) -> dict[str, Any]:
    """KM-7: the offer the buyer consents to, or a refusal: nothing offered."""
    if case.offer is None:
        refuse(case, TransitionNotAllowedError, "accept_partial_refund", "KM-7", "nothing offered")
    return case.offer


def check_return_address(case: Case, given: str | None, rule: str) -> str:
    """KS-5: the goods go to the return address the approval recorded. Shipping
    them elsewhere is refused; with none recorded, the buyer's word is kept."""
    approved = case.return_address
    if given is None or not given.strip():
        return approved
    if approved and _plain(given) != _plain(approved):
        why = f"the goods go back to the approved return address ({approved})"
        refuse(case, NotAllowedError, "ship_back", rule, why)
    return approved or given.strip()


def _plain(text: str) -> str:
    """An address as compared: case and spacing do not matter."""
    return " ".join(text.split()).casefold()


def check_approval_address(case: Case, dest: str, given: str | None) -> None:
    """KS-5: a return address is given only where goods go back."""
    if given is not None and given.strip() and dest != "awaiting_return":
        why = f"no goods go back on a {case.kind} case approved to {dest}: no return address"
        refuse(case, NotAllowedError, "approve", "KS-5", why)
