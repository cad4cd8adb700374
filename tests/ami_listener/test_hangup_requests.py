"""The web admin's "hang up" button: the request it records (`wallet.backoffice.
request_hangup`) is acted on by the listener that follows the call, which sends AMI
`Hangup`; the call then ends and is settled as any other. Requests nobody can act on are
closed so that they do not pile up."""

from __future__ import annotations

import logging
import uuid
from dataclasses import replace
from datetime import UTC, timedelta

import pytest
from sqlalchemy import update

from ami_listener.clock import ManualClock
from tests.ami_listener.checks import check_invariants
from tests.ami_listener.harness import START, UNIT, Scenario, make_caller, make_plan, run
from wallet import ledger
from wallet.backoffice import (
    HANGUP_CALL_ENDED,
    HANGUP_DONE,
    HANGUP_NOT_FOLLOWED,
    HANGUP_OUTCOME_GRACE,
    HangupRequest,
    close_hangup_requests_nobody_can_act_on,
    mark_hangup_handled,
    pending_hangup_requests,
    request_hangup,
)
from wallet.calls import OK, CallPolicy, CallRequest, TariffCache, authorize_call, expire_call
from wallet.models import Call

RATES = "prefix,price_per_minute,connection_fee,initial_block,increment,grace\n1,60,0,1,1,0\n"


@pytest.fixture(scope="module")
def plan(db):
    return make_plan(db, RATES)


def ask_to_hang_up(db, call_id: int) -> int:
    """What the web admin's button does; returns the request's id."""
    return db.run(lambda s: request_hangup(s, call_id, actor="ops", address="192.0.2.7").id)


def request_row(db, request_id: int) -> HangupRequest:
    with db.transaction() as session:
        row = session.get(HangupRequest, request_id)
        session.expunge(row)
        return row


def call_status(db, call_id: int) -> str:
    with db.transaction() as session:
        return session.get(Call, call_id).status


@pytest.mark.parametrize("tech", ["PJSIP", "Local"])
def test_hangup_request_from_admin_ends_the_call_and_bills_it(db, plan, tech, caplog):
    caplog.set_level(logging.INFO, logger="pulsa.ami")

    async def body():
        async with Scenario(db, tech=tech) as s:
            account, number = make_caller(db, plan, 100)
            call = await s.pbx.start_call(number, "15550100")
            assert call.status == OK
            await s.pbx.answer(call)
            await s.quiet()
            for _ in range(20):
                await s.step(1)
            request_id = ask_to_hang_up(db, call.call_id)
            assert call.live and request_row(db, request_id).handled_at is None
            await s.step(1)  # the listener reads the request at its next poll
            hung_up_at = START + timedelta(seconds=21)
            assert s.pbx.hangups == [(hung_up_at, call.caller.name)]
            assert not call.live and not call.cut
            assert (call.ended_at, call.billsec) == (hung_up_at, 21)
            assert call_status(db, call.call_id) == "settled"
            records = check_invariants(db, [account], s.call_ids())
            record = records[call.call_id]
            assert (record.billsec, record.cost, record.source) == (21, 21 * UNIT, "cdr")
            row = request_row(db, request_id)
            assert (row.handled_at, row.result) == (hung_up_at, HANGUP_DONE)
            assert (s.listener.stats.hangups, s.listener.stats.hangup_failures) == (1, 0)
            for _ in range(3):  # handled once: never sent again
                await s.step(1)
            assert len(s.pbx.hangups) == 1

    run(body)
    lines = [r.getMessage() for r in caplog.records if "at the request of" in r.getMessage()]
    assert len(lines) == 1 and "hung up" in lines[0] and "ops" in lines[0]


def test_a_ringing_call_hung_up_by_the_admin_is_recorded_unanswered_at_no_cost(db, plan):
    async def body():
        async with Scenario(db) as s:
            account, number = make_caller(db, plan, 100)
            call = await s.pbx.start_call(number, "15550100")
            await s.quiet()
            await s.step(1)
            request_id = ask_to_hang_up(db, call.call_id)
            await s.step(1)
            assert s.pbx.hangups == [(START + timedelta(seconds=2), call.caller.name)]
            assert not call.live and call.answered_at is None
            records = check_invariants(db, [account], s.call_ids())
            record = records[call.call_id]
            assert (record.disposition, record.billsec, record.cost) == ("NO ANSWER", 0, 0)
            assert request_row(db, request_id).result == HANGUP_DONE

    run(body)


def test_with_two_asterisk_servers_only_the_listener_following_the_call_hangs_it_up(db, plan):
    async def body():
        clock = ManualClock(START)
        async with Scenario(db, clock=clock) as first, Scenario(db, clock=clock) as second:
            account, number = make_caller(db, plan, 100)
            call = await second.pbx.start_call(number, "15550100")
            await second.pbx.answer(call)

            async def step() -> None:
                clock.advance(1)
                for s in (first, second):
                    await s.pbx.tick()
                    await s.quiet()

            for _ in range(10):
                await step()
            request_id = ask_to_hang_up(db, call.call_id)
            await step()
            assert first.pbx.hangups == [] and first.listener.stats.hangups == 0
            assert second.pbx.hangups == [(START + timedelta(seconds=11), call.caller.name)]
            assert second.listener.stats.hangups == 1
            for _ in range(2):
                await step()
            assert request_row(db, request_id).result == HANGUP_DONE
            records = check_invariants(db, [account], second.call_ids())
            assert records[call.call_id].billsec == 11

    run(body)


def test_hangup_request_for_an_ended_call_is_marked_handled(db, plan):
    async def body():
        async with Scenario(db) as s:
            account, number = make_caller(db, plan, 100)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            await s.quiet()
            for _ in range(5):
                await s.step(1)
            request_id = ask_to_hang_up(db, call.call_id)
            await s.pbx.hangup(call)  # the caller hangs up before the listener's poll
            await s.quiet()
            assert call_status(db, call.call_id) == "settled"
            assert request_row(db, request_id).handled_at is None
            ended = s.clock.now()
            # Left a few seconds to a listener that might have hung it up, then closed.
            while request_row(db, request_id).handled_at is None:
                assert s.clock.now() <= ended + HANGUP_OUTCOME_GRACE + timedelta(seconds=1)
                await s.step(1)
            assert s.pbx.hangups == []
            row = request_row(db, request_id)
            assert row.result == HANGUP_CALL_ENDED
            assert row.handled_at > ended + HANGUP_OUTCOME_GRACE - timedelta(seconds=1)
            records = check_invariants(db, [account], s.call_ids())
            assert records[call.call_id].billsec == 5

    run(body)


def test_a_listeners_hung_up_is_not_overtaken_by_anothers_call_already_ended(db, plan):
    """Two Asterisk servers: the listener that hung the call up writes "hung up" a moment
    after the call ended; the other listener's sweep in that moment leaves it alone."""

    async def body():
        async with Scenario(db) as s:
            _account, number = make_caller(db, plan, 100)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            await s.quiet()
            await s.step(1)
            request_id = ask_to_hang_up(db, call.call_id)
            await s.pbx.hangup(call)  # as the other listener's Hangup action would
            await s.quiet()
            assert call_status(db, call.call_id) == "settled"
            moment = s.clock.now() + timedelta(seconds=1)
            give_up = timedelta(minutes=1)

            def sweep(session):
                return close_hangup_requests_nobody_can_act_on(session, [], moment, give_up)

            assert db.run(sweep) == 0
            assert db.run(lambda x: mark_hangup_handled(x, request_id, HANGUP_DONE, moment))
            assert request_row(db, request_id).result == HANGUP_DONE

    run(body)


def test_a_hangup_asterisk_refuses_is_marked_failed_and_can_be_asked_again(db, plan):
    async def body():
        async with Scenario(db) as s:
            account, number = make_caller(db, plan, 100)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            await s.quiet()
            s.pbx.refuse_hangups = "Permission denied"  # manager.conf: write without call
            for _ in range(10):
                await s.step(1)
            refused = ask_to_hang_up(db, call.call_id)
            await s.step(1)
            row = request_row(db, refused)
            assert row.result == "failed: Permission denied"
            assert row.handled_at == START + timedelta(seconds=11)
            assert call.live and call_status(db, call.call_id) == "answered"
            assert s.listener.stats.hangup_failures == 1
            for _ in range(3):  # a failed request is not retried by itself
                await s.step(1)
            assert len(s.pbx.hangups) == 1 and call.live

            s.pbx.refuse_hangups = None
            again = ask_to_hang_up(db, call.call_id)
            assert again != refused
            await s.step(1)
            assert request_row(db, again).result == HANGUP_DONE
            assert not call.live and call.billsec == 15
            records = check_invariants(db, [account], s.call_ids())
            assert records[call.call_id].cost == 15 * UNIT

    run(body)


def test_a_hangup_of_a_channel_asterisk_does_not_know_is_marked_failed_with_its_message(db, plan):
    async def body():
        async with Scenario(db) as s:
            _, number = make_caller(db, plan, 100)
            call = await s.pbx.start_call(number, "15550100")
            await s.pbx.answer(call)
            await s.quiet()
            await s.step(1)
            # The channel went away without the listener hearing of it (a lost event).
            del s.ami.channels[call.caller.name]
            request_id = ask_to_hang_up(db, call.call_id)
            await s.step(1)
            assert request_row(db, request_id).result == "failed: No such channel"
            assert s.listener.stats.hangup_failures == 1

    run(body)


def test_a_request_for_a_call_no_listener_follows_is_closed_after_some_minutes(db, plan):
    async def body():
        async with Scenario(db) as s:
            _, number = make_caller(db, plan, 100)
            # Authorized on another Asterisk server, which no listener follows.
            prepared = s.pbx.prepare_call(number, "15550100")
            elsewhere = replace(s.pbx.request_for(prepared), server="pbx-nobody-listens-to")
            result = db.run(
                lambda session: authorize_call(session, elsewhere, s.pbx.policy, s.pbx.tariffs)
            )
            assert result.status == OK
            request_id = ask_to_hang_up(db, result.call_id)
            asked_at = s.clock.now() - timedelta(minutes=4)
            db.run(
                lambda session: session.execute(
                    update(HangupRequest)
                    .where(HangupRequest.id == request_id)
                    .values(requested_at=asked_at)
                )
            )
            await s.step(1)
            assert request_row(db, request_id).handled_at is None  # another listener may act
            await s.step(60)
            row = request_row(db, request_id)
            assert (row.handled_at, row.result) == (s.clock.now(), HANGUP_NOT_FOLLOWED)
            assert s.pbx.hangups == []
            assert call_status(db, result.call_id) == "authorized"  # not this listener's
            db.run(lambda session: expire_call(session, result.call_id, s.clock.now()))

    run(body)


def test_the_wallet_closes_only_the_requests_nobody_can_act_on(db, plan):
    """The database side alone: a live followed call's request is handed out, not closed."""
    _, number = make_caller(db, plan, 100)

    def authorize(uniqueid: str) -> int:
        request = CallRequest(
            identities=[("callerid", number)],
            dialled="15550100",
            at=START.replace(tzinfo=UTC),
            uniqueid=f"{uniqueid}.{uuid.uuid4().int % 10**9}",
            server="pbx-a",
        )
        return db.run(lambda s: authorize_call(s, request, CallPolicy(), TariffCache()).call_id)

    followed, other = authorize("1.1"), authorize("1.2")
    first, second = ask_to_hang_up(db, followed), ask_to_hang_up(db, other)
    later = ledger.utcnow() + timedelta(minutes=6)  # both requests are old by then
    gone = timedelta(minutes=5)
    assert db.run(lambda s: close_hangup_requests_nobody_can_act_on(s, {followed}, later, gone))
    pending = db.run(lambda s: pending_hangup_requests(s, {followed, other}))
    assert [(p.request_id, p.call_id, p.requested_by) for p in pending] == [
        (first, followed, "ops")
    ]
    assert request_row(db, second).result == HANGUP_NOT_FOLLOWED
    assert db.run(lambda s: mark_hangup_handled(s, first, HANGUP_DONE, later)) is True
    assert db.run(lambda s: mark_hangup_handled(s, first, "failed: late", later)) is False
    assert request_row(db, first).result == HANGUP_DONE
    assert db.run(lambda s: pending_hangup_requests(s, {followed, other})) == []
    for call_id in (followed, other):  # leave no live call behind for other tests
        db.run(lambda s, c=call_id: expire_call(s, c, later))
