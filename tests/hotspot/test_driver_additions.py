"""What the hotspot code added to the driver, through librouteros and the emulator."""

from __future__ import annotations

import pytest

from hotspot.driver import RouterDriver, RouterError, parse_round_trip
from tests.hotspot.router import API_PASSWORD, API_USER, USERS, HotspotRouter


@pytest.fixture
def router():
    with HotspotRouter() as emulator:
        yield emulator


@pytest.fixture
def driver(router):
    with RouterDriver("127.0.0.1", API_USER, API_PASSWORD, port=router.port, timeout=2) as d:
        yield d


def test_add_user_adds_in_one_command(driver, router):
    router.commands.clear()
    assert driver.add_user("12345", "pw", "default", limit_uptime=3600, comment="c") == "added"
    assert [c.command for c in router.commands if c.command != "/login"] == [f"{USERS}/add"]
    [user] = driver.list_users()
    assert (user.name, user.password, user.limit_uptime) == ("12345", "pw", 3600)


def test_add_user_for_a_user_that_exists_falls_back_to_ensuring_it(driver, router):
    driver.add_user("andi", "old", "default")
    assert driver.add_user("andi", "new", "default", disabled=True) == "updated"
    assert driver.add_user("andi", "new", "default", disabled=True) == "unchanged"
    [user] = router.rows(USERS)
    assert (user["password"], user["disabled"]) == ("new", "true")


def test_reset_counters_zeroes_uptime_and_bytes(driver, router):
    driver.add_user("budi", "pw", "default")
    router.set_user("budi", uptime="1h", **{"bytes-in": "77", "bytes-out": "88"})
    assert driver.reset_counters("budi") is True
    assert driver.reset_counters("nobody") is False
    [user] = driver.list_users()
    assert (user.uptime_seconds, user.bytes_in, user.bytes_out) == (0, 0, 0)


def test_interfaces_are_read_with_their_byte_counters(driver):
    interfaces = {i.name: i for i in driver.list_interfaces()}
    assert interfaces["ether1"].rx_bytes == 8123456 and interfaces["ether1"].running


def test_a_ping_from_the_router_counts_the_echoes_and_their_round_trips(driver, router):
    router.ping_times["10.0.0.1"] = "1ms250us"
    result = driver.ping("10.0.0.1", count=3)
    assert (result.sent, result.received, result.packet_loss) == (3, 3, 0)
    assert (result.min_rtt_us, result.avg_rtt_us, result.max_rtt_us) == (1250, 1250, 1250)
    assert [reply.seq for reply in result.replies] == [0, 1, 2]
    [ping] = [c for c in router.commands if c.command == "/ping"]
    assert ping.attributes == {"address": "10.0.0.1", "count": "3"}


def test_a_ping_may_send_its_echoes_faster_than_one_a_second(driver, router):
    router.ping_times["10.0.0.1"] = "900us"
    assert driver.ping("10.0.0.1", count=2, interval_ms=200).received == 2
    [ping] = [c for c in router.commands if c.command == "/ping"]
    assert ping.attributes["interval"] == "200ms"
    with pytest.raises(ValueError):
        driver.ping("10.0.0.1", count=2, interval_ms=5)


def test_a_ping_nobody_answers_is_a_result_with_everything_lost(driver, router):
    result = driver.ping("10.9.9.9", count=2)
    assert not result.reachable
    assert (result.sent, result.received, result.packet_loss) == (2, 0, 100)
    assert result.avg_rtt_us is None
    assert [reply.status for reply in result.replies] == ["timeout", "timeout"]


def test_a_ping_to_an_address_routeros_cannot_read_is_a_router_error(driver):
    with pytest.raises(RouterError, match="invalid value"):
        driver.ping("not an address!", count=1)


def test_a_ping_count_out_of_range_is_refused_before_the_router_is_asked(driver, router):
    with pytest.raises(ValueError):
        driver.ping("10.0.0.1", count=0)
    assert not [c for c in router.commands if c.command == "/ping"]


@pytest.mark.parametrize(
    ("text", "micros"),
    [("11ms469us", 11469), ("11ms", 11000), ("1s5ms", 1_005_000), ("0ms", 0), ("", None)],
)
def test_round_trip_times_are_read_as_routeros_prints_them(text, micros):
    assert parse_round_trip(text) == micros


@pytest.mark.parametrize("text", ["timeout", "5", "1x", "ms5", "1ms 2us"])
def test_anything_else_is_no_round_trip(text):
    assert parse_round_trip(text) is None
