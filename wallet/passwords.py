"""One rule for what makes a password too weak, for staff now and customers next.

A password is refused when it is short, one of the most common passwords (the list in
`common_passwords.txt` beside this module), trivially repetitive ("aaaaaaaaaa",
"abcabcabca") or sequential ("1234567890", "qwertyuiop"), or the person's own name, also
when such a word is only dressed up with digits or symbols at its ends ("password12",
"Dragon2024!"), letters swapped for look-alikes ("P@ssw0rd") or the name added
("budi123456" for budi).

The service that stores a password calls `check_password`; adapters show the refusal in
their reader's language from `WeakPassword.reason` (one of the REASONS), since this
module knows no translations.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from pathlib import Path

from wallet.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 200

SHORT, COMMON, REPETITIVE, SEQUENTIAL, NAME = (
    "short",
    "common",
    "repetitive",
    "sequential",
    "name",
)
REASONS = (SHORT, COMMON, REPETITIVE, SEQUENTIAL, NAME)

_ENGLISH = {
    SHORT: "a password needs at least {min_length} characters",
    COMMON: "this password is one of the most common ones; choose one that is harder to guess",
    REPETITIVE: "this password repeats the same few characters; choose one that is harder to guess",
    SEQUENTIAL: "this password is a run of keys or letters; choose one that is harder to guess",
    NAME: "a password must not be made of the user name or the full name",
}

# Runs people type: the alphabet, digits, keyboard rows and columns. A password (or its
# core) that is a piece of one of them, either way round, is sequential.
_RUNS = (
    "abcdefghijklmnopqrstuvwxyz",
    "01234567890123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "qwertzuiopasdfghjklyxcvbnm",
    "azertyuiopqsdfghjklmwxcvbn",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "zaq1xsw2cde3vfr4bgt5nhy6mju7",
    "!@#$%^&*()_+",
)
_LOOK_ALIKES = (
    str.maketrans("@4310$5!7", "aaeiossit"),
    str.maketrans("@4310$5!7", "aaelossit"),
)
_DRESSING = "0123456789!@#$%^&*()-_=+.,;:?/\\|'\"`~[]{}<> "


class WeakPassword(InvalidInput):
    """A password the rules refuse; `reason` is one of REASONS."""

    def __init__(self, reason: str, min_length: int = MIN_LENGTH) -> None:
        self.reason = reason
        self.min_length = min_length
        super().__init__(_ENGLISH[reason].format(min_length=min_length))


def check_password(
    password: str, *, names: Iterable[str] = (), min_length: int = MIN_LENGTH
) -> None:
    """Raise WeakPassword when `password` is too weak for someone called by `names`
    (user name, full name: any of them, in any case)."""
    reason = password_weakness(password, names=names, min_length=min_length)
    if reason is not None:
        raise WeakPassword(reason, min_length)


def password_weakness(
    password: str, *, names: Iterable[str] = (), min_length: int = MIN_LENGTH
) -> str | None:
    """Which rule `password` breaks (one of REASONS), or None for a good enough one."""
    if len(password) < min_length:
        return SHORT
    lowered = password.lower()
    parts = sorted(_name_parts(names), key=len, reverse=True)
    without_names = lowered
    for part in parts:
        without_names = without_names.replace(part, "")
    if without_names != lowered and _core(without_names) == "":
        return NAME
    forms = {lowered, without_names}
    forms |= {_core(form) for form in forms}
    forms |= {form.translate(table) for form in forms for table in _LOOK_ALIKES}
    forms |= {_core(form) for form in forms}
    # A short core ("ab" of "ab93847261") says nothing about the rest.
    forms = {form for form in forms if len(form) >= 4}
    for verdict, test in ((COMMON, _is_common), (SEQUENTIAL, _is_run), (REPETITIVE, _repeats)):
        if any(test(form) for form in forms):
            return verdict
    return None


def _name_parts(names: Iterable[str]) -> set[str]:
    parts = set()
    for name in names:
        lowered = (name or "").strip().lower()
        if len(lowered) >= 3:
            parts.add(lowered)
        for piece in lowered.replace(".", " ").replace("_", " ").replace("-", " ").split():
            if len(piece) >= 3:
                parts.add(piece)
    return parts


def _core(text: str) -> str:
    """The word inside its dressing: digits and symbols at either end removed."""
    return text.strip(_DRESSING)


@cache
def common_passwords() -> frozenset[str]:
    lines = Path(__file__).with_name("common_passwords.txt").read_text("utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def _is_common(text: str) -> bool:
    return text in common_passwords()


def _is_run(text: str) -> bool:
    return any(text in run or text in run[::-1] for run in _RUNS)


def _repeats(text: str) -> bool:
    """Few distinct characters, or a short piece said again and again."""
    if len(set(text)) <= max(2, len(text) // 5):
        return True
    return any(
        (text[:size] * (len(text) // size + 1)).startswith(text)
        for size in range(1, len(text) // 2 + 1)
    )
