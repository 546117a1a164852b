"""Attachments and evidence: what a file is (sniffed from its bytes), and the
rule set's limits on the files, messages and evidence a case carries.

A case never holds a file, only its reference: ``{"digest", "size",
"media_type", "name"}`` (sha256 hex of the bytes, their length, the media
type read from the bytes' magic number, the sender's file name). The bytes
live in a blob store beside the events (:mod:`aftersales_es.adapters.blobs`).
Everything here is pure: it reads bytes or references, never a file or the
store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, get_args

from aftersales_es.domain.case_view import Case
from aftersales_es.domain.catalogue import MediaType
from aftersales_es.domain.errors import CommandRefusedError, NotAllowedError
from aftersales_es.domain.rules import RuleSet

#: The media types the engine recognises from their first bytes; a rule set
#: allows a subset of them (``attachment_types``).
MEDIA_TYPES: tuple[str, ...] = get_args(MediaType)
UNKNOWN = "application/octet-stream"

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"%PDF-", "application/pdf"),
)


def sniff(data: bytes) -> str:
    """The media type of ``data`` from its magic number (never from a file name).

    Only the types of :data:`MEDIA_TYPES` are recognised; anything else
    (text, archives, executables) is :data:`UNKNOWN`.
    """
    for magic, media_type in _MAGIC:
        if data.startswith(magic):
            return media_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp":  # ISO base media: the brand says QuickTime or MP4
        return "video/quicktime" if data[8:12] == b"qt  " else "video/mp4"
    return UNKNOWN


def is_image(ref: dict[str, Any]) -> bool:
    """Whether an attachment reference is a photo (an ``image/*`` type)."""
    return str(ref.get("media_type", "")).startswith("image/")


def _refuse(case_id: str, state: str, command: str, rule: str, why: str) -> CommandRefusedError:
    return NotAllowedError(case_id, state, command, rule, why)


def check_files(
    case_id: str,
    state: str,
    command: str,
    rules: RuleSet,
    refs: Sequence[dict[str, Any]],
    already: int = 0,
) -> None:
    """The rule set's limits on attachments: type, size, count per case.

    ``already``: how many attachments the case holds before these.
    """
    s = rules.settings
    for ref in refs:
        name, size, kind = ref["name"], int(ref["size"]), ref["media_type"]
        if size <= 0:
            why = f"attachment {name!r} is empty (0 bytes)"
            raise _refuse(case_id, state, command, s.attachment_max_bytes.rule, why)
        if size > s.attachment_max_bytes.value:
            why = f"attachment {name!r} has {size} bytes, above {s.attachment_max_bytes.value}"
            raise _refuse(case_id, state, command, s.attachment_max_bytes.rule, why)
        if kind not in s.attachment_types.value:
            allowed = ", ".join(s.attachment_types.value)
            why = f"attachment {name!r} is {kind} (read from its bytes); allowed: {allowed}"
            raise _refuse(case_id, state, command, s.attachment_types.rule, why)
    cap = s.attachments_per_case
    if already + len(refs) > cap.value:
        why = f"a case holds at most {cap.value} attachments ({already} already, {len(refs)} new)"
        raise _refuse(case_id, state, command, cap.rule, why)


def check_text(case_id: str, state: str, command: str, rules: RuleSet, text: str) -> None:
    """The rule set's limit on a message's length (in characters)."""
    limit = rules.settings.message_max_chars
    if len(text) > limit.value:
        why = f"a message has at most {limit.value} characters (got {len(text)})"
        raise _refuse(case_id, state, command, limit.rule, why)


def check_application_evidence(
    case_id: str, rules: RuleSet, reason: str, refs: Sequence[dict[str, Any]]
) -> None:
    """A reason that needs evidence on application gets it (e.g. a photo of a
    quality problem), or the application is refused naming the reason's rule."""
    item = rules.catalogue.reason(reason)
    need = item.evidence if item is not None else None
    if need is None:
        return
    images = sum(1 for r in refs if is_image(r))
    if images < need.images or len(refs) < need.files:
        pairs = ((need.images, "photo(s)"), (need.files, "file(s)"))
        want = " and ".join(f"{n} {what}" for n, what in pairs if n)
        why = (
            f"reason {reason} needs at least {want}"
            f" attached to the application (got {images} photo(s), {len(refs)} file(s))"
        )
        raise _refuse(case_id, "new", "apply", need.rule, why)


def check_considered(case: Case, ids: Sequence[str], rule: str) -> None:
    """A ruling cites evidence items of this case only, each once."""
    known = [item["id"] for item in getattr(case, "evidence", ())]
    unknown = [i for i in ids if i not in known]
    if unknown:
        have = ", ".join(known) or "none"
        why = f"no evidence {', '.join(unknown)} on this case (evidence: {have})"
        raise _refuse(case.case_id, case.state, "rule", rule, why)
    if len(set(ids)) != len(ids):
        raise _refuse(case.case_id, case.state, "rule", rule, "an evidence item is cited twice")
