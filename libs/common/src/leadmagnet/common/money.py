"""Money is integer micro-dollars in storage and Decimal strings at the edges."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

MICROS_PER_USD = 1_000_000


def micros_to_usd(micros: int) -> str:
    """1234 -> '0.001234' (exact; no float ever touches money)."""
    return str((Decimal(micros) / MICROS_PER_USD).quantize(Decimal("0.000001")))


def usd_to_micros(usd: Decimal | str | int) -> int:
    return int((Decimal(usd) * MICROS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_UP))
