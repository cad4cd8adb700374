from __future__ import annotations

import pytest

from rating import Rate
from rating.tariff_csv import TariffFileError, read_rates_csv, write_rates_csv

GOOD = """\
prefix,description,connection_fee,price_per_minute,initial_block,increment,minimum_duration,\
band
62811,Telkomsel,100,1500,30,6,0,peak
62811,Telkomsel,100,900.5,30,6,0,offpeak
*,Everything else,0,3000,60,60,10,
"""


def test_a_good_file_gives_rates_in_micro_units():
    rates = read_rates_csv(GOOD)
    assert rates[0] == Rate(
        "62811",
        1_500_000_000,
        connection_fee=100_000_000,
        initial_block=30,
        increment=6,
        band="peak",
        description="Telkomsel",
    )
    assert rates[1].price_per_minute == 900_500_000
    assert rates[2].prefix == "" and rates[2].minimum_duration == 10


def test_export_then_import_gives_the_same_rates():
    rates = read_rates_csv(GOOD)
    assert sorted(read_rates_csv(write_rates_csv(rates)), key=repr) == sorted(rates, key=repr)


def test_sub_micro_prices_round_up():
    rates = read_rates_csv("prefix,price_per_minute\n1,0.0000001\n")
    assert rates[0].price_per_minute == 1


def test_every_bad_line_is_reported_with_its_number():
    text = (
        "prefix,price_per_minute,increment\n"
        "62,1000,6\n"
        "6a2,1000,6\n"
        "63,-5,6\n"
        "64,1000,0\n"
        "65,abc,6\n"
        "62,1000,6\n"
        "66,1000\n"
    )
    with pytest.raises(TariffFileError) as caught:
        read_rates_csv(text)
    lines = [error.split(":")[0] for error in caught.value.errors]
    assert lines == ["line 3", "line 4", "line 5", "line 6", "line 7", "line 8"]


def test_unknown_and_missing_columns_are_refused():
    with pytest.raises(TariffFileError, match="unknown column 'pirce'"):
        read_rates_csv("prefix,pirce\n1,2\n")
    with pytest.raises(TariffFileError, match="missing column 'price_per_minute'"):
        read_rates_csv("prefix,description\n1,x\n")


def test_a_prefix_longer_than_twenty_digits_is_refused():
    with pytest.raises(TariffFileError, match="line 2: prefix longer than 20"):
        read_rates_csv("prefix,price_per_minute\n" + "1" * 21 + ",1\n")


def test_descriptions_that_look_like_formulas_are_neutralized_on_export():
    text = write_rates_csv([Rate("1", 1, description='=HYPERLINK("x")')])
    assert "'=HYPERLINK" in text


def test_a_byte_order_mark_from_excel_is_accepted():
    assert read_rates_csv("\ufeffprefix,price_per_minute\n1,2\n")[0].prefix == "1"
