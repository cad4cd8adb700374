"""Typed amounts and tariff prices: one reading of dots, commas, signs and currency marks,
and nothing that could freeze the process or silently change money (issue 12)."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rating.money import (
    MAX_TEXT,
    MAX_UNITS,
    MICRO,
    AmountError,
    format_money,
    parse_amount,
    parse_rate,
)
from rating.tariff import Rate
from rating.tariff_csv import read_rates_csv, write_rates_csv


def idr(text: str) -> int:
    return parse_amount(text, precision=0, currency="IDR")


def usd(text: str) -> int:
    return parse_amount(text, precision=2, currency="USD")


def refusal(read, text: str) -> AmountError:
    with pytest.raises(AmountError) as caught:
        read(text)
    return caught.value


@pytest.mark.parametrize(
    "text",
    [
        "50000",
        "50.000",
        "50,000",
        "Rp 50.000",
        "Rp. 50.000",
        "Rp 50.000,-",
        "IDR 50000",
        "50.000 IDR",
    ],
)
def test_fifty_thousand_rupiah_reads_the_same_however_it_is_written(text):
    assert idr(text) == 50_000 * MICRO


def test_thousands_separators_group_every_three_digits():
    assert idr("1.200") == 1_200 * MICRO
    assert idr("1.250.000") == 1_250_000 * MICRO
    assert idr("1,250,000") == 1_250_000 * MICRO
    assert idr("50.000,00") == 50_000 * MICRO
    assert refusal(idr, "1.23.4").reason == "groups"
    assert refusal(idr, "12.34.567").reason == "groups"


def test_one_and_a_half_rupiah_is_refused_showing_how_it_was_read():
    error = refusal(idr, "1,5")
    assert error.reason == "not_whole"
    assert "read as 1.5" in str(error) and "write 1 or 2" in str(error)


def test_huge_exponent_is_refused_without_arithmetic():
    # Expanded, 1e20000000 is an integer of twenty million digits: seconds of CPU under
    # the interpreter lock. It must be refused from its characters alone.
    for text in ("1e20000000", "1E+20000000", "Rp 1e5", "5e-3"):
        assert refusal(idr, text).reason == "exponent"
        assert refusal(lambda t: parse_rate(t, precision=0), text).reason == "exponent"


def test_a_text_longer_than_an_amount_can_be_is_refused_unread():
    assert refusal(idr, "9" * 10_000_000).reason == "too_long"
    assert refusal(idr, "1" * (MAX_TEXT + 1)).reason == "too_long"


def test_at_most_one_sign():
    assert idr("-5") == -5 * MICRO
    assert idr("Rp -5.000") == idr("-Rp 5.000") == -5_000 * MICRO
    assert usd("USD -2.50") == -2_500_000
    for text in ("--5", "+-5", "-Rp -5", "5-", "- -5"):
        assert refusal(idr, text).reason in ("sign", "number")


@pytest.mark.parametrize("digit", ["\u0665", "\u00b2", "\u06f5", "\uff15", "\u0e55", "\u00bd"])
def test_only_ascii_digits_count(digit):
    assert refusal(idr, f"1{digit}").reason == "digits"


def test_amounts_beyond_the_bound_are_refused_before_they_reach_64_bits():
    assert idr(f"{MAX_UNITS}") == MAX_UNITS * MICRO
    assert refusal(idr, f"{MAX_UNITS + 1}").reason == "too_large"
    assert refusal(idr, "9.200.000.000.000").reason == "too_large"
    assert refusal(idr, "99999999999999999999").reason == "too_large"


def test_a_currency_with_decimals_reads_both_conventions_and_refuses_the_ambiguous():
    assert usd("1,500.50") == usd("1.500,50") == 1_500_500_000
    assert usd("12.5") == usd("12,5") == 12_500_000
    assert usd("1,000,000") == 1_000_000 * MICRO
    error = refusal(usd, "1,500")
    assert error.reason == "ambiguous"
    assert "1500 or 1.500" in str(error) and "write 1500 or 1.5" in str(error)
    assert refusal(usd, "0.125").reason == "decimals"


def test_words_and_special_values_are_not_amounts():
    words = ("", "  ", "abc", "NaN", "Infinity", "inf", "5.", "1..5", "0x10", "1_000", "USD 5")
    for text in (*words, "Rp", "IDR", "-", "Rp -", ".-", ",-"):
        with pytest.raises(AmountError):
            idr(text)


def test_a_tariff_price_of_one_thousand_two_hundred_with_a_dot_is_1200_rupiah():
    assert parse_rate("1.200", precision=0) == 1_200 * MICRO
    rates = read_rates_csv('prefix,price_per_minute,connection_fee\n62,1.200,"1,000"\n')
    assert (rates[0].price_per_minute, rates[0].connection_fee) == (1_200 * MICRO, 1_000 * MICRO)


def test_a_tariff_fraction_is_written_so_it_cannot_read_as_thousands():
    assert parse_rate("1.2", precision=0) == 1_200_000
    assert parse_rate("0.125", precision=0) == 125_000
    assert parse_rate("1.1250", precision=0) == 1_125_000
    assert parse_rate("1,5", precision=0) == 1_500_000
    assert refusal(lambda t: parse_rate(t, precision=2), "1.500").reason == "ambiguous"


def test_a_tariff_with_an_exponent_or_unicode_digits_is_refused_line_by_line():
    with pytest.raises(ValueError, match=r"line 2: price_per_minute:.*exponent"):
        read_rates_csv("prefix,price_per_minute\n62,1e20000000\n")
    with pytest.raises(ValueError, match="line 2: increment must be whole seconds"):
        read_rates_csv("prefix,price_per_minute,increment\n62,1,\u00b2\n")


amounts = st.integers(min_value=-MAX_UNITS * MICRO, max_value=MAX_UNITS * MICRO)


@settings(max_examples=300)
@given(micro=amounts, precision=st.sampled_from([0, 1, 2]))
def test_a_displayed_amount_reads_back_as_the_same_amount(micro, precision):
    # The amount as the currency shows it: whole units for IDR, cents for USD.
    quantum = MICRO // 10**precision
    shown = (micro // quantum) * quantum
    text = format_money(shown, precision, "IDR" if precision == 0 else "USD")
    currency = "IDR" if precision == 0 else "USD"
    assert parse_amount(text, precision=precision, currency=currency) == shown


@settings(max_examples=300)
@given(
    price=st.integers(min_value=0, max_value=MAX_UNITS * MICRO), precision=st.sampled_from([0, 2])
)
def test_a_tariff_file_written_by_pulsa_reads_back_the_same_prices(price, precision):
    text = write_rates_csv([Rate("62", price, connection_fee=price // 7)])
    (rate,) = read_rates_csv(text, precision=precision)
    assert (rate.price_per_minute, rate.connection_fee) == (price, price // 7)


def test_a_negative_amount_may_end_with_the_no_cents_dash():
    assert parse_amount("-Rp 5.000,-", precision=0, currency="IDR") == -5_000 * MICRO
    assert parse_amount("-0.-", precision=0, currency="IDR") == 0
    with pytest.raises(AmountError):
        parse_amount("--5.000,-", precision=0, currency="IDR")


@settings(max_examples=500)
@given(text=st.text(alphabet=st.sampled_from("0123456789.,+- eE$Rp\u0665\u00b2"), max_size=30))
@example("-0.-")  # found by Hypothesis: the sign and the no-cents dash
def test_an_accepted_amount_has_only_ascii_digits_and_stays_in_bounds(text):
    for precision in (0, 2):
        try:
            micro = parse_amount(text, precision=precision, currency="IDR")
        except AmountError:
            continue
        assert all(ch.isascii() for ch in text if ch.isdigit() or ch.isnumeric())
        assert abs(micro) <= MAX_UNITS * MICRO + MICRO
        # One sign at most; a trailing ",-" or ".-" ("Rp 5.000,-": no cents) is no sign.
        number = text.strip()
        if number.endswith((",-", ".-")):
            number = number[:-2]
        assert number.count("-") + number.count("+") <= 1
