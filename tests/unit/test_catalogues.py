"""The Indonesian catalogues of the web admin and the customer portal translate every
text of their app (the portal's include messaging/wording.py, shared with the chat bots),
WTForms' own messages too, every plural; and every catalogue (those two, the bots' and
messaging's notifications) is compiled, has Indonesian's one plural form, leaves no English
copied as it was, and follows the glossary (docs/glossary.md): none of its refused words,
a tariff plan is a "paket tarif" and an internet package never is."""

from __future__ import annotations

import gettext
import re
from pathlib import Path

import pytest
import wtforms
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

REPO = Path(__file__).resolve().parents[2]
APPS = ("webadmin", "portal")
CATALOGUES = ("webadmin", "portal", "bots", "messaging")
#: Code outside an app's folder whose texts are in its catalogue.
SHARED = {
    "portal": [REPO / "messaging" / "wording.py", REPO / "webcommon"],
    "webadmin": [REPO / "webcommon"],
}
METHODS = [("**.py", "python"), ("templates/**.html", "jinja2")]
KEYWORDS = {
    "_": None,
    "gettext": None,
    "_l": None,
    "lazy_gettext": None,
    "ngettext": (1, 2),
    "N_": None,
}
WTFORMS_POT = Path(wtforms.__file__).parent / "locale" / "wtforms.pot"
#: Texts written the same in both languages (names, borrowed words, placeholders only).
SAME_IN_BOTH = {
    "%(time)s online",
    "%(what)s, ref %(ref)s",
    "Admin",
    "Bank",
    "Caller ID",
    "Chat",
    "Indonesia (WIB, Jakarta)",
    "Indonesia (WITA, Makassar)",
    "Indonesia (WIT, Jayapura)",
    "Malaysia",
    "Timor-Leste",
    "Data",
    "Host",
    "Internet",
    "Logo",
    "Menu",
    "Mode",
    "OK",
    "Operator",
    "Port",
    "Router",
    "Server",
    "Status",
    "Super admin",
    "TLS",
    "Total",
    "Transfer",
    "Voucher",
    "Walled garden",
    "burst",
    "live",
    "static",
    "status: %(status)s",
    "super admin",
    "voucher",
}


def catalogue(app: str):
    with open(REPO / app / "translations" / "id" / "LC_MESSAGES" / "messages.po", "rb") as f:
        return read_po(f)


def _singular(message_id: str | tuple) -> str:
    return message_id if isinstance(message_id, str) else message_id[0]


def translations(app: str) -> dict[str, list[str]]:
    """Every entry of `app`'s catalogue: its singular msgid and its translated forms."""
    return {
        _singular(m.id): [m.string] if isinstance(m.string, str) else list(m.string)
        for m in catalogue(app)
        if m.id
    }


def texts_in_the_code(app: str) -> dict[str, bool]:
    """The texts `app` passes to gettext: singular msgid -> whether it is a plural."""
    found = {}
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(REPO / app), METHODS, keywords=KEYWORDS
    ):
        found[_singular(message)] = not isinstance(message, str)
    for path in SHARED.get(app, []):
        extracted = (
            (
                message
                for *_, message, _comments, _context in extract_from_dir(
                    str(path), METHODS, keywords=KEYWORDS
                )
            )
            if path.is_dir()
            else (
                message
                for _line, message, _comments, _context in extract_from_file(
                    "python", str(path), keywords=KEYWORDS
                )
            )
        )
        for message in extracted:
            found[_singular(message)] = not isinstance(message, str)
    return found


def wtforms_texts() -> set[str]:
    with open(WTFORMS_POT, "rb") as f:
        return {_singular(m.id) for m in read_po(f) if m.id}


@pytest.mark.parametrize("app", APPS)
def test_every_text_of_the_app_and_of_wtforms_has_an_indonesian_translation(app):
    entries = translations(app)
    wanted = set(texts_in_the_code(app)) | wtforms_texts()
    missing = sorted(t for t in wanted if not all(entries.get(t) or [""]))
    assert not missing, "\n".join(map(str, missing))


@pytest.mark.parametrize("app", APPS)
def test_a_plural_in_the_code_is_a_plural_in_the_catalogue(app):
    plural_ids = {_singular(m.id) for m in catalogue(app) if m.id and not isinstance(m.id, str)}
    plurals_in_code = {text for text, plural in texts_in_the_code(app).items() if plural}
    assert not plurals_in_code - plural_ids, sorted(plurals_in_code - plural_ids)


@pytest.mark.parametrize("app", CATALOGUES)
def test_no_translation_is_the_english_left_as_it_was(app):
    copied = sorted(
        m.id
        for m in catalogue(app)
        if m.id and isinstance(m.id, str) and m.string == m.id and m.id not in SAME_IN_BOTH
    )
    assert not copied, "\n".join(map(str, copied))


@pytest.mark.parametrize("app", CATALOGUES)
def test_the_compiled_catalogue_matches_the_translations(app):
    def key(text):
        return text if isinstance(text, str) else tuple(text)

    source = {key(m.id): key(m.string) for m in catalogue(app) if m.id and any(key(m.string))}
    folder = REPO / app / "translations" / "id" / "LC_MESSAGES"
    with open(folder / "messages.mo", "rb") as f:
        compiled = {key(m.id): key(m.string) for m in read_mo(f) if m.id}
    assert compiled == source
    with open(folder / "messages.mo", "rb") as f:
        # What the apps load: a header Python's gettext cannot read fails here.
        loaded = gettext.GNUTranslations(f)
    assert loaded.ngettext("x", "y", 2) == "y"


@pytest.mark.parametrize("app", CATALOGUES)
def test_indonesian_has_one_plural_form(app):
    assert catalogue(app).num_plurals == 1


# --- the glossary --------------------------------------------------------------------


def glossary() -> list[dict[str, str]]:
    """The rows of docs/glossary.md's table."""
    rows = []
    for line in (REPO / "docs" / "glossary.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("English", "") or set(cells[0]) <= {"-"}:
            continue
        rows.append(dict(zip(("english", "indonesian", "meaning", "not"), cells, strict=True)))
    return rows


_UNLESS = re.compile(r"^(.*?)\s*\(unless ([^)]*)\)$")


def refused_words() -> dict[str, tuple[str, str | None]]:
    """Each word the glossary refuses -> (the Indonesian word to use instead, an English
    word that allows it: "nomor rekening (unless bank)")."""
    refused = {}
    for row in glossary():
        for word in filter(None, (w.strip() for w in row["not"].split(","))):
            unless = _UNLESS.match(word)
            word, allowed_by = (unless.group(1), unless.group(2)) if unless else (word, None)
            refused[word.lower()] = (row["indonesian"], allowed_by)
    return refused


def test_the_glossary_has_its_terms_and_refusals():
    terms = {row["english"] for row in glossary()}
    assert {"tariff plan, plan", "internet package, package", "time band, band"} <= terms
    assert {"pita", "irisan", "nomor rekening", "isi saldo"} <= set(refused_words())


@pytest.mark.parametrize("app", CATALOGUES)
def test_no_translation_uses_a_word_the_glossary_refuses(app):
    found = []
    for message_id, forms in translations(app).items():
        for text in forms:
            for word, (instead, allowed_by) in refused_words().items():
                if allowed_by and allowed_by in message_id.lower():
                    continue
                if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text, re.IGNORECASE):
                    found.append(f"{message_id!r}: {word!r} (use {instead!r})")
    assert not found, "\n".join(map(str, found))


@pytest.mark.parametrize("app", CATALOGUES)
def test_a_tariff_plan_is_a_paket_tarif_and_an_internet_package_never_is(app):
    wrong = []
    for message_id, forms in translations(app).items():
        text = " ".join(forms).lower()
        english = message_id.lower()
        about_a_plan = re.search(r"\bplans?\b", english) and "%(plan)s" not in english
        if about_a_plan and "paket tarif" not in text:
            wrong.append(f"{message_id!r} -> {text!r}: a tariff plan is 'paket tarif'")
        if "package" in english and "plan" not in english and "paket tarif" in text:
            wrong.append(f"{message_id!r} -> {text!r}: an internet package is not 'paket tarif'")
    assert not wrong, "\n".join(map(str, wrong))
