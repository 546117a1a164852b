"""The base of the case's events: what every one of them carries and assigns.

Its stored topic is ``aftersales_es.events:CaseEvent`` (see
:data:`~.base.STORED_MODULES`), as when it lived in :mod:`.events`.
"""

from __future__ import annotations

from aftersales_es.domain.base import TimedEvent
from aftersales_es.domain.case_view import Case, Deadlines


class CaseEvent(TimedEvent):
    actor: str
    auto: bool
    rule: str | None
    state: str
    deadlines: Deadlines

    def apply(self, case: Case) -> None:
        case.state = self.state
        case.deadlines = self.deadlines
        if self.at > case.last_at:
            case.last_at = self.at
        self.record(case)

    def record(self, case: Case) -> None:
        """Assign this event's own fields (overridden where there are any)."""
