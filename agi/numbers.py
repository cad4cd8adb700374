"""The dialled number as the tariff knows it: `rating.numbers` (pure, shared with the
wallet, which stores caller IDs in the same form)."""

from rating.numbers import MAX_DIGITS, NotANumber, normalize_number

__all__ = ["MAX_DIGITS", "NotANumber", "normalize_number"]
