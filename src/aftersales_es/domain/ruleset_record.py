"""The rule-set record: the exact values of a rule set, stored once per digest,
so a case is always decided under the values it was applied under."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from aftersales_es.domain.base import TimedAggregate, TimedCreated


class RuleSetRecorded(TimedCreated):
    """The exact values of a rule set, stored once per digest."""

    values: dict[str, Any]


class RuleSetRecord(TimedAggregate):
    """Keeps the values a case was applied under, whatever files say later."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values


def ruleset_uuid(digest: str) -> UUID:
    """The store id of the record of the rule set with this digest."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"aftersales-ruleset:{digest}")
