"""The case conversation: messages with attachments, on any case, in any state.

:class:`Conversation` is a base of :class:`~aftersales_es.domain.case.Case`:
its method decides (time, text, the rule set's limits on files) and records
``MessagePosted``, which keeps the state and the pending deadlines as they
are. The checks an application's photos share are here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from aftersales_es.domain import case_checks as checks
from aftersales_es.domain.case_payments import Context
from aftersales_es.domain.case_steps import Steps
from aftersales_es.domain.errors import NotAllowedError
from aftersales_es.domain.events import EvidenceSubmitted, MessagePosted
from aftersales_es.domain.evidence import check_files, check_text

if TYPE_CHECKING:
    from aftersales_es.domain.case_view import Case

#: Who may write to a case.
AUTHORS = ("buyer", "seller", "platform")


class Conversation:
    """Messages, attachments and evidence (a base of the case aggregate)."""

    # Class-level defaults, so snapshots taken before messages existed load.
    attachments: Sequence[dict[str, Any]] = ()
    evidence: Sequence[dict[str, Any]] = ()
    messages: int = 0

    def post_message(
        self,
        ctx: Context,
        *,
        at: datetime,
        by: str,
        text: str = "",
        attachments: Sequence[dict[str, Any]] = (),
    ) -> None:
        """``by`` (buyer, seller or platform) writes ``text`` and attaches files.

        Never changes the state: allowed in every state, at an instant not
        before the case's last event and before any deadline that is due.
        """
        case = cast("Case", self)
        checks.check_time(case, "message", at)
        refs = [dict(r) for r in attachments]
        check_post(case, ctx, "message", by, text, refs)
        steps = Steps(case, ctx)
        fields = steps.common(at, by, case.state, keep=True)
        steps.record(MessagePosted, **fields, by=by, text=text, attachments=tuple(refs))

    def submit_evidence(
        self,
        ctx: Context,
        *,
        at: datetime,
        by: str = "buyer",
        note: str,
        attachments: Sequence[dict[str, Any]] = (),
    ) -> None:
        """A party submits evidence (a note, files) within the platform's time limit (KS-8)."""
        case = cast("Case", self)
        dest = checks.allowed(case, "submit_evidence", by, at)
        rule = ctx.rules.settings.evidence_window.rule
        checks.check_evidence(case, at, note, rule, files=len(attachments))
        held = len(case.attachments)
        check_files(case.case_id, case.state, "submit_evidence", ctx.rules, attachments, held)
        steps = Steps(case, ctx)
        fields = steps.common(at, by, dest, keep=True)
        files = tuple(dict(a) for a in attachments)
        steps.record(EvidenceSubmitted, **fields, by=by, note=note, attachments=files)


def check_post(
    case: Case, ctx: Context, command: str, by: str, text: str, refs: list[dict[str, Any]]
) -> None:
    """A message has an author, says something or attaches something, within limits."""
    rule = ctx.rules.settings.message_max_chars.rule
    if by not in AUTHORS:
        why = f"a message is by the {', the '.join(AUTHORS)}, not {by!r}"
        raise NotAllowedError(case.case_id, case.state, command, rule, why)
    if not text.strip() and not refs:
        why = "a message says something or attaches a file"
        raise NotAllowedError(case.case_id, case.state, command, rule, why)
    check_text(case.case_id, case.state, command, ctx.rules, text)
    check_files(case.case_id, case.state, command, ctx.rules, refs, len(case.attachments))
