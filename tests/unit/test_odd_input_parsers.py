"""What the fuzzers of tests/unit/test_fuzz_parsers.py found, or would find, kept as
examples: each failed (crashed, froze or read a wrong value) before its fix."""

from __future__ import annotations

import io

import pytest
from librouteros.exceptions import ProtocolError
from librouteros.protocol import ApiProtocol

from agi.authorize import billable_seconds
from agi.authorize import call_id_of as agi_call_id_of
from ami_listener.events import CdrRecord, call_id_of, hms_seconds
from hotspot.backoffice import parse_data_quota
from hotspot.driver import _StringApi, _to_int, parse_duration
from rating.bands import parse_clock
from rating.tariff_csv import read_rates_csv
from wallet.errors import InvalidInput
from wallet.internet import check_rate_limit


def test_a_billsec_with_a_huge_exponent_is_refused_without_expanding_it():
    # int(Decimal("1e20000000")) builds a twenty-million-digit integer.
    assert billable_seconds("1e20000000") is None
    assert billable_seconds("65") == 65 and billable_seconds("65.4") == 65
    assert billable_seconds("") == 0


def test_a_call_id_beyond_64_bits_or_in_other_digits_is_no_call():
    for read in (agi_call_id_of, call_id_of):
        assert read("99999999999999999999") is None
        assert read("\u00b2") is None  # "²".isdigit() is true; int() refuses it
        assert read("\u0665") is None  # int() reads it as 5
        assert read("42") == 42


def test_ami_durations_in_other_digits_read_as_nothing():
    assert hms_seconds("\u00b2:00:00") == 0
    record = CdrRecord.from_event({"billableseconds": "\u00b2", "duration": "9" * 5000})
    assert (record.billsec, record.duration) == (0, 0)


def test_routeros_values_in_other_digits_or_beyond_64_bits_are_not_numbers():
    with pytest.raises(ValueError):
        parse_duration("\u0665m")
    with pytest.raises(ValueError):
        parse_duration("9" * 5000)
    assert _to_int("\u0665") == 0 and _to_int(str(2**64)) == 0 and _to_int("-5") == 0
    with pytest.raises(InvalidInput):
        parse_data_quota("99999999999T")
    with pytest.raises(InvalidInput):
        check_rate_limit("\u0665M/\u0665M")


def test_an_empty_sentence_from_a_router_is_a_protocol_error():
    class Replay:
        def __init__(self, data: bytes) -> None:
            self.stream = io.BytesIO(data)

        def read(self, length: int) -> bytes:
            return self.stream.read(length)

    api = _StringApi(protocol=ApiProtocol(transport=Replay(b"\x00"), encoding="utf-8"))
    with pytest.raises(ProtocolError):
        api.readSentence()


def test_a_tariff_file_with_old_mac_line_ends_reads():
    (rate,) = read_rates_csv("prefix,price_per_minute\r62,1.200\r")
    assert rate.price_per_minute == 1_200_000_000


def test_a_clock_time_in_other_digits_is_refused():
    with pytest.raises(ValueError):
        parse_clock("\u0660\u0668:00")
