"""The portal's Indonesian catalog covers every text of the portal and is compiled."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

PORTAL = Path(__file__).resolve().parents[2] / "portal"
# Wording the portal shares with the chat bots, translated in both catalogues.
SHARED = [PORTAL.parent / "messaging" / "wording.py"]
CATALOG = PORTAL / "translations" / "id" / "LC_MESSAGES"
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "_l": None,
    "lazy_gettext": None,
    "ngettext": (1, 2),
    "N_": None,
}


def _key(text: str | tuple | list) -> str | tuple:
    """Plural entries (a list in compiled catalogs) compared as tuples."""
    return text if isinstance(text, str) else tuple(text)


def texts_in_the_code() -> set[str]:
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(PORTAL), METHODS, keywords=KEYWORDS
    ):
        found.add(message if isinstance(message, str) else message[0])
    for path in SHARED:
        for _line, message, _comments, _context in extract_from_file(
            "python", str(path), keywords=KEYWORDS
        ):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_text_of_the_portal_has_an_indonesian_translation():
    with open(CATALOG / "messages.po", "rb") as f:
        catalog = read_po(f)
    # A plural entry is keyed by its singular and needs every form translated.
    translated = {
        m.id if isinstance(m.id, str) else m.id[0]
        for m in catalog
        if m.id and (m.string if isinstance(m.id, str) else all(m.string))
    }
    assert sorted(texts_in_the_code() - translated) == []


def test_the_compiled_catalog_matches_the_translations():
    with open(CATALOG / "messages.po", "rb") as f:
        source = {_key(m.id): _key(m.string) for m in read_po(f) if m.id and any(m.string)}
    with open(CATALOG / "messages.mo", "rb") as f:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
    assert compiled == source
