"""Every text a chat says exists in Indonesian: the bots' catalogue covers the texts of
bots/ (and of the shared wording) and its compiled form is up to date."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from bots.i18n import gettext_for

REPO = Path(__file__).resolve().parents[2]
CATALOGUE = REPO / "bots" / "translations" / "id" / "LC_MESSAGES"
KEYWORDS = {"_": None, "N_": None}
SHARED = [REPO / "messaging" / "wording.py"]


def texts_in_the_code() -> set[str]:
    found = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(REPO / "bots"), [("**.py", "python")], keywords=KEYWORDS
        )
    }
    for path in SHARED:
        if path.exists():
            found |= {
                message
                for _line, message, _comments, _context in extract_from_file(
                    "python", str(path), keywords=KEYWORDS
                )
            }
    return found


def test_every_chat_text_has_an_indonesian_translation():
    with open(CATALOGUE / "messages.po", "rb") as f:
        translated = {m.id for m in read_po(f) if m.id and m.string}
    assert sorted(texts_in_the_code() - translated) == []


def test_the_compiled_catalogue_matches_the_translations():
    with open(CATALOGUE / "messages.po", "rb") as f:
        source = {m.id: m.string for m in read_po(f) if m.id and m.string}
    with open(CATALOGUE / "messages.mo", "rb") as f:
        compiled = {m.id: m.string for m in read_mo(f) if m.id}
    assert compiled == source


def test_a_text_is_translated_with_its_values():
    _ = gettext_for("id")
    assert "Sari" in _("Welcome, %(name)s! This chat is now linked to your account.", name="Sari")
    assert _("Balance") != "Balance"
    assert gettext_for("xx")("Balance") == "Balance"
