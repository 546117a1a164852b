"""Exact money: ``Decimal`` amounts checked against the currency's minor unit."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from .errors import InvalidInputError

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


def check_currency(currency: str) -> str:
    """Return the currency code if it is known, else raise."""
    if currency not in MINOR_UNITS:
        raise InvalidInputError(f"currency: unknown currency {currency!r}")
    return currency


def quantum(currency: str) -> Decimal:
    """The smallest amount of ``currency`` (``0.01`` for CNY, ``1`` for JPY)."""
    return Decimal(1).scaleb(-MINOR_UNITS[check_currency(currency)])


def parse_amount(
    value: object, currency: str, *, field: str = "amount", allow_zero: bool = True
) -> Decimal:
    """Parse ``value`` as an exact amount of ``currency``.

    Refuses floats (inexact), NaN, infinities, negatives, amounts with more
    decimals than the currency has, and absurdly large amounts. The result is
    quantized to the currency's minor unit.
    """
    if isinstance(value, (bool, float)):
        raise InvalidInputError(f"{field}: give amounts as decimal strings, not {value!r}")
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise InvalidInputError(f"{field}: {value!r} is not a decimal amount") from None
    if not amount.is_finite():
        raise InvalidInputError(f"{field}: {value!r} is not a finite amount")
    if amount < 0:
        raise InvalidInputError(f"{field}: {value!r} is negative")
    if amount > MAX_AMOUNT:
        raise InvalidInputError(f"{field}: {value!r} is larger than {MAX_AMOUNT}")
    if amount == 0 and not allow_zero:
        raise InvalidInputError(f"{field}: must be greater than zero")
    q = quantum(currency)
    exponent = amount.as_tuple().exponent
    assert isinstance(exponent, int)
    if exponent < q.as_tuple().exponent and amount != amount.quantize(q):
        raise InvalidInputError(
            f"{field}: {value!r} has more decimals than {currency} allows ({MINOR_UNITS[currency]})"
        )
    return amount.quantize(q, rounding=ROUND_HALF_EVEN)


def fmt(amount: Decimal) -> str:
    """The canonical string of an amount (no exponent)."""
    return f"{amount:f}"
