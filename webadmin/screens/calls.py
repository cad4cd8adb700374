"""Calls: the CDR list with filters and totals, CSV/Excel export and a printable view;
live calls with the time their holds still pay for, and hang-up requests."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, or_, select

from rating.money import AmountError, micro_to_decimal
from wallet.backoffice import (
    HANGUP_CALL_ENDED,
    HANGUP_DONE,
    HANGUP_NOT_FOLLOWED,
    last_hangup_requests,
    request_hangup,
)
from wallet.errors import WalletError
from wallet.models import Account, CallRecord, Customer
from wallet.reports import live_calls_query, seconds_left
from webadmin.access import Screen, actor, change, client_address, database, view
from webadmin.exports import download, subtitle
from webadmin.forms import amount_message, read_amount
from webadmin.labels import label
from webadmin.ui import (
    filter_errors,
    local_moment,
    paginate,
    parse_day,
    utc_range,
    whole_number,
)

blueprint = Blueprint("calls", __name__, url_prefix="/calls")
SCREEN = Screen(
    "calls",
    _l("Calls"),
    "calls.index",
    order=50,
    description=_l("Call records, exports, live calls and hang-up"),
)
DISPOSITIONS = ("ANSWERED", "NO ANSWER", "BUSY", "FAILED")
EXPORT_LIMIT = 100_000
PRINT_LIMIT = 5_000
#: The outcomes the AMI listener records, in the admin's language ("failed: ..." apart).
HANGUP_OUTCOMES = {
    HANGUP_DONE: _l("hung up"),
    HANGUP_CALL_ENDED: _l("call already ended"),
    HANGUP_NOT_FOLLOWED: _l("no AMI listener follows the call"),
}


def _amount(name: str) -> int | None:
    """An amount filter; a refused one is reported beside its field and not applied."""
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return read_amount(text)
    except AmountError as error:
        filter_errors()[name] = amount_message(error)
        return None


def filtered() -> Select:
    """The CDRs the query string asks for, newest first."""
    args = request.args
    statement = (
        select(CallRecord, Customer.name)
        .outerjoin(Account, Account.id == CallRecord.account_id)
        .outerjoin(Customer, Customer.id == Account.customer_id)
        .order_by(CallRecord.start_at.desc(), CallRecord.id.desc())
    )
    start, end = utc_range(parse_day(args.get("from"), "from"), parse_day(args.get("to"), "to"))
    if start:
        statement = statement.where(CallRecord.start_at >= start)
    if end:
        statement = statement.where(CallRecord.start_at < end)
    customer = args.get("customer", "").strip()
    if customer:
        number = whole_number(customer)
        if number is not None:  # an account number or a caller's number
            statement = statement.where(
                or_(CallRecord.account_id == number, CallRecord.caller == customer)
            )
        elif customer.isascii() and customer.isdigit():  # too long for an account number
            statement = statement.where(CallRecord.caller == customer)
        else:
            statement = statement.where(Customer.name.ilike(f"%{customer}%"))
    destination = "".join(c for c in args.get("destination", "") if c in "0123456789")
    if destination:
        statement = statement.where(CallRecord.callee.startswith(destination))
    if args.get("disposition") in DISPOSITIONS:
        statement = statement.where(CallRecord.disposition == args["disposition"])
    low, high = _amount("cost_min"), _amount("cost_max")
    if low is not None:
        statement = statement.where(CallRecord.cost >= low)
    if high is not None:
        statement = statement.where(CallRecord.cost <= high)
    return statement


def _totals(session, statement: Select) -> dict:
    sub = statement.order_by(None).subquery()
    count, billsec, cost = session.execute(
        select(
            func.count(sub.c.id),
            func.coalesce(func.sum(sub.c.billsec), 0),
            func.coalesce(func.sum(sub.c.cost), 0),
        )
    ).one()
    return {"count": int(count), "billsec": int(billsec), "cost": int(cost)}


HEADER = (
    "start",
    "customer",
    "account",
    "caller",
    "number",
    "prefix",
    "destination",
    "band",
    "disposition",
    "duration_s",
    "billsec_s",
    "charged_s",
    "cost",
    "source",
    "end",
    "end_estimated",
)
#: The Excel file's column titles, for people (the CSV file keeps HEADER, for programs).
TITLES = (
    _l("Start"),
    _l("Customer"),
    _l("Wallet"),
    _l("Caller"),
    _l("Number"),
    _l("Prefix"),
    _l("Destination"),
    _l("Band"),
    _l("Result"),
    _l("Duration (s)"),
    _l("Talk time (s)"),
    _l("Charged (s)"),
    _l("Cost"),
    _l("Source"),
    _l("End"),
    _l("End estimated"),
)


def _row(record: CallRecord, name: str | None, *, readable: bool = False) -> tuple:
    """One call of an export; `readable` (Excel) writes its outcome and flags in the
    reader's words, the CSV file as stored."""
    return (
        local_moment(record.start_at),
        name or "",
        record.account_id,
        record.caller,
        record.callee,
        record.destination_prefix or "",
        record.rate_description or "",
        record.rate_band or "",
        label(record.disposition, "disposition") if readable else record.disposition,
        record.duration,
        record.billsec,
        record.charged_seconds,
        micro_to_decimal(record.cost),
        label(record.source, "record_source") if readable else record.source,
        local_moment(record.end_at),
        (_("yes") if record.end_estimated else _("no"))
        if readable
        else ("yes" if record.end_estimated else "no"),
    )


@blueprint.get("/")
@view
def index():
    fmt = request.args.get("format")
    statement = filtered()
    with database().transaction() as session:
        totals = _totals(session, statement)
        # An export or a print of a filter that was refused would not be what was asked.
        if fmt in ("csv", "xlsx") and not filter_errors():
            rows = session.execute(statement.limit(EXPORT_LIMIT)).all()
            return download(
                fmt,
                "calls",
                _("Calls"),
                HEADER if fmt == "csv" else [str(title) for title in TITLES],
                [_row(record, name, readable=fmt == "xlsx") for record, name in rows],
                subtitle=subtitle(
                    parse_day(request.args.get("from")), parse_day(request.args.get("to"))
                ),
                money_columns={12},
                total_columns={9, 10, 11, 12},
            )
        if request.args.get("print") and not filter_errors():
            rows = session.execute(statement.limit(PRINT_LIMIT)).all()
            return render_template("calls/print.html", rows=rows, totals=totals, limit=PRINT_LIMIT)
        page = paginate(session, statement, per_page=50)
        return render_template(
            "calls/index.html", page=page, totals=totals, dispositions=DISPOSITIONS
        )


@blueprint.get("/live")
@view
def live():
    now = datetime.now(UTC).replace(tzinfo=None)
    with database().transaction() as session:
        page = paginate(session, live_calls_query(), per_page=50)
        hangups = last_hangup_requests(session, [call.id for call, _a, _c in page.items])
        calls = [
            {
                "call": call,
                "account": account,
                "customer": customer,
                "left": seconds_left(call, now),
                "running": int((now - (call.answered_at or call.authorized_at)).total_seconds()),
                "hangup": hangups.get(call.id),
            }
            for call, account, customer in page.items
        ]
        return render_template("calls/live.html", calls=calls, page=page, outcomes=HANGUP_OUTCOMES)


@blueprint.post("/live/<int:call_id>/hangup")
@change
def hangup(call_id: int):
    try:
        database().run(
            lambda s: request_hangup(s, call_id, actor=actor(), address=client_address())
        )
    except WalletError as error:
        flash(str(error), "error")
    else:
        flash(
            _(
                "Hang-up requested. It takes effect when the AMI listener processes hang-up "
                "requests; until then the call ends when its paid time runs out."
            ),
            "warning",
        )
    return redirect(url_for("calls.live"))
