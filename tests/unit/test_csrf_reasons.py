"""Every reason Flask-WTF gives for refusing a form has a sentence of ours, translated in
both apps' catalogues: read from the installed Flask-WTF itself, so an upgrade that adds
a reason fails here instead of showing English."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import flask_wtf.csrf
import pytest
from babel.support import Translations

from webcommon.csrf import REASONS

ROOT = Path(__file__).resolve().parents[2]


def flask_wtf_reasons() -> set[str]:
    source = inspect.getsource(flask_wtf.csrf)
    return set(re.findall(r'(?:ValidationError|_error_response)\("([^"]+)"\)', source))


def test_every_reason_of_flask_wtf_has_a_sentence():
    reasons = flask_wtf_reasons()
    assert "The CSRF token has expired." in reasons and len(reasons) >= 7
    assert not reasons - set(REASONS), sorted(reasons - set(REASONS))


@pytest.mark.parametrize("app", ["webadmin", "portal"])
def test_every_sentence_is_translated_in_both_catalogues(app):
    catalogue = Translations.load(str(ROOT / app / "translations"), ["id"])
    english = [text._args[0] for text in REASONS.values()]
    assert all(catalogue.gettext(text) != text for text in english)
