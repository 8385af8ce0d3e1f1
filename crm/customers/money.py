"""Conversion to the base currency with configured rates."""
from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from crm.errors import Invalid

BASE_PLACES = Decimal("0.0001")


def to_base(amount: Decimal, currency: str, *, base_currency: str, rates: dict) -> Decimal:
    """``amount`` of ``currency`` in the base currency, to 4 places (banker's rounding).

    A currency with no configured rate is refused: guessing a rate would make
    every metric and threshold built on it wrong.
    """
    if currency == base_currency:
        return amount
    rate = rates.get(currency)
    if rate is None:
        known = ", ".join(sorted({base_currency, *rates}))
        raise Invalid(f"No exchange rate is configured for {currency}; accepted currencies: {known}.", "currency")
    return (amount * Decimal(str(rate))).quantize(BASE_PLACES, rounding=ROUND_HALF_EVEN)
