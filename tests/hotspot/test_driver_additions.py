"""What the hotspot code added to the driver, through librouteros and the emulator."""

from __future__ import annotations

import pytest

from hotspot.driver import RouterDriver
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
