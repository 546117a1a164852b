"""The rule sets a service decides under.

A new case is applied under its platform's rule set (loaded from a file or
given in code, with the service's overrides); a stored case is decided under
the rule set it was applied under, found by digest in the store, never in
files that may have changed since. The first case applied under a rule set
saves its values (a :class:`RuleSetRecord`) in the same transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from eventsourcing.application import Repository

from aftersales_es.domain.case import Case
from aftersales_es.domain.ruleload import load_ruleset, parse_ruleset
from aftersales_es.domain.rules import RuleSet
from aftersales_es.domain.ruleset_record import RuleSetRecord, RuleSetRecorded, ruleset_uuid


class RuleSets:
    """Rule sets by platform (for new cases) and by digest (for stored ones)."""

    def __init__(
        self,
        repository: Repository[Any],
        sources: Mapping[str, str | Path | RuleSet] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self._repository = repository
        self._sources: dict[str, str | Path | RuleSet] = dict(sources or {})
        self._settings = dict(settings or {})
        self._by_name: dict[str, RuleSet] = {}
        self._by_digest: dict[str, RuleSet] = {}
        self._recorded: set[str] = set()  # digests known to be stored
        # Threads applying at once load a platform's file once, not each.
        self._loading = threading.Lock()

    def for_platform(self, platform: str) -> RuleSet:
        """The rule set new cases on ``platform`` are applied under."""
        if platform not in self._by_name:
            with self._loading:
                if platform not in self._by_name:
                    source = self._sources.get(platform, platform)
                    rules = source if isinstance(source, RuleSet) else load_ruleset(source)
                    self._by_name[platform] = rules.with_overrides(self._settings)
        rules = self._by_name[platform]
        self._by_digest.setdefault(rules.digest, rules)
        return rules

    def of(self, case: Case) -> RuleSet:
        """The rule set ``case`` was applied under (from the store, not from files)."""
        digest = case.ruleset["digest"]
        if digest not in self._by_digest:
            record: RuleSetRecord = self._repository.get(ruleset_uuid(digest))
            self._by_digest[digest] = parse_ruleset(record.values, origin=f"ruleset {digest}")
        return self._by_digest[digest]

    def records(self, rules: RuleSet, at: datetime) -> list[RuleSetRecord]:
        """What to save beside a new case under ``rules``: its record, unless stored."""
        if rules.digest in self._recorded or ruleset_uuid(rules.digest) in self._repository:
            return []
        return [
            RuleSetRecord._create(
                RuleSetRecorded,
                id=ruleset_uuid(rules.digest),
                at=at,
                values=rules.model_dump(mode="json"),
            )
        ]

    def saved(self, case: Case) -> None:
        """Note that ``case``'s rule set is stored (its case was saved)."""
        self._recorded.add(case.ruleset["digest"])
