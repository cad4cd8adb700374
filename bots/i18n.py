"""Chat texts in the chat's language: gettext with an explicit locale over the bots' own
Babel catalogue (bots/translations/<locale>/LC_MESSAGES/messages.po), because a bot
answers many chats in several languages at once and has no request to hang a locale on.

    _ = gettext_for("id")
    _("Your balance is %(amount)s.", amount=...)

Texts defined at import time are marked with `N_` and translated where they are used
(`_(TEXT)`). Every module of bots/ follows this; see bots/README.md for the commands that
extract, update and compile the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from babel.support import NullTranslations, Translations

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
LANGUAGES = ("en", "id")

Gettext = Callable[..., str]


def N_(text: str) -> str:
    """Marks a text for the catalogue without translating it (module constants)."""
    return text


@lru_cache(maxsize=8)
def _catalogue(language: str) -> NullTranslations:
    if language == "en":
        return NullTranslations()
    return Translations.load(str(TRANSLATIONS), [language], domain="messages")


def gettext_for(language: str | None) -> Gettext:
    """A `_(text, **values)` translating into `language` (English when unknown) and
    filling `%(name)s` placeholders."""
    catalogue = _catalogue(language if language in LANGUAGES else "en")

    def translate(text: str, **values: object) -> str:
        translated = catalogue.gettext(text)
        return translated % values if values else translated

    return translate
