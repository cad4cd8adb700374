"""A site setting read on a hot path (wallet.site_settings.CachedSetting): read from the
database at most every `refresh_seconds`, and at once after a save in this process."""

from __future__ import annotations

from wallet.site_settings import CachedSetting, SiteSetting, note_saved


class Rows:
    """A session stand-in that counts its reads."""

    def __init__(self, value: str | None) -> None:
        self.value, self.reads = value, 0

    def get(self, model, key):
        assert (model, key) == (SiteSetting, "low_balance_threshold")
        self.reads += 1
        return None if self.value is None else SiteSetting(key=key, value=self.value)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_cached_setting_is_read_once_per_refresh_period():
    clock, rows = Clock(), Rows("5000")
    cached = CachedSetting("low_balance_threshold", refresh_seconds=5.0, monotonic=clock)
    assert [cached.get(rows) for _ in range(3)] == [5000] * 3
    assert rows.reads == 1
    rows.value = "7000"
    clock.now += 4.9
    assert (cached.get(rows), rows.reads) == (5000, 1)
    clock.now += 0.2
    assert (cached.get(rows), rows.reads) == (7000, 2)


def test_a_save_in_this_process_is_read_at_once():
    clock, rows = Clock(), Rows("5000")
    cached = CachedSetting("low_balance_threshold", monotonic=clock)
    assert cached.get(rows) == 5000
    rows.value = None  # given back to the environment
    note_saved()
    assert (cached.get(rows), rows.reads) == (0, 2)


def test_a_value_edited_by_hand_into_nonsense_counts_as_the_default():
    cached = CachedSetting("low_balance_threshold", monotonic=Clock())
    assert cached.get(Rows("lots")) == 0
