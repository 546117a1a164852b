"""The case conversation's event, and how evidence items are numbered.

Part of :mod:`.events` (which re-exports it); its stored topic is
``aftersales_es.events:MessagePosted`` (see :data:`~.base.STORED_MODULES`).
A message never changes the case's state or its deadlines.
"""

from __future__ import annotations

from typing import Any

from aftersales_es.domain.case_event import CaseEvent
from aftersales_es.domain.case_view import Case


def add_evidence(case: Case, event: Any, kind: str, text: str) -> None:
    """Keep the case's attachments and number a new evidence item ``E<n>``.

    Evidence is what a party submitted as evidence and every message that
    attaches files; ids follow the events' order, so they are the same on
    every replay and need not be stored.
    """
    version, refs = event.originator_version, event.attachments
    case.attachments = [*case.attachments, *({**r, "version": version} for r in refs)]
    item = {
        "id": f"E{len(case.evidence) + 1}",
        "version": version,
        "by": event.by,
        "kind": kind,
        "text": text,
        "attachments": [r["digest"] for r in refs],
    }
    case.evidence = [*case.evidence, item]


class MessagePosted(CaseEvent):
    """A party wrote to the case (buyer, seller or platform), with ``attachments``
    (references: digest, size, media type, name) and no change of state."""

    by: str
    text: str
    attachments: tuple[dict[str, Any], ...] = ()

    def record(self, case: Case) -> None:
        case.messages = case.messages + 1
        if self.attachments:
            add_evidence(case, self, "message", self.text)
