"""authorize_call and settle_call on every database: each status and the hold it opens."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, update

from pulsa.settings import load_settings
from tests.conftest import make_account
from wallet import ledger
from wallet.calls import (
    BLOCKED,
    LIMIT,
    NOCREDIT,
    NORATE,
    OK,
    UNKNOWN,
    CallPolicy,
    CallPolicyCache,
    CallRequest,
    TariffCache,
    authorize_call,
    expire_call,
    expire_calls,
    settle_call,
)
from wallet.customers import add_identity
from wallet.models import Account, Call, CallRecord, Hold, SipIdentity, TariffPlan
from wallet.tariffs import ensure_plan, import_rates

MONDAY_NOON = datetime(2026, 11, 23, 5, 0, tzinfo=UTC)
UNIT = 1_000_000  # one currency unit in micro-units
_numbers = itertools.count(1000)


@pytest.fixture
def plan(db):
    name = f"calls-{next(_numbers)}"

    def work(session):
        ensure_plan(session, name, "Asia/Jakarta")
        import_rates(
            session,
            name,
            "prefix,price_per_minute,initial_block,increment,grace\n"
            "62,60,1,1,0\n"  # 1 unit per second, per-second billing
            "44,120,60,60,0\n"  # 2 units per second, per-minute billing
            "7,0,1,1,0\n",
        )

    db.run(work)
    return name


def caller(db, plan, balance_units: int) -> str:
    number = f"62899{next(_numbers)}"
    account_id = make_account(db, balance_units * UNIT)

    def work(session):
        plan_id = session.execute(select(TariffPlan.id).where(TariffPlan.name == plan)).scalar_one()
        session.execute(
            update(Account).where(Account.id == account_id).values(tariff_plan_id=plan_id)
        )
        add_identity(session, account_id, "callerid", number)

    db.run(work)
    return number


LIVE = CallPolicy()


def authorize(db, number, dialled="6221555", policy=LIVE, uniqueid=None):
    uniqueid = uniqueid or f"1795410450.{next(_numbers)}"
    request = CallRequest(
        identities=[("callerid", number)],
        dialled=dialled,
        at=MONDAY_NOON,
        uniqueid=uniqueid,
        caller=number,
    )
    return db.run(lambda s: authorize_call(s, request, policy, TariffCache()))


def test_a_caller_with_credit_gets_the_first_slice_held(db, plan):
    number = caller(db, plan, 1000)
    result = authorize(db, number)
    assert (result.status, result.slice_ms, result.max_ms) == (OK, 60_000, 1_000_000)
    with db.transaction() as session:
        hold = session.execute(
            select(Hold).join(Call, Call.hold_id == Hold.id).where(Call.id == result.call_id)
        ).scalar_one()
        assert hold.amount == 60 * UNIT
    assert result.credit_left == 940 * UNIT


def test_the_first_identity_in_the_operators_order_that_has_an_account_pays(db, plan):
    by_caller_id = caller(db, plan, 1000)
    by_peer = caller(db, plan, 1000)
    peer = f"alice{next(_numbers)}"
    with db.transaction() as session:
        peer_account = session.execute(
            select(SipIdentity.account_id).where(SipIdentity.value == by_peer)
        ).scalar_one()
        add_identity(session, peer_account, "peer", peer)

    def account_paying(identities):
        request = CallRequest(
            identities=identities,
            dialled="6221555",
            at=MONDAY_NOON,
            uniqueid=f"1795410450.{next(_numbers)}",
        )
        result = db.run(lambda s: authorize_call(s, request, LIVE, TariffCache()))
        return result.status, result.account_id

    caller_account = account_paying([("callerid", by_caller_id)])[1]
    first = [("accountcode", "nobody"), ("peer", peer), ("callerid", by_caller_id)]
    assert account_paying(first) == (OK, peer_account)
    assert account_paying(first[::-1]) == (OK, caller_account)
    assert account_paying([("peer", "nobody"), ("callerid", by_caller_id)]) == (OK, caller_account)
    assert account_paying([("peer", "nobody"), ("callerid", "0")])[0] == UNKNOWN
    assert account_paying([])[0] == UNKNOWN


def test_slice_ms_is_exactly_what_the_hold_pays_for_with_minute_billing(db, plan):
    number = caller(db, plan, 1000)
    result = authorize(db, number, dialled="4420", policy=CallPolicy(slice_seconds=61))
    assert result.status == OK and result.slice_ms == 120_000  # 61 s costs two whole minutes


def test_a_slice_is_less_when_less_is_available(db, plan):
    number = caller(db, plan, 25)
    result = authorize(db, number)
    assert (result.status, result.slice_ms, result.max_ms) == (OK, 25_000, 25_000)
    assert result.credit_left == 0


def test_four_calls_on_one_wallet_are_all_let_in_and_never_hold_more_than_it_has(db, plan):
    number = caller(db, plan, 100)
    results = [authorize(db, number) for _ in range(4)]
    assert [r.status for r in results] == [OK] * 4
    # Each a fair share of the 100 when it came (not 60, 20, 6, 3 s: what the first
    # calls held beyond the 2 s Asterisk gets at answer made room for the next ones).
    assert [r.slice_ms for r in results] == [60_000, 50_000, 33_000, 25_000]
    assert [r.limit_ms for r in results] == [2_000] * 4
    with db.transaction() as session:
        holds = session.execute(
            select(Hold).where(Hold.account_id == results[0].account_id, Hold.status == "open")
        ).scalars()
        amounts = [h.amount for h in holds]
        calls = session.execute(select(Call).where(Call.account_id == results[0].account_id))
        paid = {c.id: (c.paid_ms, c.bound_ms) for c in calls.scalars()}
    assert sum(amounts) == 100 * UNIT  # never more than it has, and all of it shared
    assert all(25 * UNIT <= amount <= 26 * UNIT for amount in amounts)
    assert all(paid_ms >= bound_ms == 2_000 for paid_ms, bound_ms in paid.values())


def test_a_call_is_refused_only_when_even_its_first_block_cannot_be_paid(db, plan):
    """Fifty calls with 2 s first limits promise the 100 units to Asterisk: nothing of
    their holds can be taken any more, and the next call is refused."""
    number = caller(db, plan, 100)
    results = [authorize(db, number) for _ in range(51)]
    assert [r.status for r in results] == [OK] * 50 + [NOCREDIT]
    assert all(r.limit_ms == 2_000 for r in results[:50])


def test_an_operator_minimum_refuses_a_call_the_wallet_cannot_pay_that_long(db, plan):
    number = caller(db, plan, 100)
    policy = CallPolicy(min_seconds=30)
    results = [authorize(db, number, policy=policy) for _ in range(4)]
    # 30 s each: the first three fit beside each other's 30 s first limits, the fourth not.
    assert [r.status for r in results] == [OK, OK, OK, NOCREDIT]
    assert [r.limit_ms for r in results[:3]] == [30_000] * 3


def test_static_mode_holds_everything_and_a_second_call_gets_only_the_rest(db, plan):
    number = caller(db, plan, 100)
    static = CallPolicy(mode="static")
    first = authorize(db, number, policy=static)
    assert (first.status, first.slice_ms) == (OK, 100_000)
    assert authorize(db, number, policy=static).status == NOCREDIT


def test_the_same_channel_authorized_again_gets_its_first_hold_back(db, plan):
    number = caller(db, plan, 100)
    first = authorize(db, number, uniqueid="1795410450.77")
    again = authorize(db, number, uniqueid="1795410450.77")
    assert first.status == again.status == OK
    assert (again.call_id, again.slice_ms) == (first.call_id, first.slice_ms)
    assert again.rate is not None and again.rate.prefix == "62"
    with db.transaction() as session:
        holds = session.execute(
            select(Hold).where(Hold.account_id == first.account_id, Hold.status == "open")
        ).scalars()
        assert [h.amount for h in holds] == [60 * UNIT]


def test_a_settled_channel_authorized_again_is_a_new_call(db, plan):
    number = caller(db, plan, 100)
    first = authorize(db, number, uniqueid="1795410450.78")
    db.run(lambda s: settle_call(s, first.call_id, billsec=0, disposition="NO ANSWER"))
    again = authorize(db, number, uniqueid="1795410450.78")
    assert again.status == OK and again.call_id != first.call_id


def test_an_unknown_caller_is_refused(db, plan):
    assert authorize(db, "0000000").status == UNKNOWN


def test_no_rate_for_the_destination(db, plan):
    assert authorize(db, caller(db, plan, 100), dialled="999").status == NORATE


def test_an_empty_wallet_gets_nocredit_and_no_hold(db, plan):
    number = caller(db, plan, 0)
    result = authorize(db, number)
    assert result.status == NOCREDIT and result.call_id is None


def test_minimum_credit_to_start_a_call(db, plan):
    number = caller(db, plan, 10)
    assert authorize(db, number, policy=CallPolicy(min_credit=11 * UNIT)).status == NOCREDIT


def test_a_blocked_account_is_refused(db, plan):
    number = caller(db, plan, 100)
    db.run(
        lambda s: s.execute(
            update(Account)
            .where(Account.id == authorize(db, number).account_id)
            .values(status="blocked")
        )
    )
    assert authorize(db, number).status == BLOCKED


def test_simultaneous_call_limit(db, plan):
    number = caller(db, plan, 1000)
    policy = CallPolicy(max_concurrent_calls=2)
    assert [authorize(db, number, policy=policy).status for _ in range(3)] == [OK, OK, LIMIT]


def test_free_destinations_need_no_credit(db, plan):
    number = caller(db, plan, 0)
    result = authorize(db, number, dialled="112", policy=CallPolicy(free_prefixes=("112",)))
    assert result.status == OK and result.slice_ms == 3_600_000


def test_settling_charges_the_exact_cost_once_and_writes_one_cdr(db, plan):
    number = caller(db, plan, 100)
    result = authorize(db, number)
    for _ in range(2):
        record = db.run(
            lambda s: settle_call(s, result.call_id, billsec=37, disposition="ANSWERED")
        )
    assert record.cost == 37 * UNIT and record.billsec == 37
    with db.transaction() as session:
        account = session.get(Account, result.account_id)
        assert (account.balance, account.held) == (63 * UNIT, 0)
        records = (
            session.execute(select(CallRecord).where(CallRecord.hold_id == record.hold_id))
            .scalars()
            .all()
        )
        assert len(records) == 1


def test_busy_and_unanswered_calls_cost_nothing(db, plan):
    number = caller(db, plan, 100)
    for disposition in ("BUSY", "NO ANSWER", "FAILED"):
        result = authorize(db, number)
        record = db.run(
            lambda s, r=result, d=disposition: settle_call(s, r.call_id, billsec=0, disposition=d)
        )
        assert record.cost == 0 and record.disposition == disposition
    with db.transaction() as session:
        assert session.get(Account, result.account_id).balance == 100 * UNIT


def test_expired_calls_release_their_hold_uncharged(db, plan):
    number = caller(db, plan, 100)
    result = authorize(db, number)
    later = datetime(2030, 1, 1)
    expired = db.run(lambda s: expire_calls(s, later))
    assert result.call_id in expired
    with db.transaction() as session:
        account = session.get(Account, result.account_id)
        assert (account.balance, account.held) == (100 * UNIT, 0)
        assert ledger.lock_account(session, account.id).available == 100 * UNIT


def test_expiring_one_call_releases_its_hold_once_and_leaves_a_settled_call_alone(db, plan):
    number = caller(db, plan, 100)
    gone, settled = authorize(db, number), authorize(db, number)
    db.run(lambda s: settle_call(s, settled.call_id, billsec=10, disposition="ANSWERED"))
    moment = datetime(2026, 11, 23, 5, 3)
    assert db.run(lambda s: expire_call(s, gone.call_id, moment)) is True
    assert db.run(lambda s: expire_call(s, gone.call_id, moment)) is False
    assert db.run(lambda s: expire_call(s, settled.call_id, moment)) is False
    with db.transaction() as session:
        account = session.get(Account, gone.account_id)
        assert (account.balance, account.held) == (90 * UNIT, 0)
        call = session.get(Call, gone.call_id)
        assert (call.status, call.ended_at) == ("expired", moment)
        assert session.get(Hold, call.hold_id).status == "expired"
        assert session.get(Call, settled.call_id).status == "settled"


def test_the_environment_decides_the_call_slice_until_an_admin_saves_another(db, admin_settings):
    environment = load_settings({"PULSA_CALL_SLICE_SECONDS": "45", "PULSA_CALL_MODE": "static"})

    def policy() -> CallPolicy:
        with db.transaction() as session:
            return CallPolicyCache(environment, refresh_seconds=0).get(session)

    admin_settings(call_slice_seconds=60, call_mode="live")  # the screen saved as it came
    assert (policy().slice_seconds, policy().mode) == (45, "static")
    admin_settings(call_slice_seconds=30)
    assert (policy().slice_seconds, policy().mode) == (30, "static")


def test_the_call_policy_is_read_again_only_once_its_refresh_interval_has_passed(
    db, admin_settings
):
    policies = CallPolicyCache(load_settings({}), refresh_seconds=3600)
    with db.transaction() as session:
        assert policies.get(session).slice_seconds == 60
    admin_settings(call_slice_seconds=30)
    with db.transaction() as session:
        assert policies.get(session).slice_seconds == 60
    policies.site.refresh_seconds = 0
    with db.transaction() as session:
        assert policies.get(session).slice_seconds == 30
    assert policies.current.slice_seconds == 30
