"""Micro-unit money: the one place where decimal amounts become integers."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MICRO = 1_000_000


def ceil_div(numerator: int, denominator: int) -> int:
    """Integer division rounding towards +infinity (never under-charges)."""
    return -(-numerator // denominator)


def to_micro(amount: Decimal | int | str) -> int:
    """Convert an amount in currency units to micro-units, rounding up.

    Rounding is towards +infinity so that a price or a charge is never smaller than
    what was written: 0.0000001 becomes 1 micro-unit.
    """
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {amount!r}")
    # Exact integer arithmetic: `value * MICRO` in Decimal would first round to the
    # context's precision (28 digits by default), which can round down.
    numerator, denominator = value.as_integer_ratio()
    return ceil_div(numerator * MICRO, denominator)


def parse_money(text: str) -> int:
    """Parse a decimal string typed by a person ("1500", "0.25", "1,500.5") into micro-units."""
    cleaned = text.strip().replace(",", "").replace("_", "")
    if not cleaned:
        raise ValueError("empty amount")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"not a number: {text.strip()!r}") from None
    return to_micro(value)


def micro_to_decimal(micro: int) -> Decimal:
    """The exact amount in currency units, without trailing zeros beyond the unit."""
    value = Decimal(micro) / MICRO
    normalized = value.normalize()
    # normalize() turns 100 into 1E+2; keep plain notation for humans and CSV files.
    return normalized.quantize(Decimal(1)) if normalized == normalized.to_integral() else normalized


def format_money(micro: int, precision: int, currency: str = "") -> str:
    """Display an amount with the operator's precision (IDR 0 decimals, USD 2)."""
    quantum = Decimal(1).scaleb(-precision)
    value = (Decimal(micro) / MICRO).quantize(quantum, rounding=ROUND_HALF_UP)
    text = f"{value:,.{precision}f}"
    return f"{currency} {text}".strip()
