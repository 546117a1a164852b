"""API tokens: one table beside the events, each token stored only as its hash.

A token is ``as_<id>_<secret>`` with 32 random bytes of secret; the table
keeps the id, the SHA-256 of the whole token, the role and the seller or
buyer it is bound to. SHA-256 (not a slow password hash) is enough because
the secret is random and long: there is nothing to guess. Looking a token
up compares digests in constant time. Tokens are not events: creating or
revoking one is an administrative act, not part of any case's history.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime
from typing import Any

from aftersales_es.adapters.sql import SqlStore
from aftersales_es.app.access import Principal, Role
from aftersales_es.domain.errors import InvalidInputError

TOKENS = "aftersales_tokens"
DDL = (
    f"CREATE TABLE IF NOT EXISTS {TOKENS} (token_id TEXT PRIMARY KEY, digest TEXT NOT NULL,"
    " role TEXT NOT NULL, seller TEXT, buyer TEXT, label TEXT NOT NULL,"
    " created_at TEXT NOT NULL, revoked_at TEXT)",
)
PREFIX = "as_"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Tokens:
    """Create, list, revoke and resolve API tokens on a store's SQL connection."""

    def __init__(self, sql: SqlStore) -> None:
        self.sql = sql
        sql.script(DDL)

    def create(
        self,
        role: Role,
        *,
        seller: str | None = None,
        buyer: str | None = None,
        label: str = "",
        now: datetime | None = None,
    ) -> tuple[str, Principal]:
        """A new token (shown once, never stored) and the principal it stands for."""
        Principal(role, seller=seller, buyer=buyer)  # validates the binding before writing
        token_id = secrets.token_hex(6)
        token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
        created = (now or datetime.now(UTC)).isoformat()
        with self.sql.write() as cur:
            cur.execute(
                f"INSERT INTO {TOKENS} (token_id, digest, role, seller, buyer, label, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (token_id, _digest(token), role, seller, buyer, label, created),
            )
        return token, Principal(role, seller=seller, buyer=buyer, name=label or token_id)

    def resolve(self, token: str) -> Principal | None:
        """The principal of a live token, or None (unknown, malformed or revoked)."""
        if not token.startswith(PREFIX) or len(token) > 200:
            return None
        token_id = token[len(PREFIX) :].partition("_")[0]
        with self.sql.read() as cur:
            cur.execute(
                f"SELECT digest, role, seller, buyer, label FROM {TOKENS}"
                " WHERE token_id = ? AND revoked_at IS NULL",
                (token_id,),
            )
            row = cur.fetchone()
        if row is None or not hmac.compare_digest(str(row[0]), _digest(token)):
            return None
        return Principal(row[1], seller=row[2], buyer=row[3], name=row[4] or token_id)

    def list(self) -> list[dict[str, Any]]:
        """Every token's id, role, party, label and dates (never a secret)."""
        cols = ("token_id", "role", "seller", "buyer", "label", "created_at", "revoked_at")
        with self.sql.read() as cur:
            cur.execute(f"SELECT {', '.join(cols)} FROM {TOKENS} ORDER BY created_at, token_id")
            return [dict(zip(cols, tuple(r), strict=True)) for r in cur.fetchall()]

    def revoke(self, token_id: str, now: datetime | None = None) -> None:
        """Stop a token from working (its row stays, for the record)."""
        with self.sql.write() as cur:
            cur.execute(
                f"UPDATE {TOKENS} SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                ((now or datetime.now(UTC)).isoformat(), token_id),
            )
            cur.execute(f"SELECT revoked_at FROM {TOKENS} WHERE token_id = ?", (token_id,))
            if cur.fetchone() is None:
                raise InvalidInputError(f"token {token_id!r} not found")
