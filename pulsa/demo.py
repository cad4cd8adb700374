"""A small demo data set: a tariff with peak/off-peak/weekend bands and a few customers."""

from __future__ import annotations

import secrets
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet import ledger
from wallet.customers import add_identity, create_customer
from wallet.models import Customer
from wallet.tariffs import add_band, add_holiday, ensure_plan, import_rates

DEMO_RATES = """\
prefix,description,connection_fee,price_per_minute,initial_block,increment,minimum_duration,\
band,grace
*,Other destinations,0,3000,60,60,0,,0
62,Indonesia fixed,0,300,60,60,0,peak,3
62,Indonesia fixed,0,200,60,60,0,offpeak,3
628,Indonesia mobile,0,1200,30,6,0,peak,3
628,Indonesia mobile,0,800,30,6,0,offpeak,3
628,Indonesia mobile,0,600,30,6,0,weekend,3
6221,Jakarta,0,150,1,1,0,,3
112,Emergency,0,0,1,1,0,,0
"""

DEMO_CUSTOMERS = (
    # name, phone, kind, balance in micro-units, caller id, SIP peer
    ("Warung Bu Sari", "081200000001", "individual", 50_000_000_000, "6281200000001", "sari"),
    (
        "Kopi Kita Co-working",
        "081200000002",
        "organization",
        250_000_000_000,
        "6281200000002",
        "kopikita",
    ),
    ("Pak Budi", "081200000003", "individual", 5_000_000_000, "6281200000003", "budi"),
)


def load_demo(session: Session, *, currency: str, timezone: str, plan_name: str) -> list[str]:
    """Create the demo data once; returns what it did, one line each."""
    done: list[str] = []
    plan = ensure_plan(session, plan_name, timezone)
    add_band(session, plan.name, "peak", "mon-fri", "08:00", "18:00")
    add_band(session, plan.name, "weekend", "sat,sun", "00:00", "24:00")
    add_band(session, plan.name, "offpeak", "all", "00:00", "24:00")
    add_holiday(session, plan.name, date(2026, 12, 25), "weekend", "Christmas")
    count = import_rates(session, plan.name, DEMO_RATES)
    done.append(f"tariff plan {plan.name!r}: {count} rates, bands peak/offpeak/weekend")
    for name, phone, kind, balance, callerid, peer in DEMO_CUSTOMERS:
        if session.execute(select(Customer).where(Customer.phone == phone)).first():
            done.append(f"customer {name!r} already there")
            continue
        _, account = create_customer(
            session, name, phone=phone, kind=kind, currency=currency, tariff_plan=plan.name
        )
        add_identity(session, account.id, "callerid", callerid)
        add_identity(session, account.id, "peer", peer)
        ledger.top_up(
            session,
            account.id,
            balance,
            key=f"demo-opening-{phone}",
            method="cash",
            actor="demo",
            note="demo opening balance",
        )
        done.append(f"customer {name!r}: account {account.id}")
    done.append(_demo_admin(session))
    return done


def _demo_admin(session: Session) -> str:
    """A super admin to sign in with, when the web admin has no staff yet; its password
    is random and shown once."""
    from wallet.staff import StaffUser, create_staff

    if session.execute(select(StaffUser.id).limit(1)).first():
        return "web admin staff already there"
    password = secrets.token_urlsafe(12)
    create_staff(
        session, "admin", password, full_name="Demo admin", is_superuser=True, actor="demo"
    )
    return (
        f"web admin: sign in as 'admin' with password {password} "
        "(change it with `pulsa admin set-password admin`)"
    )
