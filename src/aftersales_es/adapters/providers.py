"""Payment providers refunds are paid through, behind one small interface.

Each adapter has a ``name``, the ``currencies`` it pays (None: any) and
``send(instruction) -> Answer`` (:class:`aftersales_es.app.ports.PayoutProvider`).
``send`` gets the same instruction id, the idempotency key, however often an
instruction is sent, and answers rather than raises: ``paid``, ``accepted``
(the outcome comes later), ``declined`` (not tried again) or ``unavailable``
(timeouts, 5xx: tried again after a backoff).

- :class:`ManualProvider`: a person pays and records the outcome
  (``aftersales payouts confirm ID --reference ...`` or ``fail``).
- :class:`WebhookProvider`: POSTs the instruction as JSON to a URL with an
  ``Idempotency-Key`` header and an HMAC-SHA256 signature of the body
  (``X-Aftersales-Signature: sha256=<hex>``); 2xx is accepted, the outcome
  arrives by callback (``aftersales payouts callback`` or
  ``POST /payouts/{id}/callback``, signed the same way).
- :class:`FakeProvider`: in memory, for tests and the demo, with injectable
  faults (timeouts, 500s, refusals, lost answers) and duplicate callbacks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from aftersales_es.domain.errors import InvalidInputError
from aftersales_es.domain.payout import Answer, Instruction

SIGNATURE_HEADER = "X-Aftersales-Signature"
KINDS = ("manual", "webhook", "fake")


def sign(secret: str, body: bytes) -> str:
    """The signature header value of ``body``: ``sha256=<hex HMAC>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` is ``body``'s under ``secret`` (constant time)."""
    return signature is not None and hmac.compare_digest(sign(secret, body), signature)


def instruction_json(instruction: Instruction) -> bytes:
    """The instruction as the webhook body: compact JSON, amounts as text."""
    data = {k: str(v) if k == "amount" else v for k, v in asdict(instruction).items()}
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


class ManualProvider:
    """A person pays: every instruction is accepted and waits for their record."""

    name = "manual"

    def __init__(self, currencies: frozenset[str] | None = None) -> None:
        self.currencies = currencies

    def send(self, instruction: Instruction) -> Answer:
        return Answer("accepted")


class WebhookProvider:
    """POSTs instructions to ``url``, signed with ``secret``; 2xx is accepted."""

    name = "webhook"

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 5.0,
        currencies: frozenset[str] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInputError(f"payout webhook url {url!r}: use http:// or https://")
        if not secret:
            raise InvalidInputError("payout webhook: a signing secret is required")
        self.url, self.secret, self.timeout, self.currencies = url, secret, timeout, currencies

    def send(self, instruction: Instruction) -> Answer:
        body = instruction_json(instruction)
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": instruction.payout_id,
                SIGNATURE_HEADER: sign(self.secret, body),
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                text = response.read(4096)
        except urllib.error.HTTPError as exc:
            why = f"HTTP {exc.code} from {self.url}"
            return Answer("unavailable" if exc.code >= 500 or exc.code == 429 else "declined",
                          reason=why)  # fmt: skip
        except (TimeoutError, urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            return Answer("unavailable", reason=f"no answer from {self.url}: {reason}")
        return Answer("accepted", reference=_reference(text))


def _reference(text: bytes) -> str:
    try:
        data = json.loads(text or b"{}")
    except ValueError:
        return ""
    return str(data.get("reference", "")) if isinstance(data, dict) else ""


class FakeProvider:
    """An in-memory provider that pays each key once.

    ``faults`` are consumed one per send: ``timeout`` and ``500`` (unavailable,
    nothing paid), ``lost`` (paid, but the answer is lost: unavailable),
    ``decline`` (refused for good). ``asynchronous``: sends are accepted and
    the outcome is delivered by :meth:`deliver` as callbacks (twice each with
    ``duplicate_callbacks``).
    """

    name = "fake"

    def __init__(
        self,
        *,
        faults: list[str] | None = None,
        currencies: frozenset[str] | None = None,
        asynchronous: bool = False,
        duplicate_callbacks: bool = False,
    ) -> None:
        self.faults = list(faults or [])
        self.currencies = currencies
        self.asynchronous = asynchronous
        self.duplicate_callbacks = duplicate_callbacks
        self.paid: dict[str, Instruction] = {}  # idempotency key -> what was paid
        self.references: dict[str, str] = {}
        self.calls: list[str] = []
        self.outbox: list[tuple[str, str]] = []  # callbacks to deliver: (key, reference)

    def send(self, instruction: Instruction) -> Answer:
        key = instruction.payout_id
        self.calls.append(key)
        fault = self.faults.pop(0) if self.faults else ""
        if fault in ("timeout", "500"):
            why = "timed out after 5s" if fault == "timeout" else "HTTP 500 from the provider"
            return Answer("unavailable", reason=why)
        if fault == "decline":
            return Answer("declined", reason="the provider declined: account closed")
        if key not in self.paid:  # a key is paid once, however often it is sent
            self.paid[key] = instruction
            self.references[key] = f"fake-{len(self.paid):05d}"
        reference = self.references[key]
        if fault == "lost":
            return Answer("unavailable", reason="connection reset after the request was sent")
        if self.asynchronous:
            self.outbox += [(key, reference)] * (2 if self.duplicate_callbacks else 1)
            return Answer("accepted", reference=reference)
        return Answer("paid", reference=reference)

    def deliver(self) -> list[tuple[str, str]]:
        """The callbacks due (key, reference), emptied: the caller delivers them."""
        out, self.outbox = self.outbox, []
        return out


def provider_from_env(env: Mapping[str, str] | None = None) -> Any:
    """The provider ``$AFTERSALES_PAYOUT_PROVIDER`` names (default ``manual``),
    configured by ``$AFTERSALES_PAYOUT_URL``, ``$AFTERSALES_PAYOUT_SECRET``,
    ``$AFTERSALES_PAYOUT_TIMEOUT`` and ``$AFTERSALES_PAYOUT_CURRENCIES`` (comma-separated)."""
    env = os.environ if env is None else env
    kind = env.get("AFTERSALES_PAYOUT_PROVIDER", "manual") or "manual"
    listed = [c.strip() for c in env.get("AFTERSALES_PAYOUT_CURRENCIES", "").split(",")]
    currencies = frozenset(c for c in listed if c) or None
    if kind == "manual":
        return ManualProvider(currencies)
    if kind == "fake":
        return FakeProvider(currencies=currencies)
    if kind == "webhook":
        timeout = float(env.get("AFTERSALES_PAYOUT_TIMEOUT", "5") or 5)
        return WebhookProvider(
            env.get("AFTERSALES_PAYOUT_URL", ""),
            env.get("AFTERSALES_PAYOUT_SECRET", ""),
            timeout=timeout,
            currencies=currencies,
        )
    raise InvalidInputError(
        f"AFTERSALES_PAYOUT_PROVIDER={kind!r}: unknown provider; use one of {', '.join(KINDS)}"
    )
