"""Tariff plans stored in the database price calls exactly like the CSV says."""

from __future__ import annotations

import itertools
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from rating import CallPricing
from rating.tariff_csv import TariffFileError
from wallet.errors import InvalidInput
from wallet.models import RateRow
from wallet.tariffs import (
    add_band,
    add_holiday,
    ensure_plan,
    export_rates,
    get_plan,
    import_rates,
    load_tariff,
)

_plans = itertools.count()
JAKARTA = ZoneInfo("Asia/Jakarta")
RATES = """prefix,description,price_per_minute,initial_block,increment,band
62,Indonesia,600,60,60,peak
62,Indonesia,300,60,60,offpeak
62,Indonesia,200,60,60,weekend
"""


@pytest.fixture
def plan(db):
    name = f"plan-{next(_plans)}"

    def work(session):
        ensure_plan(session, name, "Asia/Jakarta")
        add_band(session, name, "peak", "mon-fri", "08:00", "18:00")
        add_band(session, name, "weekend", "sat,sun", "00:00", "24:00")
        add_band(session, name, "offpeak", "all", "00:00", "24:00")
        add_holiday(session, name, date(2026, 12, 25), "weekend", "Christmas")
        import_rates(session, name, RATES)

    db.run(work)
    return name


def pricing(db, plan, number, local):
    with db.transaction() as session:
        tariff = load_tariff(session, get_plan(session, plan).id)
    return CallPricing.for_call(tariff, number, local.replace(tzinfo=JAKARTA))


def test_a_stored_plan_prices_peak_offpeak_weekend_and_holidays(db, plan):
    assert pricing(db, plan, "6221", datetime(2026, 11, 23, 9)).cost(60) == 600_000_000
    assert pricing(db, plan, "6221", datetime(2026, 11, 23, 19)).cost(60) == 300_000_000
    assert pricing(db, plan, "6221", datetime(2026, 11, 21, 9)).cost(60) == 200_000_000
    assert pricing(db, plan, "6221", datetime(2026, 12, 25, 9)).cost(60) == 200_000_000


def test_a_call_crossing_six_pm_is_priced_per_segment(db, plan):
    # 17:59 peak minute (600) + 18:00 off-peak minute (300)
    assert pricing(db, plan, "6221", datetime(2026, 11, 23, 17, 59)).cost(120) == 900_000_000


def test_a_bad_file_leaves_the_plan_as_it_was(db, plan):
    with pytest.raises(TariffFileError):
        db.run(lambda s: import_rates(s, plan, "prefix,price_per_minute\n1,2\nx,3\n"))
    with db.transaction() as session:
        count = session.execute(
            select(func.count())
            .select_from(RateRow)
            .where(RateRow.plan_id == get_plan(session, plan).id)
        ).scalar_one()
    assert count == 3


def test_a_rate_for_an_undefined_band_is_refused(db, plan):
    with pytest.raises(InvalidInput, match="no band 'night'"):
        db.run(lambda s: import_rates(s, plan, "prefix,price_per_minute,band\n1,2,night\n"))


def test_merge_adds_and_updates_without_dropping(db, plan):
    db.run(
        lambda s: import_rates(
            s, plan, "prefix,price_per_minute,band\n62,700,peak\n1,5,\n", replace=False
        )
    )
    with db.transaction() as session:
        text = export_rates(session, plan)
    assert ",700,60,60,0,peak" in text and "\n1,,0,5," in text and ",300,60,60,0,offpeak" in text
