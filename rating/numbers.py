"""The dialled number as the tariff knows it: digits only, international where possible.

Pure: no settings object, no database. `normalize_number` is given the operator's rules
(PULSA_OUTBOUND_PREFIX, PULSA_COUNTRY_CODE, PULSA_TRUNK_PREFIX) and applies them in this
order:

1. visual separators (spaces, `-`, `.`, `(`, `)`) are dropped;
2. the outbound prefix ("9" in "9-0812...") is stripped once when the number starts with it;
3. `+` or `00` in front means international: they are stripped ("+62812..." -> "62812...");
4. otherwise, when a country code is configured, a national number written with the trunk
   prefix becomes international ("0812..." -> "62812..." for country code 62, prefix 0);
5. what is left must be 1 to 20 ASCII digits; anything else (letters, `*`, `#`, a `+` in
   the middle, nothing at all) is not a number and is refused.

Short numbers (112, on-net extensions) and numbers already written internationally without
`+` pass unchanged: the tariff's prefixes and PULSA_FREE_DESTINATIONS are written in the
same form as the result, and so are the caller IDs the wallet stores (0812..., +62812...
and 62812... are all kept as 62812... when the country code is 62).
"""

from __future__ import annotations

MAX_DIGITS = 20  # the longest prefix a tariff can hold (rating.MAX_PREFIX_DIGITS)
_SEPARATORS = str.maketrans("", "", " -.()\t")


class NotANumber(ValueError):
    """What was dialled cannot be priced as a telephone number."""


def normalize_number(
    dialled: str,
    *,
    outbound_prefix: str = "",
    country_code: str = "",
    trunk_prefix: str = "0",
) -> str:
    """The number to rate, digits only; raises NotANumber for anything else."""
    text = (dialled or "").strip().translate(_SEPARATORS)
    if outbound_prefix and text.startswith(outbound_prefix):
        text = text[len(outbound_prefix) :]
    if text.startswith("+"):
        text = text[1:]
    elif text.startswith("00"):
        text = text[2:]
    elif country_code and trunk_prefix and text.startswith(trunk_prefix):
        text = country_code + text[len(trunk_prefix) :]
    if not text:
        raise NotANumber(f"no digits in {dialled!r}")
    if not (text.isascii() and text.isdigit()):
        raise NotANumber(f"not a telephone number: {dialled!r}")
    if len(text) > MAX_DIGITS:
        raise NotANumber(f"longer than {MAX_DIGITS} digits: {dialled!r}")
    return text
