"""Demo data, kept apart from the operator's: loaded into an empty database only, listed
row by row as the demo's, and removed whole before going live.

A demo batch lists the rows the demo made (customers, tariff plan, bands, holidays,
rates). Removing it deletes those customers with everything that hangs off them in the
database (wallets, ledger entries, holds, calls, CDRs, identities, hotspot logins,
subscriptions, payment requests, and whatever later tables refer to them), found from
the schema's foreign keys so that a table added later is removed too. What the operator
built on the demo's tariff plan stays: a plan still used by the operator's customers or
holding rates the operator imported is kept, with the bands its rates need.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from wallet.errors import InvalidInput
from wallet.ledger import utcnow
from wallet.models import (
    Base,
    Customer,
    HolidayRow,
    Id,
    LedgerEntry,
    RateRow,
    TariffPlan,
    TimeBandRow,
)
from wallet.staff import record_audit

#: Rows of these tables are listed when the demo makes them; everything else it removes
#: is found from them.
LISTED_TABLES = ("customers", "tariff_plans", "time_bands", "holidays", "rates")
_CHUNK = 500


class DemoBatch(Base):
    """One loading of the demo. Kept after removal, so that the demo never comes back
    by itself into a database whose operator removed it."""

    __tablename__ = "demo_batches"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    loaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    loaded_by: Mapped[str] = mapped_column(String(60))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    removed_by: Mapped[str | None] = mapped_column(String(60))


class DemoRow(Base):
    __tablename__ = "demo_rows"
    __table_args__ = (
        UniqueConstraint("table_name", "row_id", name="uq_demo_rows_table_name_row_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("demo_batches.id"), index=True)
    table_name: Mapped[str] = mapped_column(String(40))
    row_id: Mapped[int] = mapped_column(BigInteger)
    # What the row held when listed: SQLite gives a deleted row's id to the next row, so
    # a listed id alone could name a row the operator made since.
    fingerprint: Mapped[str] = mapped_column(Text, default="")


#: The columns that tell a listed row is still the one the demo made (a demo customer the
#: operator renamed is still the demo's; a rate whose price the operator changed is not).
_FINGERPRINTS = {
    "customers": ("created_at",),
    "tariff_plans": ("created_at",),
    "time_bands": ("plan_id", "name", "days", "start_seconds", "end_seconds"),
    "holidays": ("plan_id", "day", "band"),
    "rates": (
        "plan_id",
        "prefix",
        "band",
        "connection_fee",
        "price_per_minute",
        "initial_block",
        "increment",
        "minimum_duration",
        "grace",
        "max_duration",
    ),
}


def _fingerprint(table_name: str, values) -> str:
    return "|".join(str(values[name]) for name in _FINGERPRINTS[table_name])


# --- loading ----------------------------------------------------------------------------


def why_not_load(session: Session) -> str | None:
    """Why the demo may not go into this database (None: it may)."""
    batch = session.execute(select(DemoBatch).order_by(DemoBatch.id.desc())).scalars().first()
    if batch is not None:
        if batch.removed_at is None:
            return "the demo is loaded already"
        return "the demo was removed from this database; it is not loaded again"
    found = operator_data(session)
    if found:
        return "the database has the operator's own data (" + ", ".join(found) + ")"
    return None


def operator_data(session: Session) -> list[str]:
    """The kinds of data the operator already has (customers, tariff plans, ...)."""
    from wallet.hotspot_models import InternetPackage, Router, VoucherBatch

    kinds = (
        ("customers", Customer.id),
        ("tariff plans", TariffPlan.id),
        ("ledger entries", LedgerEntry.id),
        ("internet packages", InternetPackage.id),
        ("routers", Router.id),
        ("voucher batches", VoucherBatch.id),
    )
    return [name for name, column in kinds if session.execute(select(column).limit(1)).first()]


def start_batch(session: Session, actor: str) -> DemoBatch:
    refusal = why_not_load(session)
    if refusal is not None:
        raise InvalidInput(refusal)
    batch = DemoBatch(loaded_at=utcnow(), loaded_by=actor[:60])
    session.add(batch)
    session.flush()
    return batch


def mark(session: Session, batch: DemoBatch, table_name: str, row_ids: Iterable[int]) -> None:
    """List rows of `table_name` as made by the demo."""
    if table_name not in LISTED_TABLES:
        raise ValueError(f"the demo does not list rows of {table_name}")
    session.flush()
    table = _tables()[table_name]
    for row_id in row_ids:
        values = session.execute(select(table).where(table.c.id == row_id)).mappings().one()
        session.add(
            DemoRow(
                batch_id=batch.id,
                table_name=table_name,
                row_id=row_id,
                fingerprint=_fingerprint(table_name, values),
            )
        )
    session.flush()


def loaded_batch(session: Session) -> DemoBatch | None:
    """The demo batch still in the database, if any."""
    return (
        session.execute(select(DemoBatch).where(DemoBatch.removed_at.is_(None))).scalars().first()
    )


def is_demo_customer(session: Session, customer_id: int) -> bool:
    return (
        session.execute(
            select(DemoRow.id).where(
                DemoRow.table_name == "customers", DemoRow.row_id == customer_id
            )
        ).first()
        is not None
    )


# --- removal ----------------------------------------------------------------------------


@dataclass
class DemoRemoval:
    """What removing the demo deletes (a preview) or deleted: rows per table, and the
    demo's tariff plans that stay because the operator uses them."""

    rows: dict[str, int] = field(default_factory=dict)
    kept_plans: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.rows.values())


def _listed(session: Session, batch_id: int) -> dict[str, set[int]]:
    """The listed rows still in the database as the demo made them."""
    tables = _tables()
    listed: dict[str, set[int]] = {name: set() for name in LISTED_TABLES}
    for table_name, row_id, fingerprint in session.execute(
        select(DemoRow.table_name, DemoRow.row_id, DemoRow.fingerprint).where(
            DemoRow.batch_id == batch_id
        )
    ):
        table = tables[table_name]
        values = session.execute(select(table).where(table.c.id == row_id)).mappings().first()
        if values is not None and _fingerprint(table_name, values) == fingerprint:
            listed[table_name].add(int(row_id))
    return listed


def _tables() -> dict[str, Table]:
    import wallet.all_models  # noqa: F401  (every table known to the metadata)

    return dict(Base.metadata.tables)


def _chunks(ids: Iterable[int]) -> Iterable[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        yield ordered[start : start + _CHUNK]


def _single_key(table: Table):
    keys = list(table.primary_key.columns)
    return keys[0] if len(keys) == 1 else None


def _referring(session: Session, doomed: dict[str, set[int]]) -> dict[str, set[int]]:
    """Every row that refers, directly or through others, to a doomed row: the closure
    of `doomed` over the foreign keys of every table."""
    tables = _tables()
    grown = True
    while grown:
        grown = False
        for table in tables.values():
            key = _single_key(table)
            if key is None:
                continue
            for foreign in table.foreign_keys:
                target = doomed.get(foreign.column.table.name)
                if not target:
                    continue
                found: set[int] = set()
                for chunk in _chunks(target):
                    found.update(
                        int(row_id)
                        for (row_id,) in session.execute(
                            select(key).where(foreign.parent.in_(chunk))
                        )
                    )
                mine = doomed.setdefault(table.name, set())
                if found - mine:
                    mine.update(found)
                    grown = True
    return doomed


def _used_outside(session: Session, plan_id: int, doomed: dict[str, set[int]]) -> bool:
    """Whether a row that stays refers to the tariff plan (a customer of the operator's
    on it, their calls, their rates)."""
    for table in _tables().values():
        key = _single_key(table)
        for foreign in table.foreign_keys:
            if foreign.column.table.name != "tariff_plans" or key is None:
                continue
            rows = {
                int(row_id)
                for (row_id,) in session.execute(select(key).where(foreign.parent == plan_id))
            }
            if rows - doomed.get(table.name, set()):
                return True
    return False


def _doomed(session: Session, batch: DemoBatch) -> tuple[dict[str, set[int]], list[str]]:
    listed = _listed(session, batch.id)
    doomed = _referring(session, {"customers": set(listed["customers"])})
    tariff = {name: set(listed[name]) for name in ("rates", "time_bands", "holidays")}
    tariff["tariff_plans"] = set()
    plans = session.execute(
        select(TariffPlan).where(TariffPlan.id.in_(sorted(listed["tariff_plans"])))
    ).scalars()
    kept_plans = []
    for plan in plans:
        # The operator's rates in the plan (imported since the demo, or a demo rate the
        # operator changed) and the bands they are priced by stay with it.
        theirs = list(
            session.execute(
                select(RateRow).where(
                    RateRow.plan_id == plan.id, RateRow.id.not_in(sorted(tariff["rates"]))
                )
            ).scalars()
        )
        their_bands = {rate.band for rate in theirs if rate.band}
        if their_bands:
            for band in session.execute(
                select(TimeBandRow).where(
                    TimeBandRow.plan_id == plan.id, TimeBandRow.name.in_(their_bands)
                )
            ).scalars():
                tariff["time_bands"].discard(band.id)
        if theirs or _used_outside(session, plan.id, {**doomed, **tariff}):
            kept_plans.append(plan.name)
            # Holidays point at bands: those of bands that stay, stay.
            staying = {
                band.name
                for band in session.execute(
                    select(TimeBandRow).where(
                        TimeBandRow.plan_id == plan.id,
                        TimeBandRow.id.not_in(sorted(tariff["time_bands"])),
                    )
                ).scalars()
            }
            for holiday in session.execute(
                select(HolidayRow).where(
                    HolidayRow.plan_id == plan.id, HolidayRow.band.in_(sorted(staying))
                )
            ).scalars():
                tariff["holidays"].discard(holiday.id)
        else:
            tariff["tariff_plans"].add(plan.id)
    for name, ids in tariff.items():
        doomed.setdefault(name, set()).update(ids)
    return {name: ids for name, ids in doomed.items() if ids}, kept_plans


def preview_removal(session: Session) -> DemoRemoval | None:
    """What `remove_demo` would delete now (None: no demo is loaded)."""
    batch = loaded_batch(session)
    if batch is None:
        return None
    doomed, kept = _doomed(session, batch)
    return DemoRemoval({name: len(ids) for name, ids in doomed.items()}, kept)


def remove_demo(session: Session, *, actor: str, address: str | None = None) -> DemoRemoval:
    """Delete the demo's customers with everything that refers to them, and the demo's
    tariff rows the operator did not build on; audited, in the caller's transaction."""
    batch = loaded_batch(session)
    if batch is None:
        raise InvalidInput("no demo data is loaded")
    doomed, kept = _doomed(session, batch)
    tables = _tables()
    # Foreign keys between doomed rows may form cycles (a voucher and its subscription):
    # cut the optional ones first, then delete children before parents.
    for name, ids in doomed.items():
        table = tables[name]
        key = _single_key(table)
        optional = [f.parent for f in table.foreign_keys if f.parent.nullable]
        if key is None or not optional:
            continue
        for chunk in _chunks(ids):
            session.execute(
                update(table).where(key.in_(chunk)).values({c.name: None for c in optional})
            )
    for table in reversed(Base.metadata.sorted_tables):
        ids = doomed.get(table.name)
        key = _single_key(table)
        if not ids or key is None:
            continue
        for chunk in _chunks(ids):
            session.execute(delete(table).where(key.in_(chunk)))
    session.execute(delete(DemoRow).where(DemoRow.batch_id == batch.id))
    batch.removed_at, batch.removed_by = utcnow(), actor[:60]
    session.flush()
    session.expire_all()  # the deleted rows may be in the session still
    removal = DemoRemoval({name: len(ids) for name, ids in doomed.items()}, kept)
    record_audit(
        session,
        actor,
        "demo.remove",
        f"demo batch {batch.id}",
        after={"deleted": removal.rows, "kept_tariff_plans": kept},
        address=address,
    )
    return removal


def removal_lines(removal: DemoRemoval) -> list[str]:
    """What a removal did, in lines for the command line."""
    lines = [f"{count} {name.replace('_', ' ')}" for name, count in sorted(removal.rows.items())]
    for plan in removal.kept_plans:
        lines.append(
            f"tariff plan {plan!r} kept: the operator's customers or rates use it "
            "(the demo's rates in it are gone: import your own)"
        )
    return lines
