"""A small demo data set: a tariff with peak/off-peak/weekend bands and a few customers,
loaded into an empty database only and removable whole (`wallet.demo`); and the first
super admin of a fresh installation."""

from __future__ import annotations

import secrets
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet import demo as demo_data
from wallet import ledger, references
from wallet.customers import add_identity, create_customer
from wallet.models import HolidayRow, RateRow
from wallet.staff import record_audit
from wallet.tariffs import add_band, add_holiday, ensure_plan, import_rates

FIRST_ADMIN = "admin"

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


def load_demo(
    session: Session, *, currency: str, timezone: str, plan_name: str, actor: str = "demo"
) -> list[str]:
    """Load the demo into an empty database, every row listed as the demo's; returns
    what it did, one line each. A database with the operator's own data, or one the demo
    was loaded into before (even if removed since), is left as it is."""
    refusal = demo_data.why_not_load(session)
    if refusal is not None:
        return [f"demo data not loaded: {refusal}"]
    batch = demo_data.start_batch(session, actor)
    plan = ensure_plan(session, plan_name, timezone)
    demo_data.mark(session, batch, "tariff_plans", [plan.id])
    bands = [
        add_band(session, plan.name, "peak", "mon-fri", "08:00", "18:00"),
        add_band(session, plan.name, "weekend", "sat,sun", "00:00", "24:00"),
        add_band(session, plan.name, "offpeak", "all", "00:00", "24:00"),
    ]
    demo_data.mark(session, batch, "time_bands", [band.id for band in bands])
    add_holiday(session, plan.name, date(2026, 12, 25), "weekend", "Christmas")
    demo_data.mark(
        session,
        batch,
        "holidays",
        session.execute(select(HolidayRow.id).where(HolidayRow.plan_id == plan.id)).scalars(),
    )
    count = import_rates(session, plan.name, DEMO_RATES)
    demo_data.mark(
        session,
        batch,
        "rates",
        session.execute(select(RateRow.id).where(RateRow.plan_id == plan.id)).scalars(),
    )
    done = [f"tariff plan {plan.name!r}: {count} rates, bands peak/offpeak/weekend"]
    for name, phone, kind, balance, callerid, peer in DEMO_CUSTOMERS:
        customer, account = create_customer(
            session, name, phone=phone, kind=kind, currency=currency, tariff_plan=plan.name
        )
        demo_data.mark(session, batch, "customers", [customer.id])
        add_identity(session, account.id, "callerid", callerid)
        add_identity(session, account.id, "peer", peer)
        # An adjustment, not a top-up: no money was paid in, so reports and the
        # dashboard do not count it as revenue.
        ledger.adjust(
            session,
            account.id,
            balance,
            key=f"demo-opening-{phone}",
            actor=actor,
            reason=references.DEMO_OPENING_NOTE,
        )
        done.append(f"customer {name!r}: account {account.id}")
    record_audit(
        session,
        actor,
        "demo.load",
        f"demo batch {batch.id}",
        after={"tariff_plan": plan.name, "rates": count, "customers": len(DEMO_CUSTOMERS)},
    )
    done.append("remove it all before going live: pulsa demo remove")
    return done


def ensure_first_admin(session: Session, actor: str = "pulsa", locale: str = "en") -> str | None:
    """A super admin `admin` with a random password when the web admin has no staff
    account at all, reading the admin in `locale` (the site's language); returns the
    password (shown once), or None when staff exist."""
    from wallet.staff import StaffUser, create_staff

    if session.execute(select(StaffUser.id).limit(1)).first():
        return None
    password = secrets.token_urlsafe(12)
    create_staff(
        session,
        FIRST_ADMIN,
        password,
        full_name="Administrator",
        is_superuser=True,
        locale=locale,
        actor=actor,
    )
    return password
