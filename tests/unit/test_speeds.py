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


@pytest.mark.parametrize(
    ("routeros", "english", "indonesian"),
    [
        ("5M", "5 Mbps", "5 Mbps"),
        ("512k", "512 kbps", "512 kbps"),
        ("1500k", "1.5 Mbps", "1,5 Mbps"),
        ("1250k", "1.25 Mbps", "1,25 Mbps"),
        # Three decimals would read as thousands in Indonesian ("1.536"): kbps instead.
        ("1536k", "1536 kbps", "1536 kbps"),
        ("2500000", "2.5 Mbps", "2,5 Mbps"),
        ("1G", "1 Gbps", "1 Gbps"),
        ("100", "100 bps", "100 bps"),
    ],
)
def test_a_speed_is_shown_as_people_write_it_in_their_language(routeros, english, indonesian):
    assert format_speed(routeros) == english
    assert format_speed(routeros, ",") == indonesian
    assert parse_speed(indonesian) == parse_speed(routeros)


@given(st.integers(1, 10**6), st.sampled_from(["", "k", "M", "G"]))
def test_a_speed_shown_in_indonesian_reads_back_as_the_same_routeros_text(number, unit):
    routeros = parse_speed(f"{number}{unit}")
    assert parse_speed(format_speed(routeros, ",")) == routeros
