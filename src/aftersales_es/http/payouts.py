"""The payout provider's callback: ``POST /payouts/{id}/callback``.

The provider (see :class:`aftersales_es.adapters.providers.WebhookProvider`)
reports an instruction's final outcome here, as JSON
``{"status": "succeeded"|"failed", "reference": "...", "reason": "..."}``,
signed like the instructions it receives: ``X-Aftersales-Signature:
sha256=<HMAC-SHA256 of the body under $AFTERSALES_PAYOUT_SECRET>``. No bearer
token: the signature is the provider's credential. A repeated callback
changes nothing (``recorded: false``); an unknown instruction is 404.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from aftersales_es.adapters.providers import SIGNATURE_HEADER, verify
from aftersales_es.app.payouts import Payouts
from aftersales_es.http.auth import service
from aftersales_es.http.problems import Problem
from aftersales_es.http.service import Service

router = APIRouter()
Svc = Annotated[Service, Depends(service)]


@router.post("/payouts/{payout_id}/callback", tags=["payouts"])
async def callback(payout_id: str, request: Request, svc: Svc) -> Any:
    """A provider's final outcome of a payout instruction (HMAC-signed)."""
    secret = os.environ.get("AFTERSALES_PAYOUT_SECRET", "")
    if not secret:
        raise Problem(
            503,
            "payouts-not-configured",
            "Payout callbacks are not configured",
            "set AFTERSALES_PAYOUT_SECRET for the service",
        )
    body = await request.body()
    if not verify(secret, body, request.headers.get(SIGNATURE_HEADER)):
        raise Problem(
            401, "bad-signature", "Bad signature", f"{SIGNATURE_HEADER} does not sign this body"
        )
    try:
        data = json.loads(body)
    except ValueError:
        raise Problem(422, "invalid-input", "Invalid input", "the body is not JSON") from None
    if not isinstance(data, dict):
        raise Problem(422, "invalid-input", "Invalid input", "the body is not a JSON object")
    payout, recorded = await run_in_threadpool(
        Payouts(svc.app).callback,
        payout_id,
        at=datetime.now(UTC),
        status=str(data.get("status", "")),
        reference=str(data.get("reference", "")),
        reason=str(data.get("reason", "")),
    )
    return {"payout": payout.payout_id, "status": payout.status, "recorded": recorded}
