"""Tariff plans in the database, and their conversion to `rating` objects."""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from rating import Band, Rate, RatingError, Tariff
from rating.bands import format_days, parse_clock, parse_days
from rating.tariff import load_zone
from rating.tariff_csv import read_rates_csv, write_rates_csv
from wallet.errors import InvalidInput, NotFound
from wallet.ledger import utcnow
from wallet.models import HolidayRow, RateRow, TariffPlan, TimeBandRow
from wallet.text import check_text

RATE_FIELDS = (
    "prefix",
    "band",
    "description",
    "connection_fee",
    "price_per_minute",
    "initial_block",
    "increment",
    "minimum_duration",
    "grace",
    "max_duration",
)


def get_plan(session: Session, name: str) -> TariffPlan:
    plan = session.execute(select(TariffPlan).where(TariffPlan.name == name)).scalar_one_or_none()
    if plan is None:
        raise NotFound(f"tariff plan {name!r} does not exist")
    return plan


def ensure_plan(session: Session, name: str, timezone: str = "UTC") -> TariffPlan:
    name = check_text((name or "").strip(), "a tariff plan name")
    if not name:
        raise InvalidInput("a tariff plan needs a name")
    plan = session.execute(select(TariffPlan).where(TariffPlan.name == name)).scalar_one_or_none()
    if plan is None:
        try:
            load_zone(timezone)
        except RatingError as error:
            raise InvalidInput(str(error)) from None
        plan = TariffPlan(name=name, timezone=timezone, created_at=utcnow())
        session.add(plan)
        session.flush()
    return plan


def move_plans_to_zone(
    session: Session, timezone: str, *, actor: str, address: str | None = None
) -> list[str]:
    """Put every tariff plan in `timezone` (their bands and holidays are then read there),
    audited one record per plan moved; returns the names of the plans moved. For the
    first-run setup: plans made before it (the demo's, or imported into) are in the
    server's zone, often UTC, and would price peak hours seven hours off in Jakarta."""
    from wallet.staff import record_audit  # imported here: wallet.staff is heavier

    try:
        load_zone(timezone)
    except RatingError as error:
        raise InvalidInput(str(error)) from None
    moved = []
    plans = session.execute(select(TariffPlan).order_by(TariffPlan.name)).scalars()
    for plan in plans:
        if plan.timezone == timezone:
            continue
        before = plan.timezone
        plan.timezone = timezone
        _changed(plan)  # the calls' tariff caches load it again
        record_audit(
            session,
            actor,
            "tariff_plan.timezone",
            f"tariff plan {plan.name}",
            before={"timezone": before},
            after={"timezone": timezone},
            address=address,
        )
        moved.append(plan.name)
    session.flush()
    return moved


def add_band(
    session: Session, plan_name: str, name: str, days: str, start: str, end: str
) -> TimeBandRow:
    """A named band such as peak = mon-fri 08:00-18:00 (earlier bands win on overlap)."""
    plan = get_plan(session, plan_name)
    try:
        band = Band(name.strip().lower(), parse_days(days), parse_clock(start), parse_clock(end))
    except ValueError as error:
        raise InvalidInput(str(error)) from None
    position = len(_band_rows(session, plan.id))
    row = session.execute(
        select(TimeBandRow).where(TimeBandRow.plan_id == plan.id, TimeBandRow.name == band.name)
    ).scalar_one_or_none()
    if row is None:
        row = TimeBandRow(plan_id=plan.id, name=band.name, position=position)
        session.add(row)
    row.days = format_days(band.days)
    row.start_seconds, row.end_seconds = band.start, band.end
    _changed(plan)
    session.flush()
    return row


def add_holiday(session: Session, plan_name: str, day: date, band: str, name: str = "") -> None:
    plan = get_plan(session, plan_name)
    band = band.strip().lower()
    if band not in {row.name for row in _band_rows(session, plan.id)}:
        raise InvalidInput(f"plan {plan_name!r} has no band {band!r}")
    row = session.execute(
        select(HolidayRow).where(HolidayRow.plan_id == plan.id, HolidayRow.day == day)
    ).scalar_one_or_none()
    if row is None:
        row = HolidayRow(plan_id=plan.id, day=day)
        session.add(row)
    row.band, row.name = band, name or None
    _changed(plan)
    session.flush()


def import_rates(
    session: Session, plan_name: str, text: str, *, replace: bool = True, precision: int = 0
) -> int:
    """Load a tariff CSV into a plan, all or nothing.

    `precision` is the currency's decimals, which decide how prices are read (see
    rating.tariff_csv); 0, IDR's, by default.

    The file is parsed and checked whole before anything is written (TariffFileError
    lists every bad line); the rows are then written in the caller's transaction.
    `replace` drops the plan's other rates; otherwise rates are added or updated.
    """
    plan = get_plan(session, plan_name)
    rates = read_rates_csv(text, precision=precision)
    bands = {row.name for row in _band_rows(session, plan.id)}
    unknown = sorted({r.band for r in rates if r.band and r.band not in bands})
    if unknown:
        raise InvalidInput(
            f"plan {plan_name!r} has no band {', '.join(map(repr, unknown))}; add it first"
        )
    if replace:
        session.execute(delete(RateRow).where(RateRow.plan_id == plan.id))
        existing: dict[tuple[str, str], RateRow] = {}
    else:
        existing = {
            (row.prefix, row.band): row
            for row in session.execute(select(RateRow).where(RateRow.plan_id == plan.id)).scalars()
        }
    for rate in rates:
        row = existing.get((rate.prefix, rate.band))
        if row is None:
            row = RateRow(plan_id=plan.id)
            session.add(row)
        for field in RATE_FIELDS:
            setattr(row, field, getattr(rate, field))
    _changed(plan)
    session.flush()
    return len(rates)


def export_rates(session: Session, plan_name: str) -> str:
    plan = get_plan(session, plan_name)
    return write_rates_csv(_rates(session, plan.id))


def load_tariff(session: Session, plan_id: int) -> Tariff:
    """The plan as a `rating.Tariff`, ready to price calls."""
    plan = session.get(TariffPlan, plan_id)
    if plan is None:
        raise NotFound(f"tariff plan {plan_id} does not exist")
    bands = [
        Band(row.name, parse_days(row.days), row.start_seconds, row.end_seconds)
        for row in _band_rows(session, plan.id)
    ]
    holidays = {
        row.day: row.band
        for row in session.execute(
            select(HolidayRow).where(HolidayRow.plan_id == plan.id)
        ).scalars()
    }
    return Tariff(_rates(session, plan.id), bands, holidays, plan.timezone)


def _changed(plan: TariffPlan) -> None:
    plan.revision = (plan.revision or 0) + 1


def _rates(session: Session, plan_id: int) -> list[Rate]:
    rows = session.execute(select(RateRow).where(RateRow.plan_id == plan_id)).scalars()
    return [Rate(**{field: getattr(row, field) for field in RATE_FIELDS}) for row in rows]


def _band_rows(session: Session, plan_id: int) -> list[TimeBandRow]:
    return list(
        session.execute(
            select(TimeBandRow).where(TimeBandRow.plan_id == plan_id).order_by(TimeBandRow.position)
        ).scalars()
    )
