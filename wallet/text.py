"""Text that people type: which characters pulsa refuses, and how text already stored is
made safe to write where such characters are illegal (XML inside Excel files).

Control characters (C0, DEL, C1) have no business in a name, a phone number or a note:
they are invisible on screen, break exports (an Excel file cannot hold most of them) and
can hide what a text says. Tab and line breaks are kept where a text may have several
lines (a reason, a banner), and nowhere else. Unpaired surrogates cannot be encoded at
all. Every form of the web admin refuses them (webadmin.forms), and the wallet services
that store names refuse them again as the last line of defence.
"""

from __future__ import annotations

import re
import unicodedata

from wallet.errors import InvalidInput

#: What a multi-line text may hold among the characters refused elsewhere.
LINE_BREAKS = frozenset("\t\n\r")


def _refused(character: str, *, multiline: bool) -> bool:
    if multiline and character in LINE_BREAKS:
        return False
    # Cc: C0 controls, DEL and C1 controls; Cs: lone surrogates; Zl/Zp: the Unicode line
    # and paragraph separators, line breaks in all but name.
    return unicodedata.category(character) in ("Cc", "Cs") or (
        not multiline and character in "\u2028\u2029"
    )


def first_refused_character(text: str, *, multiline: bool = False) -> str | None:
    """The first character of `text` that typed text may not hold, or None."""
    for character in text:
        if _refused(character, multiline=multiline):
            return character
    return None


def describe_character(character: str) -> str:
    """U+0001 style, for a message that must not itself carry the character."""
    return f"U+{ord(character):04X}"


def check_text(text: str, what: str, *, multiline: bool = False) -> str:
    """`text` unchanged, or InvalidInput naming `what` and the refused character."""
    refused = first_refused_character(text, multiline=multiline)
    if refused is not None:
        raise InvalidInput(f"{what} contains a control character ({describe_character(refused)})")
    return text


def check_optional_text(text: str | None, what: str, *, multiline: bool = False) -> str | None:
    return None if text is None else check_text(text, what, multiline=multiline)


def printable(text: str, replacement: str = "\ufffd", *, multiline: bool = True) -> str:
    """`text` with every refused character replaced (tabs and line breaks kept when
    `multiline`): for writing what is already stored where those characters are illegal
    (an Excel cell) or harmful (a terminal, where ESC starts a command)."""
    if first_refused_character(text, multiline=multiline) is None:
        return text
    return "".join(replacement if _refused(c, multiline=multiline) else c for c in text)


#: The largest whole number a database column (BIGINT) holds.
MAX_WHOLE = 2**63 - 1
_WHOLE = re.compile(r"[0-9]{1,19}", re.ASCII)


def whole_number(text: str | None) -> int | None:
    """`text` as a whole number of at most 64 bits written with the digits 0 to 9, or None
    ("²".isdigit() is true and "٥" is a digit to int(), so neither test is enough)."""
    text = (text or "").strip()
    if not _WHOLE.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_WHOLE else None
