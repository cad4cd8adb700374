"""The home page: balance, what is available now, calls in progress, packages, and the
low-balance notice."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete

from tests.portal.conftest import make_customer, signed_in
from wallet import ledger
from wallet.models import Call
from wallet.site_settings import SiteSetting, note_saved, save_site_config


def test_home_shows_the_balance_and_what_a_call_in_progress_reserves(portal, db, settings):
    person = make_customer(db, 20_000_000_000)

    def call_in_progress(session):
        hold = ledger.open_hold(session, person.account_id, 3_000_000_000, reference="c1")
        session.add(
            Call(
                account_id=person.account_id,
                hold_id=hold.id,
                uniqueid=f"home-{person.account_id}",
                dialled="6281299990000",
                status="answered",
                authorized_at=datetime(2026, 12, 4, 1, 0),
                answered_at=datetime(2026, 12, 4, 1, 0, 5),
            )
        )

    db.run(call_in_progress)
    page = signed_in(portal, person).get("/home").get_data(as_text=True)
    assert 'data-test="available">IDR 17,000<' in page
    assert 'data-test="balance">IDR 20,000<' in page
    assert 'data-test="held">IDR 3,000<' in page
    assert "6281299990000" in page and "Calls in progress" in page


def test_home_speaks_indonesian_with_indonesian_grouping(portal, db):
    person = make_customer(db, 1_234_567_000_000)
    client = signed_in(portal, person)
    client.post("/language", data={"locale": "id", "next": "/home"})
    page = client.get("/home").get_data(as_text=True)
    assert "Saldo tersedia" in page and 'data-test="available">Rp1.234.567<' in page


def test_a_low_balance_shows_a_notice_above_the_threshold_none(portal, db, settings):
    poor = make_customer(db, 2_000_000_000)
    rich = make_customer(db, 90_000_000_000)
    db.run(
        lambda s: save_site_config(
            s, settings, {"low_balance_threshold": 5_000_000_000}, actor="test"
        )
    )
    try:
        assert "credit is low" in signed_in(portal, poor).get("/home").get_data(as_text=True)
        assert "credit is low" not in signed_in(portal, rich).get("/home").get_data(as_text=True)
    finally:
        with db.transaction() as session:
            session.execute(delete(SiteSetting).where(SiteSetting.key == "low_balance_threshold"))
        note_saved()  # what this process cached of it is read again


def test_home_shows_nothing_of_another_customer(portal, db):
    me_ = make_customer(db, 1_000_000_000)
    other = make_customer(db, 999_000_000_000)
    page = signed_in(portal, me_).get("/home").get_data(as_text=True)
    assert other.name not in page and "999,000" not in page
