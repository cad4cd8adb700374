"""Every parser of outside input, fed what Hypothesis makes up: it returns a value of its
kind or raises its own documented error, never anything else, and never takes long
(issue 12: "a parser either returns a valid value or raises the project's own error,
within a bounded time"). The per-example deadline is generous on purpose: it is there to
catch a parser that expands an exponent or backtracks for seconds, not to time it."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from librouteros.exceptions import ConnectionClosed, FatalError, ProtocolError

from agi.authorize import AgiCall, AgiError, billable_seconds, peer_from_channel
from agi.authorize import call_id_of as agi_call_id_of
from agi.fastagi import agi_arguments, read_environment, route_name
from agi.numbers import NotANumber, normalize_number
from ami_listener.events import AmiEvent, CdrRecord, call_id_of, chanvars, hms_seconds, text
from hotspot.backoffice import parse_data_quota, parse_time_quota, split_rate_limit
from hotspot.driver import _session_from_row, _StringApi, _user_from_row, parse_duration
from pulsa.cli import UserError
from pulsa.cli_hotspot import parse_bytes, parse_validity
from rating.bands import parse_clock, parse_days
from rating.money import MAX_UNITS, MICRO, AmountError, parse_amount, parse_rate
from rating.tariff import Rate
from rating.tariff_csv import TariffFileError, read_rates_csv
from wallet.errors import InvalidInput
from wallet.internet import check_rate_limit, parse_speed

BIGINT = 2**63 - 1
FUZZ = settings(
    max_examples=200,
    deadline=timedelta(seconds=2),
    suppress_health_check=[HealthCheck.too_slow],
)

# Text with what trips parsers up: other scripts' digits, exponents, separators, signs,
# huge runs of digits, control characters, and any other character now and then.
TRICKY = "0123456789.,+-eE:/ \t\n\r\x00dhmswkKMGTiBRpIDR\u0665\u00b2\u06f5\uff15\u00bd"
tricky_text = st.one_of(
    st.text(alphabet=st.sampled_from(TRICKY), max_size=40),
    st.text(max_size=40),
    st.builds(lambda digits, tail: "9" * digits + tail, st.integers(1, 5000), st.text(TRICKY)),
    st.builds(lambda exponent: f"1e{exponent}", st.integers(0, 10**9)),
)


# --- money -----------------------------------------------------------------------------


@FUZZ
@given(tricky_text, st.integers(0, 6), st.sampled_from(["IDR", "USD", ""]))
def test_a_typed_amount_is_read_within_bounds_or_refused(text, precision, currency):
    for parse in (parse_amount, parse_rate):
        try:
            micro = parse(text, precision=precision, currency=currency)
        except AmountError as error:
            assert str(error)
            continue
        assert isinstance(micro, int)
        assert abs(micro) <= (MAX_UNITS + 1) * MICRO


cells = st.one_of(tricky_text, st.sampled_from(["62", "*", "1.200", "0,5", "60", "peak", ""]))


@FUZZ
@given(
    st.lists(st.lists(cells, min_size=1, max_size=6), max_size=6),
    st.sampled_from(
        [
            "prefix,price_per_minute",
            "prefix,price_per_minute,connection_fee,increment,initial_block",
            "prefix,price_per_minute,minimum_duration,grace,max_duration,band",
        ]
    ),
    st.integers(0, 2),
)
def test_a_tariff_file_gives_rates_or_every_bad_line(rows, header, precision):
    body = "\n".join(",".join(row) for row in rows)
    try:
        rates = read_rates_csv(f"{header}\n{body}\n", precision=precision)
    except TariffFileError as error:
        assert error.errors and all(line.startswith("line ") for line in error.errors)
        return
    assert rates and all(isinstance(rate, Rate) for rate in rates)
    for rate in rates:
        assert 0 <= rate.price_per_minute <= BIGINT and 0 <= rate.connection_fee <= BIGINT
        assert 0 <= rate.increment <= BIGINT and 0 <= rate.initial_block <= BIGINT


@FUZZ
@given(st.text(max_size=400))
def test_any_text_as_a_tariff_file_gives_rates_or_every_bad_line(content):
    try:
        read_rates_csv(content)
    except TariffFileError as error:
        assert error.errors


# --- time bands --------------------------------------------------------------------------


@FUZZ
@given(tricky_text)
def test_band_days_and_clock_times_are_read_or_refused(text):
    try:
        days = parse_days(text)
    except ValueError:
        pass
    else:
        assert days and days <= set(range(7))
    try:
        seconds = parse_clock(text)
    except ValueError:
        pass
    else:
        assert 0 <= seconds <= 86400
        assert all(ch.isascii() for ch in text if ch.isdigit())


# --- durations, data sizes, rate limits ------------------------------------------------------


@FUZZ
@given(tricky_text)
def test_a_routeros_duration_is_whole_seconds_within_64_bits_or_refused(text):
    try:
        seconds = parse_duration(text)
    except ValueError:
        return
    assert 0 <= seconds <= BIGINT


@FUZZ
@given(tricky_text)
def test_a_package_quota_is_positive_within_64_bits_or_refused(text):
    for parse in (parse_data_quota, parse_time_quota):
        try:
            value = parse(text)
        except InvalidInput:
            continue
        assert value is None or 1 <= value <= BIGINT


@FUZZ
@given(tricky_text)
def test_the_commands_validity_and_data_size_are_read_or_refused(text):
    try:
        value, unit = parse_validity(text)
    except UserError:
        pass
    else:
        assert 0 <= value <= BIGINT and unit in ("minutes", "hours", "days", "months")
    try:
        size = parse_bytes(text)
    except UserError:
        pass
    else:
        assert 0 <= size <= BIGINT


speed_words = st.text(alphabet=st.sampled_from("0123456789.kMG/smhd \u0665x"), max_size=60)


@FUZZ
@given(st.one_of(speed_words, tricky_text))
def test_a_rate_limit_is_routeros_text_or_refused(text):
    try:
        checked = check_rate_limit(text)
    except InvalidInput:
        return
    assert checked.isascii() and 1 <= len(checked.split()) <= 4
    parts = split_rate_limit(checked)
    assert parts.burst_time is None or 0 <= parts.burst_time <= BIGINT


@FUZZ
@given(st.one_of(speed_words, tricky_text, st.sampled_from(["5 Mbps", "1.5 Mbit/s", "512k"])))
def test_a_speed_as_people_write_it_is_routeros_text_or_refused(text):
    try:
        speed = parse_speed(text)
    except InvalidInput:
        return
    assert check_rate_limit(speed) == speed


# --- AGI -----------------------------------------------------------------------------------


def _environment(data: bytes) -> dict[str, str] | None:
    async def read():
        reader = asyncio.StreamReader(limit=64 * 1024)
        reader.feed_data(data)
        reader.feed_eof()
        return await read_environment(reader)

    try:
        return asyncio.run(read())
    except AgiError:
        return None


agi_lines = st.lists(
    st.one_of(
        st.builds(
            lambda key, value: f"agi_{key}: {value}",
            st.sampled_from(["extension", "callerid", "channel", "arg_1", "arg_2", "uniqueid"]),
            tricky_text,
        ),
        tricky_text,
    ),
    max_size=8,
)


@FUZZ
@given(st.one_of(st.binary(max_size=300), agi_lines.map(lambda ls: "\n".join(ls).encode())))
def test_an_agi_environment_is_read_or_refused_as_not_agi(data):
    env = _environment(data + b"\n\n")
    if env is None:
        return
    assert all(key.startswith("agi_") for key in env)
    call = AgiCall.from_agi(env, agi_arguments(env))
    assert isinstance(call.dialled, str) and isinstance(call.peer, str)
    assert isinstance(route_name(env.get("agi_network_script", "")), str)


@FUZZ
@given(tricky_text, tricky_text)
def test_what_the_dialplan_passes_to_the_agi_is_read_or_refused(first, second):
    try:
        number = normalize_number(first, country_code="62", trunk_prefix="0")
    except NotANumber:
        pass
    else:
        assert number.isascii() and number.isdigit() and len(number) <= 20
    assert isinstance(peer_from_channel(first), str)
    call_id = agi_call_id_of(first)
    assert call_id is None or 1 <= call_id <= BIGINT
    seconds = billable_seconds(second)
    assert seconds is None or 0 <= seconds < 10**9


# --- AMI -----------------------------------------------------------------------------------

ami_headers = st.lists(
    st.builds(
        lambda key, value: f"{key}: {value}",
        st.sampled_from(
            [
                "Event",
                "UniqueID",
                "BillableSeconds",
                "Duration",
                "ChanVariable",
                "Disposition",
                "Value",
            ]
        ),
        tricky_text,
    ),
    max_size=10,
)


@FUZZ
@given(st.one_of(ami_headers.map("\r\n".join), st.text(max_size=300)))
def test_an_ami_event_is_read_whatever_asterisk_sends(raw):
    event = AmiEvent.parse(raw)
    record = CdrRecord.from_event(event)
    assert 0 <= record.billsec < 10**9 and 0 <= record.duration < 10**9
    assert isinstance(chanvars(event), dict)
    call_id = call_id_of(text(event, "Value"))
    assert call_id is None or 1 <= call_id <= BIGINT
    assert 0 <= hms_seconds(text(event, "Duration")) < 10**12


# --- RouterOS ------------------------------------------------------------------------------

row_values = st.one_of(tricky_text, st.sampled_from(["1w2d3h", "00:01:00", "true", "123"]))


@FUZZ
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "limit-uptime",
                "limit-bytes-total",
                "uptime",
                "bytes-in",
                "bytes-out",
                "disabled",
                "name",
            ]
        ),
        row_values,
    )
)
def test_a_routeros_row_becomes_a_user_and_a_session_whatever_it_holds(row):
    user = _user_from_row(row)
    session = _session_from_row(row)
    for number in (user.uptime_seconds, user.bytes_in, user.bytes_out, session.bytes_in):
        assert 0 <= number < 2**64
    assert user.limit_uptime is None or 0 <= user.limit_uptime <= BIGINT


class _Bytes:
    """A transport that replays bytes from a router, then is closed."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)

    def read(self, length: int) -> bytes:
        data = self.stream.read(length)
        if len(data) < length:
            raise ConnectionClosed("Connection unexpectedly closed.")
        return data

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


@FUZZ
@given(
    st.one_of(
        st.binary(max_size=200),
        st.lists(st.binary(max_size=20), max_size=6).map(
            lambda words: b"".join(bytes([len(w)]) + w for w in words) + b"\x00"
        ),
    )
)
def test_a_routeros_reply_is_a_sentence_or_a_protocol_error(data):
    from librouteros.protocol import ApiProtocol

    api = _StringApi(protocol=ApiProtocol(transport=_Bytes(data), encoding="utf-8"))
    try:
        reply, values = api.readSentence()
    except (ProtocolError, ConnectionClosed, FatalError):
        return
    assert isinstance(reply, str) and all(isinstance(v, str) for v in values.values())
