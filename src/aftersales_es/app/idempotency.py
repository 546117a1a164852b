"""Idempotency keys: a retried command has one effect.

A command sent with an ``idempotency_key`` saves a :class:`CommandRecord`
(id derived from the key) in the same transaction as its effect, so the
store's uniqueness constraint on (id, version) — not a check-then-write —
decides which of two concurrent requests wins. The loser retries, finds the
record and returns the original outcome; the same key with another payload
is refused. Records older than the retention period may be reused.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError, Repository

from aftersales_es.domain.base import NAMESPACE, TimedAggregate, TimedCreated, TimedEvent
from aftersales_es.domain.errors import InvalidInputError

if TYPE_CHECKING:  # commands load on first use: reading cases never needs them
    from aftersales_es.app.commands import Command

#: How long a key is remembered unless the application says otherwise.
DEFAULT_RETENTION = timedelta(days=30)


class IdempotencyKeyReusedError(InvalidInputError):
    """The key was already used for a different command."""


def key_uuid(key: str) -> UUID:
    return uuid5(NAMESPACE, f"idempotency:{key}")


def fingerprint(cmd: Command) -> str:
    """sha256 of the command's canonical JSON, key excluded."""
    data = cmd.model_dump(mode="json", exclude={"idempotency_key"})
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class KeyRecorded(TimedCreated):
    key: str
    fingerprint: str
    case_id: str
    case_version: int


class KeyRenewed(TimedEvent):
    fingerprint: str
    case_id: str
    case_version: int

    def apply(self, record: CommandRecord) -> None:
        record.fingerprint = self.fingerprint
        record.case_id = self.case_id
        record.case_version = self.case_version
        record.at = self.at


class CommandRecord(TimedAggregate):
    """What a keyed command did: the case and its version right after."""

    def __init__(
        self, *, at: datetime, key: str, fingerprint: str, case_id: str, case_version: int
    ) -> None:
        self.at = at
        self.key = key
        self.fingerprint = fingerprint
        self.case_id = case_id
        self.case_version = case_version

    @classmethod
    def record(cls, cmd: Command, case_version: int, at: datetime) -> CommandRecord:
        """``at``: the instant the command was decided (its own, or the service's now)."""
        assert cmd.idempotency_key is not None
        record: CommandRecord = cls._create(
            KeyRecorded,
            id=key_uuid(cmd.idempotency_key),
            at=at,
            key=cmd.idempotency_key,
            fingerprint=fingerprint(cmd),
            case_id=cmd.case,
            case_version=case_version,
        )
        return record

    def expired(self, at: datetime, retention: timedelta) -> bool:
        return at - self.at > retention

    def renew(self, cmd: Command, case_version: int, at: datetime) -> None:
        self._record(
            KeyRenewed,
            at=at,
            fingerprint=fingerprint(cmd),
            case_id=cmd.case,
            case_version=case_version,
        )

    def check(self, cmd: Command) -> None:
        """Refuse a different command under the same key."""
        if fingerprint(cmd) != self.fingerprint:
            raise IdempotencyKeyReusedError(
                f"idempotency_key: {self.key!r} was used for another command "
                f"({self.case_id} at version {self.case_version}); use a new key"
            )


def find_record(repository: Repository[UUID], cmd: Command) -> CommandRecord | None:
    """The record of an earlier command under ``cmd``'s key, if it has one."""
    if cmd.idempotency_key is None:
        return None
    try:
        record: CommandRecord = repository.get(key_uuid(cmd.idempotency_key))
    except AggregateNotFoundError:
        return None
    return record
