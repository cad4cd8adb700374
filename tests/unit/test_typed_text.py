"""Typed text: control characters are refused (line breaks only where a text has lines),
and text already stored is made printable for exports."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallet.errors import InvalidInput
from wallet.text import check_text, first_refused_character, printable


@pytest.mark.parametrize("character", ["\x00", "\x01", "\x1b", "\x7f", "\x85", "\t", "\u2028"])
def test_a_one_line_text_refuses_control_characters(character):
    with pytest.raises(InvalidInput, match=r"a name contains a control character \(U\+"):
        check_text(f"Siti{character}Aminah", "a name")


def test_a_text_of_several_lines_keeps_tabs_and_line_breaks_but_no_other_control():
    assert check_text("one\r\ntwo\tthree", "a reason", multiline=True) == "one\r\ntwo\tthree"
    assert first_refused_character("one\n\x01", multiline=True) == "\x01"


def test_names_in_any_script_pass():
    for name in ("Siti Aminah", "Nguyễn Văn Ánh", "محمد", "山田太郎", "Zoë 👩‍💻"):
        assert check_text(name, "a name") == name


@given(st.text())
def test_printable_text_holds_no_refused_character_and_keeps_the_rest(text):
    cleaned = printable(text)
    assert first_refused_character(cleaned, multiline=True) is None
    assert len(cleaned) == len(text)
    assert all(
        a == b for a, b in zip(cleaned, text, strict=True) if b != "\ufffd" and a != "\ufffd"
    )
