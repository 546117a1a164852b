"""Store-wide heads: a small document that commits to every aggregate's chain.

``verify --anchor`` prints the log position P it was taken at, the number of
aggregates and events up to P, and ``root``: sha256 over each aggregate's
chain head (uuid, version, digest) in uuid order. ``verify --against`` later
recomputes the same root *as of P* (each aggregate's head at its last event
stored at or before P) from the stored events, so deleting a whole
aggregate, cutting a tail, or rewriting any event written before P shows up
however the digest rows were edited. With ``--heads`` the document also
lists the per-aggregate heads, so a difference is named. Set
``AFTERSALES_ANCHOR_KEY`` to sign anchors (HMAC-SHA256) and to check the
signature of the ones given to ``--against``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import TYPE_CHECKING, Any
from uuid import UUID

from aftersales_es.audit.chain import Finding, Verified, chain_meta, verify
from aftersales_es.domain.errors import InvalidInputError

if TYPE_CHECKING:
    from aftersales_es.engine import AfterSales

SCHEMA = "aftersales-chain-anchor"
VERSION = 2
KEY_ENV = "AFTERSALES_ANCHOR_KEY"


class _AsOf:
    """Each aggregate's head as of log position ``stop``, folded into a root."""

    def __init__(self, stop: int) -> None:
        self.stop = stop
        self.hash = hashlib.sha256()
        self.aggregates = 0
        self.events = 0
        self.heads: dict[str, tuple[int, str]] = {}

    def __call__(self, uuid: UUID, chain: list[tuple[int, str, int]]) -> None:
        upto = [(v, d) for v, d, position in chain if position <= self.stop]
        if not upto:
            return
        version, digest = upto[-1]
        self.aggregates += 1
        self.events += len(upto)
        self.hash.update(f"{uuid.hex} {version} {digest}\n".encode())
        self.heads[uuid.hex] = (version, digest)

    def root(self) -> str:
        head = f"{SCHEMA} {VERSION} {self.stop} {self.aggregates} {self.events}\n".encode()
        return hashlib.sha256(head + self.hash.digest()).hexdigest()


def _one_log(app: Any) -> None:
    """An anchor names one log position: a store of partitions has N logs."""
    if hasattr(app, "partitions"):
        raise InvalidInputError(
            "anchor: a store of partitions has one log per partition; anchor each"
            " partition's store (schema ..._pN) on its own"
        )


def _sign(doc: dict[str, Any], key: str) -> str:
    body = json.dumps({k: v for k, v in doc.items() if k != "hmac"}, sort_keys=True)
    return hmac.new(key.encode(), body.encode(), hashlib.sha256).hexdigest()


def take(app: AfterSales, *, heads: bool = False) -> tuple[Verified, dict[str, Any]]:
    """Verify the store and, in the same pass, compute its anchor document."""
    _one_log(app)
    acc = _AsOf(stop=1 << 62)
    result = verify(app, visit=acc)
    acc.stop = result.position
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "schema_version": VERSION,
        "position": result.position,
        "aggregates": acc.aggregates,
        "events": acc.events,
        "root": acc.root(),
    }
    migrated = chain_meta(app).get("migrated_up_to")
    if migrated is not None:  # events up to there were chained after the fact
        doc["chained_by_migration_up_to"] = int(migrated)
    if heads:
        doc["heads"] = [[k, v, d] for k, (v, d) in sorted(acc.heads.items())]
    key = os.environ.get(KEY_ENV)
    if key:
        doc["hmac"] = _sign(doc, key)
    return result, doc


def load(text: str) -> dict[str, Any]:
    """Parse and check an anchor document (``verify --anchor`` output)."""
    try:
        doc = json.loads(text)
        schema = (doc.get("schema"), doc.get("schema_version"))
        int(doc["position"]), str(doc["root"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InvalidInputError(f"not an anchor file: {type(exc).__name__}: {exc}") from None
    if schema != (SCHEMA, VERSION):
        raise InvalidInputError(
            f"not an anchor file of {SCHEMA!r} version {VERSION}: {schema}"
            " (take a new one with `aftersales verify --anchor`)"
        )
    return dict(doc)


def against(app: AfterSales, doc: dict[str, Any]) -> Verified:
    """Verify the store and compare it, as of the anchor's position, with ``doc``."""
    _one_log(app)
    acc = _AsOf(stop=int(doc["position"]))
    result = verify(app, visit=acc)
    found = result.findings
    key = os.environ.get(KEY_ENV)
    if "hmac" in doc and not key:
        raise InvalidInputError(f"the anchor is signed: set {KEY_ENV} to check it")
    if key and not hmac.compare_digest(str(doc.get("hmac", "")), _sign(doc, key)):
        found.append(Finding("(anchor)", "", 0, "anchor_signature", "HMAC does not match"))
    if acc.root() != doc["root"]:
        detail = (
            f"as of position {doc['position']}: {acc.aggregates} aggregates,"
            f" {acc.events} events (anchor: {doc.get('aggregates')}, {doc.get('events')})"
        )
        found.append(Finding("(store)", "", 0, "anchor_mismatch", detail))
    for uuid, version, digest in doc.get("heads", []):
        now = acc.heads.get(uuid)
        if now is None:
            found.append(Finding("", uuid, version, "missing_aggregate", "no events at all"))
        elif now[0] < version:
            found.append(Finding("", uuid, version, "truncated", f"ends at {now[0]}"))
        elif now != (version, digest):
            found.append(Finding("", uuid, version, "anchor_mismatch", "head differs"))
    result.findings = sorted(set(found))
    return result
