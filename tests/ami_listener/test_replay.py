"""The recorded Asterisk 20 streams, replayed through the loopback AMI server to the
listener: exactly one CDR per pulsa call, from the billable record, and exact charges.

The captures carry no PULSA_CALL: the Call rows are opened the way the AGI did it (the
uniqueid and channel of each AGI session), and the listener finds them by the uniqueid of
the channel that ran the AGI."""

from __future__ import annotations

from datetime import UTC

import pytest
from sqlalchemy import select

from ami_listener.clock import ManualClock
from tests.ami_listener.checks import charged, check_invariants
from tests.ami_listener.harness import START, UNIT, Scenario, make_caller, make_plan, run
from tests.support.ami_fixtures import FIXTURES, load_agi_session, load_ami_stream
from wallet.calls import OK, CallPolicy, CallRequest, TariffCache, authorize_call
from wallet.models import Call, CallRecord

RATES = "prefix,price_per_minute,initial_block,increment\n08,60,1,1\n*,30,60,60\n"


def authorize_like_the_agi(db, folder: str, server: str, balances: dict[str, int]):
    """One wallet per caller number; each AGI session's call authorized with its uniqueid
    and channel. Returns {dialled: (call_id, account_id)}."""
    plan = make_plan(db, RATES)
    # caller IDs are telephone numbers: the server's hex suffix, read as digits, keeps
    # this run's callers apart from other runs' in the same database
    suffix = f"{int(server[-6:], 16):08d}"
    accounts = {}
    for number, units in balances.items():
        accounts[number], _ = make_caller(db, plan, units, number=f"{number}{suffix}")
    calls = {}
    for path in sorted((FIXTURES / folder).glob("agi_session_*.txt")):
        env = load_agi_session(path).env
        number = env["agi_callerid"]
        request = CallRequest(
            identities=[("callerid", f"{number}{suffix}")],
            dialled=env["agi_extension"],
            at=START.replace(tzinfo=UTC),
            uniqueid=env["agi_uniqueid"],
            channel=env["agi_channel"],
            caller=number,
            server=server,
        )
        result = db.run(lambda s, r=request: authorize_call(s, r, CallPolicy(), TariffCache()))
        assert result.status == OK, result.reason
        calls[env["agi_extension"]] = (result.call_id, accounts[number])
    return calls


def records_by_dialled(db, calls) -> dict[str, CallRecord]:
    with db.transaction() as session:
        out = {}
        for dialled, (call_id, _) in calls.items():
            call = session.get(Call, call_id)
            rows = session.execute(
                select(CallRecord).where(CallRecord.hold_id == call.hold_id)
            ).scalars()
            (out[dialled],) = list(rows)
        return out


async def replay(db, folder: str, balances: dict[str, int], *, duplicate: bool = False):
    async with Scenario(db, tech="Local", clock=ManualClock(START)) as s:
        calls = authorize_like_the_agi(db, folder, s.server, balances)
        s.ami.duplicate_events = duplicate
        stream = load_ami_stream(FIXTURES / folder / "ami_stream.txt")
        await s.ami.replay(stream.events)
        await s.quiet()
        for _ in range(5):  # any call waiting for a late Cdr gets it or its time
            await s.step(1.0)
        assert not s.listener.calls
        return calls, s.listener.stats


@pytest.mark.parametrize("duplicate", [False, True], ids=["once", "every-event-twice"])
def test_four_callers_are_billed_from_their_dial_records_only(db, duplicate):
    async def body():
        calls, stats = await replay(
            db,
            "four-callers",
            {"6281100": 100, "6281200": 100, "6281300": 100, "6281400": 100},
            duplicate=duplicate,
        )
        records = records_by_dialled(db, calls)
        shown = {
            d: (r.disposition, r.billsec, r.cost, r.source) for d, r in sorted(records.items())
        }
        assert shown == {
            "0811111": ("ANSWERED", 3, 3 * UNIT, "cdr"),
            "0822222": ("ANSWERED", 5, 5 * UNIT, "cdr"),
            "8444": ("NO ANSWER", 0, 0, "cdr"),
            "9333": ("BUSY", 0, 0, "cdr"),
        }
        assert records["0811111"].dst_channel == "Local/0811111@pstn-sim-00000007;1"
        for dialled, (_, account_id) in calls.items():
            assert charged(db, account_id) == records[dialled].cost
        check_invariants(db, {a for _, a in calls.values()}, [c for c, _ in calls.values()])
        assert stats.settled_cdr == 4 and stats.settled_estimated == 0
        assert stats.setvars == 0  # 60 s slices: nothing to renew in a few seconds

    run(body)


@pytest.mark.parametrize("duplicate", [False, True], ids=["once", "every-event-twice"])
def test_one_caller_with_four_calls_is_charged_once_per_call(db, duplicate):
    async def body():
        calls, stats = await replay(
            db, "one-caller-four-calls", {"6281500": 1000}, duplicate=duplicate
        )
        records = records_by_dialled(db, calls)
        shown = {d: (r.disposition, r.billsec, r.cost) for d, r in sorted(records.items())}
        assert shown == {
            "081230": ("ANSWERED", 2, 2 * UNIT),
            "081231": ("ANSWERED", 4, 4 * UNIT),
            "081232": ("ANSWERED", 5, 5 * UNIT),
            "081233": ("ANSWERED", 5, 5 * UNIT),
        }
        (account_id,) = {a for _, a in calls.values()}
        assert charged(db, account_id) == 16 * UNIT
        check_invariants(db, [account_id], [c for c, _ in calls.values()])
        assert stats.settled_cdr == 4

    run(body)
