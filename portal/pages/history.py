"""History: every ledger entry of the customer's wallet in plain words, newest first, by
month, with a CSV download; and the calls with destination, start, duration and cost.

Pages are cut by the last id shown (keyset), never by an offset, so the thousandth page of
a long history costs what the first does: one index range on (account_id, id).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from functools import lru_cache

from babel.dates import format_date
from flask import Blueprint, Response, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Integer, Select, and_, bindparam, or_, select

from messaging.wording import calls_of_entries, describe_entry
from messaging.wording import display_number as shown_number
from portal.access import MenuEntry, customer, mine, settings
from portal.ui import Reading, local_moment, reader_locale, reading, zone
from rating.money import micro_to_decimal
from wallet.models import Account, CallRecord, LedgerEntry
from wallet.spreadsheet import csv_bytes
from wallet.text import whole_number

blueprint = Blueprint("history", __name__, url_prefix="/history")
MENU = MenuEntry(20, _l("History"), "history.index")
PER_PAGE = 25


@dataclass(frozen=True)
class Line:
    """One ledger entry as the customer reads it."""

    id: int
    at: datetime
    text: str
    amount: int
    balance_after: int


def display_number(number: str) -> str:
    """A dialled number as people write it at home (messaging.wording)."""
    config = settings()
    return shown_number(number, country_code=config.country_code, trunk_prefix=config.trunk_prefix)


def describe(
    entry: LedgerEntry, dialled: str | None, billsec: int | None, gettext=None, config=None
) -> str:
    """A ledger entry in plain words, worded like in the chat bots (messaging.wording).
    `gettext` and `config` (the settings in effect) may be given, looked up once for a
    page of entries."""
    config = config or settings()
    return describe_entry(
        entry,
        dialled,
        billsec,
        gettext or _,
        country_code=config.country_code,
        trunk_prefix=config.trunk_prefix,
    )


def _month(text: str | None) -> date | None:
    try:
        year, month = (int(part) for part in (text or "").strip().split("-"))
        first = date(year, month, 1)
    except ValueError:
        return None
    # ASCII digits only, and a month whose next month is still a date.
    return first if (text or "").isascii() and 1900 <= year <= 2999 else None


def _month_bounds(first: date) -> tuple[datetime, datetime]:
    """A local calendar month as naive-UTC bounds [start, end)."""
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)

    def bound(day: date) -> datetime:
        return datetime.combine(day, time(0), zone()).astimezone(UTC).replace(tzinfo=None)

    return bound(first), bound(following)


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return whole_number(value)


def _entries(
    account_id: int, month: date | None, *, before=None, after=None, limit=None
) -> tuple[Select, dict]:
    """The statement of a page of entries and its parameters."""
    values: dict = {"account_id": account_id}
    if month is not None:
        values["start"], values["end"] = _month_bounds(month)
    if before is not None:
        values["before"] = before
    if after is not None:
        values["after"] = after
    if limit is not None:
        values["limit"] = limit
    cut = "after" if after is not None else "before" if before is not None else None
    return _entries_query(month is not None, cut, limit is not None), values


@lru_cache(maxsize=16)
def _entries_query(by_month: bool, cut: str | None, limited: bool) -> Select:
    # Built once for each kind of page and run with its parameters: building it took
    # about as much CPU as running it (bench/portal.py).
    # The entries alone, so that the page is a plain range of one table; the calls of the
    # page's holds are fetched after it (_with_calls).
    # The wallet's id reaches the server as a subquery's result, which the planner does
    # not know when it plans: it then expects an average wallet and walks the index on
    # (account_id, id). Given the id itself, PostgreSQL reads its statistics, sees that
    # a heavy wallet holds a tenth of the table and walks the primary key backwards
    # instead, filtering, through every newer entry of everyone else (a wallet busy
    # once and quiet since: 900,000 rows, 350 ms for the newest page, in bench/portal.py).
    wallet = select(Account.id).where(Account.id == bindparam("account_id")).scalar_subquery()
    statement = select(LedgerEntry).where(LedgerEntry.account_id == wallet)
    if by_month:
        statement = statement.where(
            LedgerEntry.created_at >= bindparam("start"), LedgerEntry.created_at < bindparam("end")
        )
    if cut == "after":
        statement = statement.where(LedgerEntry.id > bindparam("after")).order_by(LedgerEntry.id)
    else:
        if cut == "before":
            statement = statement.where(LedgerEntry.id < bindparam("before"))
        statement = statement.order_by(LedgerEntry.id.desc())
    if limited:
        statement = statement.limit(bindparam("limit", type_=Integer))
    return statement


def _with_calls(session, entries: list[LedgerEntry]) -> list[tuple]:
    """Each entry with the number its call dialled and the call's billed seconds."""
    return calls_of_entries(session, entries)


def _line(entry: LedgerEntry, dialled, billsec, by: Reading, config) -> Line:
    return Line(
        entry.id,
        entry.created_at,
        describe(entry, dialled, billsec, by.gettext, config),
        entry.amount,
        entry.balance_after,
    )


def month_label(moment: datetime, by: Reading | None = None) -> str:
    if by is None:
        day = local_moment(moment).date()
        return _month_name(day.year, day.month, reader_locale())
    day = local_moment(moment, by.site).date()
    return _month_name(day.year, day.month, by.locale_name)


@lru_cache(maxsize=256)
def _month_name(year: int, month: int, locale) -> str:
    # A page of 25 entries has one or two months: named once, not 25 times.
    return format_date(date(year, month, 1), "MMMM yyyy", locale=locale)


@blueprint.get("/")
@customer
def index():
    month = _month(request.args.get("month"))
    before, after = _int_arg("before"), _int_arg("after")
    with mine() as my:
        statement, values = _entries(
            my.account_id, month, before=before, after=after, limit=PER_PAGE + 1
        )
        entries = list(my.session.execute(statement, values).scalars())
        more = len(entries) > PER_PAGE
        entries = entries[:PER_PAGE]
        if after is not None:
            entries.reverse()
        by, config = reading(), settings()
        lines = [_line(*row, by, config) for row in _with_calls(my.session, entries)]
    groups: list[tuple[str, list[Line]]] = []
    for line in lines:
        label = month_label(line.at, by)
        if not groups or groups[-1][0] != label:
            groups.append((label, []))
        groups[-1][1].append(line)
    has_older = more if after is None else True
    has_newer = (before is not None) or (after is not None and more)
    return render_template(
        "history/index.html",
        groups=groups,
        month=month.strftime("%Y-%m") if month else "",
        older=lines[-1].id if lines and has_older else None,
        newer=lines[0].id if lines and has_newer else None,
    )


@blueprint.get("/statement.csv")
@customer
def download():
    """The chosen month (default: this month) as CSV, safe to open in a spreadsheet."""
    month = _month(request.args.get("month")) or datetime.now(UTC).astimezone(
        zone()
    ).date().replace(day=1)
    header = [_("Date"), _("Description"), _("Amount"), _("Balance")]
    with mine() as my:
        statement, values = _entries(my.account_id, month)
        entries = my.session.execute(
            statement.order_by(None).order_by(LedgerEntry.id), values
        ).scalars()
        rows = _with_calls(my.session, list(entries))
        body = csv_bytes(
            header,
            (
                [
                    local_moment(entry.created_at).strftime("%Y-%m-%d %H:%M:%S"),
                    describe(entry, dialled, billsec),
                    micro_to_decimal(entry.amount),
                    micro_to_decimal(entry.balance_after),
                ]
                for entry, dialled, billsec in rows
            ),
        )
    response = Response(body, mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="statement-{month:%Y-%m}.csv"'
    return response


@blueprint.get("/calls")
@customer
def calls():
    """The customer's calls, newest first, cut by (start, id) of the last one shown."""
    cursor_at = request.args.get("before_at", "")
    cursor_id = _int_arg("before_id")
    with mine() as my:
        statement = (
            select(CallRecord)
            .where(CallRecord.account_id == my.account_id)
            .order_by(CallRecord.start_at.desc(), CallRecord.id.desc())
            .limit(PER_PAGE + 1)
        )
        try:
            moment = datetime.fromisoformat(cursor_at) if cursor_at else None
        except ValueError:
            moment = None
        if moment is not None and cursor_id is not None:
            statement = statement.where(
                or_(
                    CallRecord.start_at < moment,
                    and_(CallRecord.start_at == moment, CallRecord.id < cursor_id),
                )
            )
        records = list(my.session.execute(statement).scalars())
        more = len(records) > PER_PAGE
        records = records[:PER_PAGE]
        shown = [
            {
                "number": display_number(record.callee),
                "start": record.start_at,
                "billsec": record.billsec,
                "cost": record.cost,
                "answered": record.disposition == "ANSWERED",
            }
            for record in records
        ]
        last = records[-1] if records and more else None
    return render_template(
        "history/calls.html",
        calls=shown,
        next_at=last.start_at.isoformat() if last else None,
        next_id=last.id if last else None,
    )
