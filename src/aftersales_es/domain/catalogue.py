"""Reason catalogues: the ids a buyer's application and a seller's rejection
may name, with their labels, and the evidence a reason needs on application.

A rule set's ``catalogue`` has two sections, ``reasons`` and
``rejection_categories``; each carries the rule id and basis it comes from
and its items (``id``, an English label, a Chinese one where the platform
is Chinese, and for a reason the evidence it needs). A rule set stored
before catalogues existed gets :func:`legacy_catalogue`: the engine's own
reasons, and the categories its ``rejection_categories`` setting listed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, model_validator

from aftersales_es.domain.rule_parts import Basis, Reason, Strict

#: A catalogue id: what commands and events carry.
ItemId = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
]
Count = Annotated[int, Field(strict=True, ge=0, le=100)]
#: The media types the engine recognises from a file's first bytes
#: (:func:`aftersales_es.domain.evidence.sniff`); a rule set allows a subset.
MediaType = Literal[
    "image/jpeg",
    "image/png",
    "image/gif",
    "image/webp",
    "video/mp4",
    "video/quicktime",
    "application/pdf",
]


class EvidenceNeed(Strict):
    """What an application for a reason must attach: ``images`` photos and
    ``files`` attachments of any allowed type, at least."""

    images: Count = 0
    files: Count = 0
    rule: str = Field(min_length=1)
    basis: Basis = "documented"
    note: str = ""


class Item(Strict):
    """One catalogue entry: its id and labels (and, for a reason, its evidence need)."""

    id: ItemId
    en: str = Field(min_length=1, max_length=200)
    zh: str = Field(default="", max_length=200)
    evidence: EvidenceNeed | None = None


class Section(Strict):
    """A list of catalogue items, under the rule that defines them."""

    rule: str = Field(min_length=1)
    basis: Basis = "documented"
    note: str = ""
    items: list[Item] = Field(default=[])

    @model_validator(mode="after")
    def _unique_ids(self) -> Section:
        seen: set[str] = set()
        for i, item in enumerate(self.items):
            if item.id in seen:
                raise ValueError(f"items.{i}: id {item.id!r} is listed twice")
            seen.add(item.id)
        return self

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]

    def get(self, item_id: str) -> Item | None:
        return next((item for item in self.items if item.id == item_id), None)


class Catalogue(Strict):
    """The reasons a buyer may give and the categories a seller may reject under."""

    reasons: Section
    rejection_categories: Section

    @model_validator(mode="after")
    def _evidence_only_on_reasons(self) -> Catalogue:
        for i, item in enumerate(self.rejection_categories.items):
            if item.evidence is not None:
                raise ValueError(f"rejection_categories.items.{i}: evidence is for reasons only")
        return self

    def reason(self, reason_id: str) -> Item | None:
        """The catalogue entry of a buyer's reason (None: not in the catalogue)."""
        return self.reasons.get(reason_id)


#: English labels of the engine's own reasons (a rule set without a catalogue).
BUILTIN_LABELS = {
    "changed_mind": "Changed my mind",
    "not_received": "Not received",
    "other": "Other",
    "wrong_item": "Wrong item sent",
    "missing_item": "Item missing",
    "quality_issue": "Quality problem",
    "damaged": "Arrived damaged",
    "not_as_described": "Not as described",
}


def legacy_catalogue(settings: dict[str, Any]) -> dict[str, Any]:
    """The catalogue of a rule set written before catalogues: every built-in
    reason, and the rejection categories its settings listed (none: any)."""
    legacy = settings.get("rejection_categories") or {}
    categories = legacy.get("value") or [] if isinstance(legacy, dict) else []
    return {
        "reasons": {
            "rule": "default",
            "basis": "assumption",
            "note": "not set: the engine's reasons",
            "items": [{"id": r, "en": BUILTIN_LABELS[r]} for r in get_args(Reason)],
        },
        "rejection_categories": {
            "rule": legacy.get("rule", "default") if isinstance(legacy, dict) else "default",
            "basis": "assumption",
            "note": "from settings.rejection_categories" if categories else "not set: any",
            "items": [{"id": str(c), "en": str(c)} for c in categories],
        },
    }
