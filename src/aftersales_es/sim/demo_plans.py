"""The demo day's plans: seeded orders and the commands of their cases.

Every random draw happens here, in a fixed order, so that one seed always
gives the same day; :mod:`.demo` runs the plans and reports on them.
"""

from __future__ import annotations

import random
import struct
import zlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

START = datetime.fromisoformat("2026-03-02T09:00:00+08:00")
NAIROBI = timezone(timedelta(hours=3))
Step = tuple[datetime, str, dict[str, Any]]

KS_PATHS = (
    "refund_ok",
    "refund_silent",
    "express",
    "return_ok",
    "return_never_shipped",
    "return_no_receipt",
    "reject_dispute_buyer",
    "reject_dispute_seller",
    "exchange_ok",
)
KM_PATHS = (
    "km_silent_refund",
    "km_silent_return",
    "km_warehouse_back",
    "km_warehouse_scrap",
    "km_cancel",
    "km_partial_proposal",
    "km_dispute",
)


def _h(n: float) -> timedelta:
    return timedelta(hours=n)


#: The paths whose order was never delivered before the application.
_UNDELIVERED = ("express", "km_cancel", "refund_silent")


def _order(path: str, i: int, rng: random.Random) -> dict[str, Any]:
    """The order a case along ``path`` is applied on."""
    ks = path in KS_PATHS
    paid = START + timedelta(minutes=rng.randrange(0, 600))
    if not ks:  # Kilimall orders are placed in Nairobi time
        paid = paid.astimezone(NAIROBI)
    amount = Decimal(rng.randrange(2000, 90000)) / 100 if ks else Decimal(rng.randrange(800, 40000))
    if path == "express":
        amount = Decimal(rng.randrange(1000, 29999)) / 100
    return {
        "id": f"{'KS' if ks else 'KM'}-{i:05d}",
        "seller": f"{'shop' if ks else 'vendor'}-{rng.randrange(1, 6)}",
        "buyer": f"buyer-{rng.randrange(1, 400)}",
        "platform": "kuaishou" if ks else "kilimall",
        "amount": f"{amount:.2f}",
        "currency": "CNY" if ks else "KES",
        "paid_at": paid,
        "shipped_at": None if path in ("express",) else paid + _h(10),
        "delivered_at": None if path in _UNDELIVERED else paid + _h(60),
        "gs": path.startswith("km_warehouse") or path == "km_cancel",
    }


def _apply(path: str, i: int, order: dict[str, Any], rng: random.Random) -> Step:
    """The buyer's application that opens the case."""
    paid = order["paid_at"]
    at = paid + (_h(2) if path == "express" else _h(72 + rng.randrange(0, 48)))
    if path == "km_cancel":
        at = paid + timedelta(days=30, hours=rng.randrange(1, 20))
    kind = {
        "express": "refund_only",
        "refund_ok": "refund_only",
        "refund_silent": "refund_only",
        "km_silent_refund": "refund_only",
        "km_cancel": "cancel_undelivered",
        "exchange_ok": "exchange",
    }.get(path, "return_refund")
    reason = (
        "quality_issue"
        if path.startswith("km_warehouse") or kind == "exchange"
        else (rng.choice(["changed_mind", "damaged", "not_as_described", "other"]))
    )
    ask = None if kind in ("exchange", "cancel_undelivered") else order["amount"]
    args = {"case": f"C{i:05d}", "order": order["id"], "kind": kind, "amount": ask}
    return (at, "apply", {**args, "reason": reason})


#: The paths whose seller approves a return (or exchange) of the goods.
_RETURNS = (
    "return_ok",
    "return_never_shipped",
    "return_no_receipt",
    "exchange_ok",
    "km_warehouse_back",
    "km_warehouse_scrap",
)


def _follow_ups(path: str, order: dict[str, Any], steps: list[Step], rng: random.Random) -> None:
    """Append the commands after the application, each some hours after the last."""
    c = steps[0][2]["case"]

    def then(hours: float, command: str, **args: Any) -> None:
        steps.append((steps[-1][0] + _h(hours), command, {"case": c, **args}))

    waybill = {
        "carrier": rng.choice(["SF", "YTO", "ZTO", "G4S"]),
        "tracking_number": f"TN{rng.randrange(10**9, 10**10)}",
    }
    if path in ("refund_ok",):
        then(rng.randrange(1, 40), "approve")
    elif path in _RETURNS:
        then(rng.randrange(1, 40), "approve")
        if path != "return_never_shipped":
            then(rng.randrange(6, 200), "ship_back", **waybill)
            if path != "return_no_receipt":
                then(rng.randrange(24, 200), "confirm_receipt")
        if path == "exchange_ok":
            then(30, "ship_replacement", **waybill)
            then(50, "confirm_completion")
        if path == "km_warehouse_back":
            then(24 * rng.randrange(5, 80), "request_goods_back")
    elif path in ("reject_dispute_buyer", "reject_dispute_seller", "km_dispute"):
        # KS-3: a Kuaishou rejection names its category after talking to the buyer.
        why = {"category": "other", "buyer_contacted": True} if path in KS_PATHS else {}
        then(rng.randrange(1, 40), "reject", reason="the item was used", **why)
        then(1, "message", by="buyer", text="It arrived like this; I have a photo.")
        then(rng.randrange(1, 30), "escalate", by="buyer")
        then(2, "submit_evidence", by="buyer", note="photo of the item as it arrived",
             **_photo(c, "as-delivered.png"))  # fmt: skip
        then(18, "submit_evidence", by="seller", note="photos of the parcel")
        then(4, "message", by="platform", text="Both sides' evidence is in; ruling follows.")
        favour = "seller" if path == "reject_dispute_seller" or rng.random() < 0.4 else "buyer"
        reasoning = f"the buyer's photo and the seller's note weighed: for the {favour}"
        then(36, "rule", in_favour_of=favour, evidence="E1,E2", reasoning=reasoning)
    elif path == "km_partial_proposal":
        part = (Decimal(str(order["amount"])) * Decimal("0.4")).quantize(Decimal("1.00"))
        then(rng.randrange(1, 40), "propose", kind="refund_only", amount=str(part))
        then(rng.randrange(1, 30), "accept_proposal")


def _photo(case: str, name: str) -> dict[str, Any]:
    """A small PNG of the case's own (a solid square with the case id in a text
    chunk), as the ``attachments`` and ``files`` of a command."""
    from aftersales_es.app.attachments import bundle

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xa0\x70\x40" * 16 for _ in range(16))
    png = b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0)),
            chunk(b"tEXt", b"Comment\x00case " + case.encode()),
            chunk(b"IDAT", zlib.compress(rows)),
            chunk(b"IEND", b""),
        )
    )
    refs, files = bundle([(name, png)])
    return {"attachments": refs, "files": files}


def plan(path: str, i: int, rng: random.Random) -> tuple[dict[str, Any], list[Step]]:
    """One order and the commands of its case along ``path``."""
    # The draws keep their order (order, application, waybill, follow-ups):
    # reordering them would change the whole seeded day.
    order = _order(path, i, rng)
    steps = [_apply(path, i, order, rng)]
    _follow_ups(path, order, steps, rng)
    return order, steps


def lines_plan(i: int, rng: random.Random) -> tuple[dict[str, Any], list[Step]]:
    """A Kuaishou order with two lines; the buyer returns 1 of the 3
    of line L1 and, on every other order, gets a partial refund on L2."""
    paid = START + timedelta(minutes=rng.randrange(0, 600))
    unit, other = Decimal(rng.randrange(1000, 9000)) / 100, Decimal(rng.randrange(500, 5000)) / 100
    order = {
        "id": f"KS-{i:05d}",
        "seller": f"shop-{rng.randrange(1, 6)}",
        "buyer": f"buyer-{rng.randrange(1, 400)}",
        "platform": "kuaishou",
        "amount": f"{3 * unit + other + 8:.2f}",  # 8.00 shipping
        "currency": "CNY",
        "paid_at": paid,
        "shipped_at": paid + timedelta(hours=10),
        "delivered_at": paid + timedelta(hours=60),
        "lines": [
            {"line": "L1", "sku": "TEE-M", "title": "T-shirt", "quantity": 3,
             "unit_price": f"{unit:.2f}"},
            {"line": "L2", "sku": "CAP-1", "title": "Cap", "quantity": 1,
             "unit_price": f"{other:.2f}"},
        ],
    }  # fmt: skip
    at, c, o = paid + timedelta(hours=80), f"C{i:05d}", order["id"]
    waybill = {"carrier": "SF", "tracking_number": f"TN{rng.randrange(10**9, 10**10)}"}
    steps: list[Step] = [
        (at, "apply", {"case": c, "order": o, "kind": "return_refund", "lines": "L1:1",
                       "reason": "changed_mind"}),
        (at + timedelta(hours=5), "approve", {"case": c}),
        (at + timedelta(hours=30), "ship_back", {"case": c, **waybill}),
        (at + timedelta(hours=90), "confirm_receipt", {"case": c}),
    ]  # fmt: skip
    if i % 2:
        part = f"{other / 2:.2f}"
        c2 = f"C{i:05d}b"
        steps += [
            (at + timedelta(hours=1), "apply", {"case": c2, "order": o, "kind": "refund_only",
             "lines": "L2:1", "amount": part, "reason": "damaged"}),
            (at + timedelta(hours=6), "approve", {"case": c2}),
        ]  # fmt: skip
    return order, steps
