"""Rule-set values as files write them: durations (``48h``) and amounts (``"300.00"``).

Each is a pydantic annotated type that parses the written form and dumps it
back the same way, so a rule set's digest does not depend on how a value was
spelt in memory.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_DURATION = re.compile(r"^\s*([+-]?\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION_HELP = "write a whole number and a unit (s, m, h, d), like '48h', '10d' or '30m'"


MAX_DURATION_DAYS = 3650


def _parse_duration(value: object) -> timedelta:
    # A bare number is refused rather than read as seconds: `after: 48` almost
    # certainly meant hours, and a silent 48 s deadline is a costly mistake.
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, str) and (m := _DURATION.match(value)):
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ValueError(f"{value!r} has no unit; {_DURATION_HELP}")
    else:
        raise ValueError(f"{value!r} is not a duration; {_DURATION_HELP}")
    if seconds <= 0:
        raise ValueError(f"duration {value!r} must be positive")
    # After-sales windows are days or months; a bound keeps date arithmetic
    # (due instants, validity ends) from overflowing the calendar at run time.
    if seconds > MAX_DURATION_DAYS * 86400:
        raise ValueError(f"duration {value!r} is longer than {MAX_DURATION_DAYS}d")
    return timedelta(seconds=seconds)


def _show_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def _parse_decimal(value: object) -> Decimal:
    if isinstance(value, (float, bool)):
        raise ValueError(f"{value!r} is inexact; give amounts as quoted decimal strings: '300.00'")
    try:
        amount = Decimal(str(value))
    except ArithmeticError:
        raise ValueError(f"{value!r} is not a decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"{value!r} must be a non-negative finite amount")
    return amount


Duration = Annotated[
    timedelta, BeforeValidator(_parse_duration), PlainSerializer(_show_duration, return_type=str)
]
Amount = Annotated[Decimal, BeforeValidator(_parse_decimal), PlainSerializer(str, return_type=str)]
