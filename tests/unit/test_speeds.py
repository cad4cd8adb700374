"""Speeds of internet packages as people write them, and back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wallet.errors import InvalidInput
from wallet.internet import format_speed, parse_speed


@pytest.mark.parametrize(
    ("typed", "routeros"),
    [
        ("5 Mbps", "5M"),
        ("5Mbps", "5M"),
        ("5M", "5M"),
        ("5m", "5M"),
        ("512 kbps", "512k"),
        ("512K", "512k"),
        ("1.5 Mbit/s", "1500k"),
        ("1,5 Mbps", "1500k"),
        ("2 Gbps", "2G"),
        ("2000000", "2M"),
        ("64000 bps", "64k"),
    ],
)
def test_a_speed_written_as_people_write_it_becomes_routeros_text(typed, routeros):
    assert parse_speed(typed) == routeros


@pytest.mark.parametrize("typed", ["fast", "5 Mbps!", "0M", "", "1.0005k", "-5M", "5 MBq"])
def test_what_is_not_a_speed_is_refused(typed):
    with pytest.raises(InvalidInput):
        parse_speed(typed)


@given(st.integers(1, 10**6), st.sampled_from(["", "k", "M", "G"]))
def test_a_speed_shown_to_people_reads_back_as_the_same_routeros_text(number, unit):
    routeros = parse_speed(f"{number}{unit}")
    assert parse_speed(format_speed(routeros)) == routeros
