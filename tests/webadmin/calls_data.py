"""Calls made through the real wallet services (authorize, answer, settle), for the calls
and reports screens."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from sqlalchemy import select

from tests.conftest import make_account
from tests.webadmin.conftest import unique_name
from wallet.calls import (
    CallPolicy,
    CallRequest,
    TariffCache,
    answer_call,
    authorize_call,
    settle_call,
)
from wallet.customers import add_identity
from wallet.models import Account, TariffPlan
from wallet.tariffs import ensure_plan, import_rates

UNIT = 1_000_000
_ids = itertools.count(1)
RATES = (
    "prefix,description,price_per_minute,initial_block,increment\n"
    "628,Mobile,600,1,1\n"
    "*,Other,3000,60,60\n"
)


def calling_account(db, balance_units: int = 100_000, **kwargs) -> tuple[int, str]:
    """An account with a flat per-second plan (628: 600 a minute) and an account code."""
    plan = unique_name("calls")
    code = unique_name("ac")
    account_id = make_account(db, balance_units * UNIT, **kwargs)

    def work(session):
        ensure_plan(session, plan, "Asia/Jakarta")
        import_rates(session, plan, RATES)
        account = session.get(Account, account_id)
        account.tariff_plan_id = session.execute(
            select(TariffPlan.id).where(TariffPlan.name == plan)
        ).scalar_one()
        add_identity(session, account_id, "accountcode", code)

    db.run(work)
    return account_id, code


def place_call(
    db,
    code: str,
    number: str,
    at: datetime,
    billsec: int,
    *,
    disposition: str = "ANSWERED",
    settle: bool = True,
    end_estimated: bool = False,
) -> int:
    """A call answered at `at` (aware) lasting `billsec`; returns the call id."""
    uniqueid = f"web-{next(_ids)}-{unique_name('u')}"

    def work(session):
        request = CallRequest(
            identities=[("accountcode", code)],
            dialled=number,
            at=at,
            uniqueid=uniqueid,
            caller="6281200000001",
            channel=f"PJSIP/{code}-0001",
        )
        authorization = authorize_call(
            session, request, CallPolicy(slice_seconds=600), TariffCache()
        )
        assert authorization.status == "OK", authorization.reason
        naive = at.replace(tzinfo=None) - (at.utcoffset() or timedelta(0))
        answer_call(session, authorization.call_id, naive)
        if settle:
            settle_call(
                session,
                authorization.call_id,
                billsec=billsec,
                disposition=disposition,
                answered_at=naive,
                ended_at=naive + timedelta(seconds=billsec),
                source="estimated" if end_estimated else "cdr",
                end_estimated=end_estimated,
            )
        return authorization.call_id

    return db.run(work)
