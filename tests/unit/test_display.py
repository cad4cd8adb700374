"""Money, numbers and months as the reader of each language reads them (wallet.display,
shared by the admin, the portal and the bots)."""

from __future__ import annotations

from datetime import date

from wallet.display import (
    day_text,
    money_compact_text,
    money_text,
    month_text,
    number_text,
)

MICRO = 1_000_000


def idr(units: int | float, locale: str, **kw) -> str:
    return money_text(int(units * MICRO), precision=0, currency="IDR", locale=locale, **kw)


def test_rupiah_read_by_an_indonesian_and_by_an_english_reader():
    assert idr(85_000, "id") == "Rp85.000"
    assert idr(85_000, "en") == "IDR 85,000"
    assert idr(-5_000, "id") == "-Rp5.000"
    assert idr(-5_000, "en") == "-IDR 5,000"
    assert idr(1_234_567, "id", with_currency=False) == "1.234.567"


def test_the_operators_precision_rounds_half_up_whatever_the_currencys_own_digits():
    assert money_text(12_345_000, precision=2, currency="USD", locale="en") == "$12.35"
    assert money_text(12_345_000, precision=2, currency="USD", locale="id") == "US$12,35"
    assert idr(0.5, "en") == "IDR 1"
    assert money_text(1_500_000, precision=2, currency="IDR", locale="en") == "IDR 1.50"


def test_an_unknown_language_falls_back_to_english():
    assert idr(85_000, "xx") == "IDR 85,000"


def test_numbers_months_and_days_in_each_language():
    assert number_text(1234, locale="id") == "1.234"
    assert number_text(12.5, locale="id", decimals=1) == "12,5"
    assert month_text(date(2026, 12, 1), locale="id") == "Des 2026"
    assert month_text(date(2026, 12, 1), locale="en") == "Dec 2026"
    assert day_text(date(2026, 12, 4), locale="id") == "4 Des"


def test_a_charts_axis_writes_amounts_short():
    assert money_compact_text(1_500_000 * MICRO, currency="IDR", locale="id") == "Rp1,5\xa0jt"
    assert money_compact_text(1_500_000 * MICRO, currency="IDR", locale="en") == "IDR 1.5M"


def test_amounts_are_written_as_babel_writes_them_in_every_language_and_currency():
    # money_text writes the digits itself once it knows a language's shape of amounts
    # (wallet.display._Shape); Babel writing each amount in full is the reference.
    from babel import Locale

    from rating.money import display_amount
    from wallet.display import _babel_money_text

    locales = ["en", "id", "id-ID", "en_IN", "hi", "de", "de_CH", "fr", "ar", "fa", "he"]
    locales += ["ja", "pt_BR", "sw", "nl", "es", "th", "xx", Locale.parse("id")]
    amounts = [0, 1, 499_999, 500_000, 999_999, 1_000_000, 12_345_678, 1_234_567_890_123]
    amounts += [10**18 + 987_654_321, 85_000 * MICRO, 100_000 * MICRO]
    amounts += [-amount for amount in amounts]
    checked = 0
    for locale in locales:
        for currency in ("IDR", "USD", "EUR", "JPY", "INR", "CHF", "GBP", ""):
            for precision in (0, 1, 2, 3):
                for with_currency in (True, False):
                    for micro in amounts:
                        value = display_amount(micro, precision)
                        expected = _babel_money_text(
                            value, precision, currency, locale, with_currency
                        )
                        written = money_text(
                            micro,
                            precision=precision,
                            currency=currency,
                            locale=locale,
                            with_currency=with_currency,
                        )
                        assert written == expected, (locale, currency, precision, micro)
                        checked += 1
    assert checked == 19 * 8 * 4 * 2 * 22
