"""How long a registration from the public page must wait: an address is limited first,
and a busy site only spaces registrations out, it never closes."""

from __future__ import annotations

from datetime import datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from hotspot.backoffice import RegistrationLimits, registration_wait

NOW = datetime(2026, 12, 4, 12, 0, 0)
LIMITS = RegistrationLimits(per_address=5, per_address_when_busy=1, busy_after=60)


def ago(*seconds: int) -> list[datetime]:
    return [NOW - timedelta(seconds=s) for s in seconds]


def test_the_sixth_registration_of_an_address_waits_until_its_first_leaves_the_hour():
    times = ago(3000, 2000, 1000, 500, 10)
    wait = registration_wait(
        LIMITS, from_address=times, site_count=5, last_on_site=times[-1], now=NOW
    )
    assert wait == timedelta(seconds=600)


def test_a_new_address_on_a_quiet_site_goes_at_once():
    wait = registration_wait(LIMITS, from_address=[], site_count=59, last_on_site=NOW, now=NOW)
    assert wait == timedelta(0)


def test_a_busy_site_lets_a_new_address_through_after_a_short_spacing():
    wait = registration_wait(
        LIMITS, from_address=[], site_count=60, last_on_site=NOW - timedelta(seconds=4), now=NOW
    )
    assert wait == timedelta(seconds=6)


def test_a_busy_site_allows_one_registration_per_address():
    wait = registration_wait(
        LIMITS,
        from_address=ago(1800),
        site_count=61,
        last_on_site=NOW - timedelta(hours=1),
        now=NOW,
    )
    assert wait == timedelta(seconds=1800)


def test_the_spacing_doubles_as_the_site_gets_busier_up_to_its_longest():
    def spacing(count: int) -> timedelta:
        return registration_wait(
            LIMITS, from_address=[], site_count=count, last_on_site=NOW, now=NOW
        )

    assert [spacing(n).total_seconds() for n in (60, 119, 120, 180, 240, 10_000)] == [
        10,
        10,
        20,
        40,
        80,
        300,
    ]


@given(
    from_address=st.lists(st.integers(min_value=0, max_value=3599), max_size=10),
    site_count=st.integers(min_value=0, max_value=10**9),
    last=st.integers(min_value=0, max_value=3599),
)
def test_no_one_waits_longer_than_the_window_and_a_new_address_no_longer_than_the_spacing(
    from_address, site_count, last
):
    site_count = max(site_count, len(from_address))
    times = sorted(ago(*from_address))
    wait = registration_wait(
        LIMITS, from_address=times, site_count=site_count, last_on_site=ago(last)[0], now=NOW
    )
    assert timedelta(0) <= wait <= LIMITS.window
    if not from_address:
        assert wait <= LIMITS.longest_spacing
