"""Exact money: ``Decimal`` amounts checked against the currency's minor unit."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache

from aftersales_es.domain.errors import InvalidInputError

#: Minor-unit digits per ISO 4217 currency that the shipped rule sets use,
#: plus common ones; unknown currencies are refused rather than guessed.
MINOR_UNITS: dict[str, int] = {
    "CNY": 2,
    "KES": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "NGN": 2,
    "UGX": 0,
    "JPY": 0,
    "KRW": 0,
    "BHD": 3,
}

#: Amounts above this are refused as absurd (a trillion in major units).
MAX_AMOUNT = Decimal("1000000000000")

#: The one accepted spelling of an amount: ASCII digits, an optional point
#: and decimals. ``Decimal()`` alone would also take ``"1_000"``, ``"1E+2"``,
#: ``" 12 "`` or non-ASCII digits, which no client means to send.
_PLAIN = re.compile(r"[0-9]+(\.[0-9]+)?")
_LONGEST = 40
_NOT_FINITE = re.compile(r"[+-]?(s?nan|inf|infinity)", re.IGNORECASE)


def check_currency(currency: str) -> str:
    """Return the currency code if it is known, else raise."""
    if currency not in MINOR_UNITS:
        raise InvalidInputError(f"currency: unknown currency {currency!r}")
    return currency


def quantum(currency: str) -> Decimal:
    """The smallest amount of ``currency`` (``0.01`` for CNY, ``1`` for JPY)."""
    return Decimal(1).scaleb(-MINOR_UNITS[check_currency(currency)])


@lru_cache(maxsize=64)
def zero(currency: str) -> Decimal:
    """Zero at ``currency``'s precision (``0.00`` CNY, ``0`` JPY): the one way to write it.

    Stored events carry amounts at the currency's precision, so a zero
    written any other way (``Decimal(0)``) would store different bytes.
    """
    return Decimal(0).quantize(quantum(currency))


def parse_amount(
    value: object, currency: str, *, field: str = "amount", allow_zero: bool = True
) -> Decimal:
    """Parse ``value`` as an exact amount of ``currency``.

    Refuses floats (inexact), NaN, infinities, negatives, amounts with more
    decimals than the currency has, and absurdly large amounts. The result is
    quantized to the currency's minor unit.
    """
    if isinstance(value, Decimal):
        amount = value
    else:
        try:
            amount = Decimal(check_amount_text(value))
        except ValueError as exc:
            raise InvalidInputError(f"{field}: {exc}") from None
    if not amount.is_finite():
        raise InvalidInputError(f"{field}: {value!r} is not a finite amount")
    if amount < 0:
        raise InvalidInputError(f"{field}: {value!r} is negative")
    if amount > MAX_AMOUNT:
        raise InvalidInputError(f"{field}: {value!r} is larger than {MAX_AMOUNT}")
    if amount == 0 and not allow_zero:
        raise InvalidInputError(f"{field}: must be greater than zero")
    q = quantum(currency)
    if amount != amount.quantize(q):  # trailing zeros ("12.500") are fine
        raise InvalidInputError(
            f"{field}: {value!r} has more decimals than {currency} allows ({MINOR_UNITS[currency]})"
        )
    return amount.quantize(q, rounding=ROUND_HALF_EVEN)


def check_amount_text(value: object) -> str:
    """Check the spelling of an amount before any currency is known; return it as text.

    Raises ``ValueError`` (pydantic reports it against the field) for floats,
    booleans, NaN, infinities, negatives, exponents, stray characters and
    amounts above :data:`MAX_AMOUNT`. Decimal places are checked against the
    currency later, by :func:`parse_amount`.
    """
    if isinstance(value, (bool, float)):
        raise ValueError(f"give amounts as decimal strings like '12.50', not {value!r}")
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{str(value)!r} is not a finite amount")
        value = f"{value:f}"
    if not isinstance(value, str):
        raise ValueError(f"an amount is a decimal string like '12.50', not {type(value).__name__}")
    if len(value) > _LONGEST:
        raise ValueError(f"{value[:20]!r}... is longer than {_LONGEST} characters")
    if _NOT_FINITE.fullmatch(value):
        raise ValueError(f"{value!r} is not a finite amount")
    if value.startswith("-") and _PLAIN.fullmatch(value[1:]):
        raise ValueError(f"{value!r} is negative")
    if not _PLAIN.fullmatch(value):
        raise ValueError(f"{value!r} is not a plain decimal amount like '12.50'")
    if Decimal(value) > MAX_AMOUNT:
        raise ValueError(f"{value!r} is larger than {MAX_AMOUNT}")
    return value


def fmt(amount: Decimal) -> str:
    """The canonical string of an amount (no exponent)."""
    return f"{amount:f}"
