"""The one password rule of staff and customers (wallet.passwords)."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallet.errors import InvalidInput
from wallet.passwords import (
    COMMON,
    NAME,
    REASONS,
    REPETITIVE,
    SEQUENTIAL,
    SHORT,
    WeakPassword,
    check_password,
    common_passwords,
    password_weakness,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "password",
    ["password12", "qwertyuiop", "iloveyou12", "P@ssw0rd12!", "Dragon2024!", "sayangku123"],
)
def test_common_passwords_are_refused(password):
    assert password_weakness(password) == COMMON


@pytest.mark.parametrize("password", ["aaaaaaaaaa", "abcabcabcabc", "1212121212", "zzzzzzzzzzzzz9"])
def test_repetitive_passwords_are_refused(password):
    assert password_weakness(password) == REPETITIVE


@pytest.mark.parametrize("password", ["0987654321", "abcdefghijk", "lkjhgfdsapoiu", "mnbvcxzlkj"])
def test_runs_of_keys_letters_or_digits_are_refused(password):
    assert password_weakness(password) == SEQUENTIAL


@pytest.mark.parametrize(
    ("password", "names"),
    [
        ("budisantoso", ("budi", "Budi Santoso")),
        ("Budi.123456", ("budi",)),
        ("santoso2026!", ("bs", "Budi Santoso")),
    ],
)
def test_a_password_made_of_the_persons_name_is_refused(password, names):
    assert password_weakness(password, names=names) == NAME


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "kucing garong 77", "9281746350", "ab93847261", "Tr0ub4dor&3x"],
)
def test_passphrases_and_random_strings_are_accepted(password):
    assert password_weakness(password, names=("budi", "Budi Santoso")) is None
    check_password(password)


def test_a_refusal_is_invalid_input_with_its_reason_and_an_english_message():
    with pytest.raises(InvalidInput) as refused:
        check_password("short", min_length=8)
    assert isinstance(refused.value, WeakPassword)
    assert refused.value.reason == SHORT
    assert str(refused.value) == "a password needs at least 8 characters"


def test_the_list_has_thousands_of_common_passwords_and_ships_with_the_package():
    assert len(common_passwords()) > 5000
    assert {"123456", "password", "qwertyuiop", "bismillah"} <= common_passwords()
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    assert "common_passwords.txt" in setup["options.package_data"]["wallet"]


@given(st.text(max_size=60), st.lists(st.text(max_size=20), max_size=3))
def test_every_text_gets_one_verdict(password, names):
    verdict = password_weakness(password, names=names)
    assert verdict is None or verdict in REASONS
    if len(password) < 10:
        assert verdict == SHORT
