"""Field types of validated input: identifiers, texts, amounts, instants.

Shared by the commands and the order facts (:mod:`.commands`) and by the
scenario files (:mod:`aftersales_es.sim.simulate`), so that every entry
point refuses the same values with the same message.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from aftersales_es.domain.money import check_amount_text

#: Bidirectional embedding, override and isolate marks: invisible, and able to
#: make a stored note or waybill read differently from what it holds.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Business instants outside these bounds are refused: deadline arithmetic
#: on them would overflow, and no after-sales case lives there.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _clean(value: str, *, lines: bool) -> str:
    for ch in value:
        if ch in "\n\t" and lines:
            continue
        if unicodedata.category(ch) in ("Cc", "Zl", "Zp") or ch in _BIDI:
            raise ValueError(f"contains the control character U+{ord(ch):04X}")
    return value


def _no_control(value: str) -> str:
    return _clean(value, lines=True)


def one_line(value: str) -> str:
    return _clean(value, lines=False)


def _amount_text(value: object) -> object:
    return check_amount_text(value)


def _key_text(value: str) -> str:
    if not all("!" <= ch <= "~" for ch in value):
        raise ValueError("use printable ASCII without spaces (a UUID, say)")
    return value


def _in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise ValueError(f"{value.isoformat()} is outside {EARLIEST.year}-{LATEST.year}")
    return value


Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
#: Client-chosen idempotency keys: printable ASCII without spaces (UUIDs, ULIDs, ...).
Key = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_key_text)]
Text = Annotated[str, Field(max_length=500), AfterValidator(_no_control)]
ShortText = Annotated[str, Field(max_length=64), AfterValidator(one_line)]
AmountText = Annotated[str, BeforeValidator(_amount_text), Field(min_length=1, max_length=40)]
#: A business instant: with a timezone, within :data:`EARLIEST` .. :data:`LATEST`.
Instant = Annotated[AwareDatetime, AfterValidator(_in_range)]
Party = Literal["buyer", "seller"]
Author = Literal["buyer", "seller", "platform"]
#: A message's text: a hard bound on what reaches the domain; the rule set's
#: ``message_max_chars`` is the limit users meet.
MessageText = Annotated[str, Field(max_length=65_536), AfterValidator(_no_control)]


def _file_name(value: str) -> str:
    """A file's own name: no folder, no way out of one, nothing invisible."""
    one_line(value)
    if "/" in value or "\\" in value or value in (".", "..") or value.startswith("."):
        raise ValueError(f"{value!r} is not a plain file name (no folders, no leading dot)")
    return value


FileName = Annotated[str, Field(min_length=1, max_length=255), AfterValidator(_file_name)]


class AttachmentRef(BaseModel):
    """A file as a case refers to it: the sha256 of its bytes, their size,
    the media type read from them, and the sender's file name."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    digest: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    size: int = Field(strict=True, ge=0, le=2**40)
    media_type: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(one_line)]
    name: FileName


Attachments = Annotated[list[AttachmentRef], Field(max_length=100)]


def _id_list(value: object) -> object:
    """Ids also as text, ``"E1,E3"`` (the CLI)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


EvidenceIds = Annotated[
    list[Annotated[str, Field(pattern=r"^E[0-9]{1,6}$")]],
    BeforeValidator(_id_list),
    Field(max_length=1000),
]
