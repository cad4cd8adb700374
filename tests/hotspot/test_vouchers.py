"""Vouchers on every database: unique codes across batches (the index and the retry
behind it), what a batch looks like, sale, first use on the hotspot, redemption."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from hotspot.reconciler import sync_all
from hotspot.voucher_sheet import SheetInfo, VoucherCard, login_link, qr_svg, render_sheet
from tests.conftest import make_account
from tests.hotspot.builders import RUPIAH, balance_of, make_login, make_package, unique_prefix
from tests.hotspot.router import USERS, HotspotRouter, keyring, register
from wallet.errors import InvalidInput, NotFound
from wallet.hotspot_models import HotspotLogin, Subscription, Voucher
from wallet.vouchers import (
    ALPHABETS,
    batch_summary,
    batch_vouchers,
    generate_batch,
    mark_sold,
    redeem_voucher,
    void_vouchers,
)

NOW = datetime(2026, 6, 1, 9, 0, 0)


def generate(db, **options):
    options.setdefault("actor", "test")
    batch = db.run(lambda s: generate_batch(s, **options))
    return batch, db.run(lambda s: batch_vouchers(s, batch.id))


def test_a_batch_has_the_asked_number_of_distinct_codes_from_the_alphabet_with_the_prefix(db):
    package = make_package(db, 5_000 * RUPIAH)
    prefix = unique_prefix("V")
    batch, vouchers = generate(db, package=package, count=300, length=6, prefix=prefix)

    codes = [v.code for v in vouchers]
    assert len(codes) == len(set(codes)) == 300
    pattern = re.compile(re.escape(prefix) + f"[{ALPHABETS['upper']}]{{6}}$")
    assert all(pattern.match(code) for code in codes)
    assert all(v.password == v.code and v.status == "new" for v in vouchers)
    assert batch.price == 5_000 * RUPIAH


def test_the_default_alphabet_has_no_characters_people_misread():
    for alphabet in ("upper", "lower"):
        assert not set("0O1Il") & set(ALPHABETS[alphabet])


def test_codes_are_unique_across_batches_even_when_the_code_space_is_nearly_used(db):
    """Three-digit codes after a unique prefix: 1,000 possible. Two batches of 450 must
    find 900 different codes, so the second one draws again around every code taken."""
    package = make_package(db, 1_000 * RUPIAH)
    prefix = unique_prefix("U")
    _, first = generate(db, package=package, count=450, length=3, alphabet="digits", prefix=prefix)
    _, second = generate(db, package=package, count=450, length=3, alphabet="digits", prefix=prefix)
    codes = {v.code for v in first} | {v.code for v in second}
    assert len(codes) == 900


def test_a_code_taken_between_the_check_and_the_insert_is_caught_by_the_index_and_redrawn(db):
    """The unique index is the real guarantee: a code another batch inserted after this
    batch checked (played here by a code that exists already but hides from the check)
    makes the insert fail, and that part of the batch is drawn again."""
    package = make_package(db, 1_000 * RUPIAH)
    prefix = unique_prefix("R")
    _, [taken] = generate(db, package=package, count=1, length=4, alphabet="digits", prefix=prefix)
    drawn = iter([taken.code[len(prefix) :], "1111", "2222"])

    def pick(alphabet, length):
        return next(drawn)

    import wallet.vouchers as vouchers_module

    real_free_codes = vouchers_module._free_codes
    calls = []

    def blind_check(session, draw, size):
        calls.append(size)
        if len(calls) == 1:
            return [draw()]  # the race: the check did not see the code taken meanwhile
        return real_free_codes(session, draw, size)

    vouchers_module._free_codes = blind_check
    try:
        _, [made] = generate(
            db, package=package, count=1, length=4, alphabet="digits", prefix=prefix, pick=pick
        )
    finally:
        vouchers_module._free_codes = real_free_codes

    assert made.code == prefix + "1111" and len(calls) == 2


def test_a_voucher_code_can_never_be_a_customers_username(db):
    package = make_package(db, 1_000 * RUPIAH)
    prefix = unique_prefix("C")
    make_login(db, username=prefix + "777")
    _, vouchers = generate(
        db, package=package, count=10, length=1 + 2, alphabet="digits", prefix=prefix
    )
    assert prefix + "777" not in {v.code for v in vouchers}


def test_separate_passwords_differ_from_the_codes(db):
    _, vouchers = generate(
        db,
        package=make_package(db, 1_000 * RUPIAH),
        count=20,
        separate_password=True,
        password_length=6,
    )
    assert all(len(v.password) == 6 and v.password != v.code for v in vouchers)


def test_a_batch_of_ten_thousand_is_allowed_and_one_more_is_not(db):
    package = make_package(db, 1_000 * RUPIAH)
    batch, vouchers = generate(db, package=package, count=10_000, length=10)
    assert len({v.code for v in vouchers}) == 10_000 == batch.count
    with pytest.raises(InvalidInput, match="10000"):
        generate(db, package=package, count=10_001)


def test_a_code_too_short_for_the_batch_is_refused_before_searching(db):
    with pytest.raises(InvalidInput, match="longer codes"):
        generate(db, package=make_package(db, 1), count=600, length=3, alphabet="digits")


def test_sale_is_recorded_once_with_who_and_for_how_much(db):
    _, vouchers = generate(db, package=make_package(db, 2_000 * RUPIAH), count=3)
    codes = [vouchers[0].code, vouchers[1].code.lower()]  # typed in any case
    db.run(lambda s: mark_sold(s, codes, actor="kios-ani", now=NOW))
    db.run(lambda s: mark_sold(s, codes, actor="someone-else", now=NOW + timedelta(hours=1)))

    summary = db.run(lambda s: batch_summary(s, vouchers[0].batch_id))
    assert summary.by_status == {"sold": 2, "new": 1}
    assert summary.sold_total == 4_000 * RUPIAH
    sold = db.run(lambda s: s.get(Voucher, vouchers[0].id))
    assert (sold.sold_by, sold.sold_at) == ("kios-ani", NOW)


def test_a_voucher_redeemed_into_a_wallet_credits_its_face_value_once(db):
    _, [voucher] = generate(db, package=make_package(db, 7_500 * RUPIAH), count=1)
    account = make_account(db, 0)
    other = make_account(db, 0)

    first = db.run(lambda s: redeem_voucher(s, account, voucher.code, actor="portal"))
    again = db.run(lambda s: redeem_voucher(s, account, voucher.code, actor="portal"))

    assert again.id == first.id and balance_of(db, account) == 7_500 * RUPIAH
    with pytest.raises(InvalidInput, match="redeemed already"):
        db.run(lambda s: redeem_voucher(s, other, voucher.code))
    assert balance_of(db, other) == 0
    login = db.run(lambda s: s.get(HotspotLogin, voucher.login_id))
    assert login.status == "void"


def test_a_wrong_code_or_password_redeems_nothing(db):
    _, [voucher] = generate(
        db, package=make_package(db, 1_000 * RUPIAH), count=1, separate_password=True
    )
    account = make_account(db, 0)
    with pytest.raises(NotFound):
        db.run(lambda s: redeem_voucher(s, account, voucher.code, password="wrong"))
    with pytest.raises(NotFound):
        db.run(lambda s: redeem_voucher(s, account, "NOSUCHCODE"))
    db.run(lambda s: redeem_voucher(s, account, voucher.code, password=voucher.password))
    assert balance_of(db, account) == 1_000 * RUPIAH


def test_a_credit_only_voucher_needs_a_price_and_never_goes_on_a_router(db):
    with pytest.raises(InvalidInput, match="price"):
        generate(db, count=1)
    _, [voucher] = generate(db, count=1, price=25_000 * RUPIAH)
    assert db.run(lambda s: s.get(HotspotLogin, voucher.login_id).status) == "void"
    account = make_account(db, 0)
    db.run(lambda s: redeem_voucher(s, account, voucher.code))
    assert balance_of(db, account) == 25_000 * RUPIAH


def test_a_voucher_works_on_the_router_until_its_validity_runs_out_after_first_use(db):
    ring = keyring()
    with HotspotRouter() as router:
        router_id = register(db, ring, router)
        package = make_package(
            db, 3_000 * RUPIAH, validity_value=3, validity_unit="hours", router_ids=[router_id]
        )
        _, [voucher, spare] = generate(db, package=package, count=2)

        def sync(now):
            [report] = sync_all(db, ring, router_ids=[router_id], now=now, timeout=2).routers
            return report

        sync(NOW)
        assert {u["name"]: u["disabled"] for u in router.rows(USERS)} == {
            voucher.code: "false",
            spare.code: "false",
        }
        router.login_hotspot_user(voucher.code)
        first_use = sync(NOW + timedelta(hours=1))
        assert first_use.vouchers_first_used == [voucher.code]
        used = db.run(lambda s: s.get(Voucher, voucher.id))
        sub = db.run(
            lambda s: s.execute(
                select(Subscription).where(Subscription.voucher_id == voucher.id)
            ).scalar_one()
        )
        assert used.status == "used" and used.used_at == NOW + timedelta(hours=1)
        assert sub.ends_at == NOW + timedelta(hours=4) and sub.price == 0

        still = sync(NOW + timedelta(hours=3))
        assert still.kicked == [] and router.user(voucher.code)["disabled"] == "false"
        over = sync(NOW + timedelta(hours=4, seconds=1))
        assert over.kicked == [voucher.code]
        assert router.user(voucher.code)["disabled"] == "true"
        assert router.user(spare.code)["disabled"] == "false"  # unused: its time has not begun


def test_a_redeemed_or_voided_voucher_is_taken_off_the_hotspot(db):
    ring = keyring()
    with HotspotRouter() as router:
        router_id = register(db, ring, router)
        package = make_package(db, 3_000 * RUPIAH, router_ids=[router_id])
        _, [kept, redeemed, voided] = generate(db, package=package, count=3)
        sync_all(db, ring, router_ids=[router_id], now=NOW, timeout=2)

        db.run(lambda s: redeem_voucher(s, make_account(db, 0), redeemed.code))
        db.run(lambda s: void_vouchers(s, [voided.code]))
        [report] = sync_all(db, ring, router_ids=[router_id], now=NOW, timeout=2).routers

        assert sorted(report.removed) == sorted([redeemed.code, voided.code])
        assert report.unknown_managed == []
        assert [u["name"] for u in router.rows(USERS)] == [kept.code]


def test_the_sheet_has_one_qr_login_per_voucher_and_fits_the_chosen_paper():
    cards = [VoucherCard("AB2CD3", "AB2CD3", True), VoucherCard("XY7", "pw<9>", False)]
    info = SheetInfo("RT 05 Net", "Harian ☕", "IDR 5,000", "1 day", "http://wifi.rt05/login")

    page = render_sheet(cards, info, "a4")

    assert page.count("<svg") == 2
    assert qr_svg(login_link(info.login_url, "AB2CD3", "AB2CD3")) in page
    assert qr_svg(login_link(info.login_url, "XY7", "pw<9>")) in page
    assert "pw&lt;9&gt;" in page and "pw<9>" not in page
    assert "size: A4" in page and "Harian ☕" in page
    assert "size: 58mm" in render_sheet(cards, info, "thermal-58")
    assert login_link(info.login_url, "XY7", "pw<9>") == (
        "http://wifi.rt05/login?username=XY7&password=pw%3C9%3E"
    )
