"""agi.numbers: what was dialled becomes the digits the tariff is written in."""

from __future__ import annotations

import pytest

from agi.numbers import MAX_DIGITS, NotANumber, normalize_number

INDONESIA = {"country_code": "62", "trunk_prefix": "0"}


@pytest.mark.parametrize(
    ("dialled", "expected"),
    [
        ("081234567", "081234567"),
        ("6221555", "6221555"),
        ("112", "112"),
        ("+6281234567", "6281234567"),
        ("006281234567", "6281234567"),
        ("+44 20 7946-0018", "442079460018"),
        ("(021) 555.1234", "0215551234"),
    ],
)
def test_without_a_country_code_numbers_keep_their_digits_and_lose_plus_or_00(dialled, expected):
    assert normalize_number(dialled) == expected


@pytest.mark.parametrize(
    ("dialled", "expected"),
    [
        ("081234567", "6281234567"),
        ("0215551234", "62215551234"),
        ("+6281234567", "6281234567"),
        ("006581234567", "6581234567"),
        ("112", "112"),
        ("6281234567", "6281234567"),
    ],
)
def test_a_national_number_becomes_international_when_the_country_code_is_set(dialled, expected):
    assert normalize_number(dialled, **INDONESIA) == expected


def test_the_outbound_prefix_is_stripped_once_before_anything_else():
    assert normalize_number("9081234567", outbound_prefix="9", **INDONESIA) == "6281234567"
    assert normalize_number("9+4420794600", outbound_prefix="9") == "4420794600"
    assert normalize_number("99112", outbound_prefix="9") == "9112"


def test_a_number_without_the_outbound_prefix_is_left_as_it_is():
    assert normalize_number("081234567", outbound_prefix="9", **INDONESIA) == "6281234567"


def test_an_outbound_prefix_of_zero_and_a_trunk_prefix_of_zero_work_together():
    assert normalize_number("0081234567", outbound_prefix="0", **INDONESIA) == "6281234567"
    assert normalize_number("000441234", outbound_prefix="0", **INDONESIA) == "441234"


def test_without_a_trunk_prefix_national_numbers_are_not_rewritten():
    assert normalize_number("081234567", country_code="62", trunk_prefix="") == "081234567"


@pytest.mark.parametrize(
    "dialled",
    ["", "   ", "s", "abc", "*98", "0812#", "62+812", "+", "00", "٠٨١٢٣", "1" * (MAX_DIGITS + 1)],
)
def test_what_is_not_a_telephone_number_is_refused(dialled):
    with pytest.raises(NotANumber):
        normalize_number(dialled, **INDONESIA)


def test_the_outbound_prefix_alone_is_not_a_number():
    with pytest.raises(NotANumber, match="no digits"):
        normalize_number("9", outbound_prefix="9")


def test_the_longest_number_a_tariff_can_hold_is_accepted():
    assert normalize_number("1" * MAX_DIGITS) == "1" * MAX_DIGITS
