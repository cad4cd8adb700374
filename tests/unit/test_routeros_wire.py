"""The emulator's wire codec agrees with RouterOS's rules and with librouteros's own codec.

If the emulator and the client shared a mistake, the integration tests would pass
against a router that does not exist; so the codec is checked here against both the
documented boundaries and librouteros's independent implementation.
"""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from librouteros import protocol as ros
from librouteros.exceptions import ProtocolError
from librouteros.query import And, Key, Or

from hotspot.driver import format_duration, parse_duration
from tests.support import routeros_emulator as emu

# (length, size of its prefix) at and around every boundary of the encoding.
BOUNDARIES = [
    (0, 1),
    (1, 1),
    (0x7F, 1),
    (0x80, 2),
    (0x81, 2),
    (0x3FFF, 2),
    (0x4000, 3),
    (0x1FFFFF, 3),
    (0x200000, 4),
    (0xFFFFFFF, 4),
    (0x10000000, 5),
    (0xFFFFFFFF, 5),
]
CLIENT_BOUNDARIES = [(n, size) for n, size in BOUNDARIES if n < 0x10000000]


class _BytesTransport:
    """Just enough of librouteros's SocketTransport to feed it bytes from memory."""

    def __init__(self, data: bytes) -> None:
        self.stream = io.BytesIO(data)

    def read(self, length: int) -> bytes:
        return self.stream.read(length)

    def write(self, data: bytes) -> None:  # pragma: no cover - never written to
        raise AssertionError("read-only transport")

    def close(self) -> None:
        pass


@pytest.mark.parametrize(("length", "size"), BOUNDARIES)
def test_every_length_boundary_round_trips_through_the_emulator_codec(length, size):
    prefix = emu.encode_length(length)
    assert len(prefix) == size
    assert emu.prefix_size(prefix[0]) == size
    assert emu.decode_length(prefix) == length


@pytest.mark.parametrize(("length", "size"), CLIENT_BOUNDARIES)
def test_emulator_and_librouteros_encode_every_boundary_to_the_same_bytes(length, size):
    ours = emu.encode_length(length)
    theirs = ros.encode_length(length)
    assert ours == theirs
    assert ros.determine_length(ours[:1]) == size - 1
    assert ros.decode_length(ours) == length
    assert emu.decode_length(theirs) == length


def test_the_first_byte_of_each_prefix_form_is_what_routeros_documents():
    assert emu.encode_length(0x80)[0] & 0xC0 == 0x80
    assert emu.encode_length(0x4000)[0] & 0xE0 == 0xC0
    assert emu.encode_length(0x200000)[0] & 0xF0 == 0xE0
    assert emu.encode_length(0x10000000) == b"\xf0\x10\x00\x00\x00"


@given(st.integers(min_value=0, max_value=0xFFFFFFF))
def test_emulator_and_librouteros_agree_on_any_length_both_can_carry(length):
    assert emu.encode_length(length) == ros.encode_length(length)
    assert emu.decode_length(ros.encode_length(length)) == length


def test_librouteros_cannot_carry_five_byte_lengths_which_the_emulator_still_speaks():
    # RouterOS defines 0xF0 + 4 bytes for words of 256 MiB and more; librouteros 4.2
    # stops at the 4-byte form. Nothing pulsa sends comes close, but the emulator
    # must not inherit the client's limit.
    with pytest.raises(ProtocolError):
        ros.encode_length(0x10000000)
    with pytest.raises(ProtocolError):
        ros.determine_length(b"\xf0")
    assert emu.decode_length(emu.encode_length(0x10000000)) == 0x10000000


@pytest.mark.parametrize("control", [0xF1, 0xF7, 0xF8, 0xFF])
def test_reserved_and_unassigned_control_bytes_are_rejected(control):
    with pytest.raises(emu.WireError):
        emu.prefix_size(control)


def test_lengths_that_do_not_fit_any_prefix_are_rejected():
    with pytest.raises(emu.WireError):
        emu.encode_length(0x100000000)
    with pytest.raises(emu.WireError):
        emu.encode_length(-1)


@pytest.mark.parametrize("length", [0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000])
def test_a_sentence_written_by_librouteros_is_read_word_for_word_by_the_emulator(length):
    words = ["/ip/hotspot/user/add", "=name=x", "=comment=" + "k" * (length - 9)]
    data = ros.encode_sentence(*words, encoding="utf-8")
    read = emu.stream_reader(io.BytesIO(data))
    assert emu.decode_words(emu.read_sentence(read)) == words
    assert len(words[2]) == length


@pytest.mark.parametrize("length", [0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000])
def test_a_sentence_written_by_the_emulator_is_read_word_for_word_by_librouteros(length):
    words = ["!re", "=.id=*1", "=comment=" + "k" * (length - 9)]
    protocol = ros.ApiProtocol(
        transport=_BytesTransport(emu.encode_sentence(words)), encoding="utf-8"
    )
    reply, rest = protocol.readSentence()
    assert [reply, *rest] == words


def test_non_ascii_text_is_counted_in_utf8_bytes_not_characters():
    word = "=comment=Pak Budi – Warung Kopi ☕"
    encoded = emu.encode_word(word)
    assert encoded == ros.encode_word(word, "utf-8")
    assert encoded[0] == len(word.encode("utf-8")) != len(word)


def test_bytes_that_are_not_utf8_survive_a_round_trip_unchanged():
    raw = b"=comment=caf\xe9"  # latin-1, as an old Winbox on Windows might have stored it
    read = emu.stream_reader(io.BytesIO(emu.encode_sentence([raw])))
    [word] = emu.decode_words(emu.read_sentence(read))
    assert emu.encode_word(word) == emu.encode_word(raw)


def test_an_empty_sentence_is_just_the_terminating_zero_byte():
    assert emu.encode_sentence([]) == b"\x00"
    assert emu.read_sentence(emu.stream_reader(io.BytesIO(b"\x00"))) == []


def test_a_stream_cut_inside_a_word_is_reported_not_padded():
    data = emu.encode_sentence(["=comment=abcdef"])[:-4]
    with pytest.raises(EOFError):
        emu.read_sentence(emu.stream_reader(io.BytesIO(data)))


# -- what librouteros does to values on the way in ---------------------------------


def test_librouteros_turns_digit_strings_into_ints_unless_that_would_change_them():
    assert ros.parse_word("=name=12345") == ("name", 12345)
    assert ros.parse_word("=name=-7") == ("name", -7)
    assert ros.parse_word("=name=0812345") == ("name", "0812345")
    assert ros.parse_word("=name=+62812") == ("name", "+62812")


def test_librouteros_turns_yes_no_true_false_into_bools():
    assert ros.parse_word("=disabled=true") == ("disabled", True)
    assert ros.parse_word("=disabled=yes") == ("disabled", True)
    assert ros.parse_word("=disabled=no") == ("disabled", False)
    assert ros.parse_word("=disabled=false") == ("disabled", False)
    assert ros.parse_word("=comment=a=b") == ("comment", "a=b")


def test_librouteros_sends_python_bools_as_yes_and_no():
    assert ros.compose_word("disabled", True) == "=disabled=yes"
    assert ros.compose_word("shared-users", 1) == "=shared-users=1"


# -- queries, evaluated as RouterOS's stack machine ---------------------------------

ROWS = [
    {".id": "*1", "name": "andi", "disabled": "false", "comment": "pulsa:1", "bytes-in": "10"},
    {".id": "*2", "name": "budi", "disabled": "true", "bytes-in": "200"},
    {".id": "*3", "name": "citra", "disabled": "false", "comment": "manual", "bytes-in": "3000"},
]


def _select(*queries: str) -> list[str]:
    words = [query.removeprefix("?") for query in queries]
    return [row["name"] for row in ROWS if emu.row_matches(row, words)]


def test_query_words_librouteros_emits_select_the_rows_routeros_would():
    name, disabled = Key("name"), Key("disabled")
    assert _select(*(name == "budi")) == ["budi"]
    assert _select(*(name != "budi")) == ["andi", "citra"]
    assert _select(*name.In("andi", "citra")) == ["andi", "citra"]
    assert _select(*Or(name == "andi", name == "budi")) == ["andi", "budi"]
    assert _select(*And(name != "andi", disabled == "false")) == ["citra"]


def test_queries_on_presence_absence_and_order_work():
    assert _select("?comment") == ["andi", "citra"]
    assert _select("?-comment") == ["budi"]
    assert _select("?>bytes-in=100") == ["budi", "citra"]
    assert _select("?<bytes-in=100") == ["andi"]
    assert _select() == ["andi", "budi", "citra"]


def test_stack_indexes_copy_or_replace_values_as_the_manual_describes():
    # Three values pushed; "2" at the end of the word keeps only the bottom one.
    assert _select("?name=andi", "?name=budi", "?name=citra", "?#2") == ["andi"]
    # "0." pushes a copy of the top, then "|" ors it with itself.
    assert _select("?name=budi", "?#0.|") == ["budi"]
    # "." outside an index duplicates the top value.
    assert _select("?name=citra", "?#.&") == ["citra"]


def test_a_query_that_underflows_the_stack_is_an_error():
    with pytest.raises(emu.QueryError):
        emu.row_matches(ROWS[0], ["#|"])


# -- time values ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (59, "59s"), (3600, "1h"), (5400, "1h30m"), (86400, "1d"), (694861, "1w1d1h1m1s")],
)
def test_driver_and_emulator_write_time_values_the_way_routeros_prints_them(seconds, text):
    assert format_duration(seconds) == emu.format_duration(seconds) == text
    assert parse_duration(text) == emu.parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "seconds"), [("3600", 3600), ("01:00:00", 3600), ("1d02:03:04", 93784), ("1s500ms", 1)]
)
def test_the_driver_reads_routeros_6_and_7_time_formats(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "1x", "h1", "1h 2m"])
def test_text_that_is_not_a_time_value_is_rejected(text):
    with pytest.raises(ValueError):
        parse_duration(text)
