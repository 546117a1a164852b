"""What each case command takes on the command line, and what every option means.

Written out here rather than read from the pydantic command models, so that
``aftersales --help`` starts without importing them; a test checks that
this table and :data:`aftersales_es.app.commands.COMMANDS` agree field by
field. Validation stays with the models: the CLI passes text through.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS = ("refund_only", "return_refund", "exchange", "repair", "cancel_undelivered")
REASONS = (
    "changed_mind",
    "not_received",
    "other",
    "wrong_item",
    "missing_item",
    "quality_issue",
    "damaged",
    "not_as_described",
)
PARTIES = ("buyer", "seller")
AUTHORS = ("buyer", "seller", "platform")
OUTCOMES = ("refund", "partial_refund", "return_then_refund", "replacement", "repair", "close")
DEDUCTIONS = ("no_reply_arbitration", "undelivered_loss", "return_processing_fee", "ruled_liable")
STATES = (
    "requested",
    "proposed",
    "awaiting_return",
    "returning",
    "received",
    "reshipping",
    "rejected",
    "disputed",
    "refunded",
    "completed",
    "closed",
)


@dataclass(frozen=True)
class Option:
    """One option of a command: ``--name`` for the model field ``field``."""

    field: str
    help: str
    choices: tuple[str, ...] | None = None
    required: bool = False
    flag: bool = False  # a yes/no value: --x / --no-x, or --x true|false
    files: bool = False  # files to attach: --attach FILE, repeatable


@dataclass(frozen=True)
class CommandSpec:
    """A case command: who sends it, what it does, its options, an example."""

    help: str
    options: tuple[Option, ...] = ()
    example: str = ""


_WAYBILL = (
    Option("carrier", "the carrier's name, like YTO or DHL"),
    Option("tracking_number", "the waybill (tracking) number"),
)
_BY = Option("by", "who sends it", PARTIES)
_ATTACH = Option(
    "attachments",
    "a file to attach (a photo, video or PDF; repeat for more); its type is read from its bytes",
    files=True,
)

COMMANDS: dict[str, CommandSpec] = {
    "apply": CommandSpec(
        "buyer: apply for after-sales on an order (opens the case)",
        (
            Option("order", "the order the case is about", required=True),
            Option("kind", "what the buyer asks for", KINDS, required=True),
            Option("amount", "refund asked, a plain decimal like 89.90 (default: the order)"),
            Option(
                "reason",
                "why (default: other): an id of the rule set's reason catalogue"
                f" ('rules show'; shipped: {', '.join(REASONS)}); some need a photo",
            ),
            Option("lines", "order lines and quantities, LINE:QTY,... like L1:2,L3:1"),
            Option("note", "the buyer's description, posted with the attachments as a message"),
            _ATTACH,
        ),
        "apply C1 --order O1 --kind return_refund --reason quality_issue "
        "--at 2026-05-14T10:00:00+08:00",
    ),
    "approve": CommandSpec(
        "seller: approve as asked (a refund-only case refunds at once)",
        (
            Option(
                "return_address",
                "where the goods go back (KS-5; default: the seller's address on the order)",
            ),
        ),
        "approve C1 --at 2026-05-14T18:00:00+08:00",
    ),
    "propose": CommandSpec(
        "seller: propose another plan; the buyer must accept it (KM-6, KM-7)",
        (
            Option("kind", "the plan proposed", KINDS[:4], required=True),
            Option("amount", "refund in the plan (0 for exchange or repair)"),
            Option("offline", "exchange or repair settled offline (KS-7)", flag=True),
        ),
        "propose C1 --kind refund_only --amount 40.00 --at 2026-05-14T18:00:00+08:00",
    ),
    "accept_proposal": CommandSpec(
        "buyer: accept the proposed plan",
        example="accept_proposal C1 --at 2026-05-15T09:00:00+08:00",
    ),
    "decline_proposal": CommandSpec(
        "buyer: decline the proposal; the case is back with the seller",
        example="decline_proposal C1 --at 2026-05-15T09:00:00+08:00",
    ),
    "reject": CommandSpec(
        "seller: reject, giving a reason, its category and the buyer contact (KS-3)",
        (
            Option("reason", "why, in words the buyer will read"),
            Option("category", "why, as one of the rule set's rejection categories"),
            Option("buyer_contacted", "the seller talked to the buyer first (KS-3)", flag=True),
        ),
        'reject C1 --reason "used, not as sold" --category other --buyer-contacted '
        "--at 2026-05-14T18:00:00+08:00",
    ),
    "ship_back": CommandSpec(
        "buyer: ship the goods back and give the waybill (KS-5), and the freight paid",
        (
            *_WAYBILL,
            Option("return_address", "the address shipped to; must be the approved one (KS-5)"),
            Option("freight", "return freight paid; the seller bears it for seller-fault reasons"),
            Option("freight_insured", "a freight insurance (运费险) claim pays it", flag=True),
        ),
        "ship_back C1 --carrier YTO --tracking-number YT8812345678 --at 2026-05-16T11:00:00+08:00",
    ),
    "confirm_receipt": CommandSpec(
        "seller (or the platform at its warehouse, KM-3): confirm the goods came back",
        (Option("by", "who received them", ("seller", "platform")),),
        "confirm_receipt C1 --at 2026-05-19T09:30:00+08:00",
    ),
    "ship_replacement": CommandSpec(
        "seller: send the replacement or repaired item",
        _WAYBILL,
        "ship_replacement C1 --carrier SF --tracking-number SF100200 "
        "--at 2026-05-20T10:00:00+08:00",
    ),
    "confirm_completion": CommandSpec(
        "buyer: the exchange or repair is done",
        example="confirm_completion C1 --at 2026-05-23T10:00:00+08:00",
    ),
    "escalate": CommandSpec(
        "buyer or seller: ask the platform to arbitrate (KS-8)",
        (_BY,),
        "escalate C1 --by buyer --at 2026-05-15T10:00:00+08:00",
    ),
    "submit_evidence": CommandSpec(
        "buyer or seller: evidence for the platform, within its window (KS-8)",
        (_BY, Option("note", "the evidence, in words"), _ATTACH),
        'submit_evidence C1 --by buyer --note "the crack" --attach crack.jpg '
        "--at 2026-05-15T12:00:00+08:00",
    ),
    "rule": CommandSpec(
        "platform: rule on a dispute; final (KS-8, KM-8)",
        (
            Option("in_favour_of", "the winner: buyer (refund) or seller (close)", PARTIES, True),
            Option(
                "outcome",
                "what it orders (KM-8; default: refund for the buyer, close for the seller)",
                OUTCOMES,
            ),
            Option("refund_amount", "refund for the buyer (default: the amount asked)"),
            Option(
                "seller_liable",
                "for the buyer: is the seller charged the refund (ruled_liable; default true)",
                flag=True,
            ),
            Option("evidence", "the evidence items considered, E1,E3 ('evidence CASE' lists them)"),
            Option("reasoning", "why the platform rules so, recorded with the ruling"),
        ),
        "rule C1 --in-favour-of buyer --outcome return_then_refund --at 2026-05-18T10:00:00+08:00",
    ),
    "withdraw": CommandSpec(
        "buyer: withdraw the application (closes the case)",
        example="withdraw C1 --at 2026-05-15T10:00:00+08:00",
    ),
    "request_goods_back": CommandSpec(
        "seller: ask for warehouse-held goods back, paying the freight (KM-4)",
        example="request_goods_back C1 --at 2026-06-01T10:00:00+03:00",
    ),
    "send_goods_back": CommandSpec(
        "platform: the warehouse sends goods asked back to the seller, who pays the freight (KM-4)",
        (*_WAYBILL, Option("freight", "the freight charged to the seller (default: the tariff)")),
        "send_goods_back C1 --carrier DHL --tracking-number DH1 --freight 1500.00 "
        "--at 2026-06-02T10:00:00+03:00",
    ),
    "waive_deduction": CommandSpec(
        "platform: waive a deduction whose cause was not the seller's (KM-1)",
        (
            Option("deduction", "which deduction", DEDUCTIONS, required=True),
            Option("note", "why, for the record"),
        ),
        "waive_deduction C1 --deduction undelivered_loss --note courier lost it "
        "--at 2026-06-01T10:00:00+03:00",
    ),
    "message": CommandSpec(
        "buyer, seller or platform: write to the case, with files; never changes its state",
        (
            Option("by", "who writes", AUTHORS, required=True),
            Option("text", "the message"),
            _ATTACH,
        ),
        'message C1 --by buyer --text "the lid is cracked" --attach lid.jpg '
        "--at 2026-05-14T11:00:00+08:00",
    ),
    "propose_partial_refund": CommandSpec(
        "seller: receive the returned goods and offer a partial refund (KM-6, KM-7)",
        (
            Option("amount", "the refund offered, below the amount asked", required=True),
            Option("reason", "why, in words the buyer will read (what the inspection found)"),
        ),
        'propose_partial_refund C1 --amount 60.00 --reason "scratched case" '
        "--at 2026-05-19T09:30:00+08:00",
    ),
    "accept_partial_refund": CommandSpec(
        "buyer: accept the seller's partial refund (it is refunded)",
        example="accept_partial_refund C1 --at 2026-05-20T09:00:00+08:00",
    ),
}

#: Terms and rule ids a newcomer meets in tables and refusals.
GLOSSARY: tuple[tuple[str, str], ...] = (
    ("KS-1 .. KS-10", "Kuaishou shop rules (48 h to answer, 10 days to ship back, ...)"),
    ("KM-1 .. KM-8", "Kilimall rules (30-day undelivered cancel, warehouse returns, ...)"),
    ("INV-cap", "refunds on an order never exceed what was paid"),
    ("INV-open", "an order has at most one open case"),
    ("INV-line-cap / INV-line-qty", "a line's refunds and quantities stay within the line"),
    ("INV-line-open", "one open case per order line; a whole-order case blocks all lines"),
    ("statechart", "the command is not allowed from the case's state (see show CASE)"),
    ("gs", "a Kilimall global-selling order, shipped from an overseas warehouse"),
    ("ruled_liable", "a deduction: the platform ruled for the buyer and charged the seller"),
    ("no_reply_arbitration", "a deduction: the seller never answered (KM-5)"),
    ("undelivered_loss", "a deduction: an undelivered GS order was cancelled (KM-1)"),
    ("deadline", "what the system does by itself if nobody acts in time (auto_approve, ...)"),
    ("basis", "documented (the platform says so), assumption, example, disabled, override"),
)
