"""Reports: revenue by day and by month, by payment method, by customer type and by
destination prefix, for a date range; each on screen, as CSV or Excel, and printable. Only
for staff who may see revenue (the "revenue" permission) as well as this screen."""

from __future__ import annotations

from datetime import date, timedelta

from babel.dates import format_date
from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l

from rating.money import micro_to_decimal
from wallet import permissions
from wallet.display import day_text, month_text
from wallet.reports import (
    calls_by_prefix,
    revenue_by_customer_kind,
    revenue_by_period,
    topups_by_method,
)
from webadmin.access import Permission, Screen, database, view
from webadmin.charts import bar_chart
from webadmin.exports import download, subtitle
from webadmin.screens.customers import KIND_LABELS, METHOD_LABELS
from webadmin.ui import (
    filter_errors,
    locale_name,
    money,
    money_short,
    parse_day,
    today_local,
    utc_range,
    zone,
)

blueprint = Blueprint("reports", __name__, url_prefix="/reports")
SCREEN = Screen(
    "reports",
    _l("Reports"),
    "reports.index",
    order=60,
    description=_l("Revenue by day, month, method, customer type, destination"),
    requires=permissions.REVENUE,
)
#: Money taken, apart from the screens that show it: the reports and the dashboard's
#: top-ups, call revenue and revenue chart.
PERMISSIONS = (
    Permission(
        permissions.REVENUE,
        _l("See revenue"),
        _l("The reports, and today's top-ups, call revenue and the revenue chart on the dashboard"),
        order=50,
    ),
)
REPORTS = {
    "day": _l("Revenue by day"),
    "month": _l("Revenue by month"),
    "method": _l("Top-ups by payment method"),
    "kind": _l("Revenue by customer type"),
    "prefix": _l("Calls by destination prefix"),
}
MAX_DAYS = 731


def _table(report: str, session, start, end) -> tuple[list[str], list[tuple], list[tuple]]:
    """(header, rows for the screen with money as micro-units, rows for files in units)."""
    m = micro_to_decimal
    if report in ("day", "month"):
        rows = revenue_by_period(session, start, end, zone(), period=report)
        header = [
            str(_l("Period")),
            str(_l("Top-ups")),
            str(_l("Number of top-ups")),
            str(_l("Call revenue")),
            str(_l("Packages and vouchers")),
            str(_l("Calls")),
            str(_l("Talk minutes")),
        ]
        screen = [
            (
                _period_label(r.period, report),
                r.topups,
                r.topup_count,
                r.call_revenue,
                r.other_spend,
                r.calls,
                round(r.billsec / 60, 1),
            )
            for r in rows
        ]
        files = [
            (_period_value(r.period), m(b), c, m(d), m(e), f, g)
            for r, (_a, b, c, d, e, f, g) in zip(rows, screen, strict=True)
        ]
        return header, screen, files
    if report == "method":
        rows = topups_by_method(session, start, end)
        header = [str(_l("Method")), str(_l("Number of top-ups")), str(_l("Top-ups"))]
        screen = [(str(METHOD_LABELS.get(k, k)), c, t) for k, c, t in rows]
        return header, screen, [(a, b, m(c)) for a, b, c in screen]
    if report == "kind":
        rows = revenue_by_customer_kind(session, start, end)
        header = [
            str(_l("Customer type")),
            str(_l("Top-ups")),
            str(_l("Call revenue")),
            str(_l("Packages and vouchers")),
        ]
        screen = [(str(KIND_LABELS.get(k, k)), t, c, o) for k, t, c, o in rows]
        return header, screen, [(a, m(b), m(c), m(d)) for a, b, c, d in screen]
    rows = calls_by_prefix(session, start, end)
    header = [
        str(_l("Prefix")),
        str(_l("Destination")),
        str(_l("Answered calls")),
        str(_l("Talk minutes")),
        str(_l("Call revenue")),
    ]
    screen = [(p or "*", d, n, round(s / 60, 1), c) for p, d, n, s, c in rows]
    return header, screen, [(a, b, c, d, m(e)) for a, b, c, d, e in screen]


# Which columns of each report are money (shown with the currency on screen).
MONEY_COLUMNS = {
    "day": {1, 3, 4},
    "month": {1, 3, 4},
    "method": {2},
    "kind": {1, 2, 3},
    "prefix": {4},
}
# Which columns add up in the totals row (money, counts, minutes).
TOTAL_COLUMNS = {
    "day": {1, 2, 3, 4, 5, 6},
    "month": {1, 2, 3, 4, 5, 6},
    "method": {1, 2},
    "kind": {1, 2, 3},
    "prefix": {2, 3, 4},
}


def _period_value(period: str) -> date | str:
    """A day ("2026-11-23") or a month ("2026-11") as a date for a spreadsheet (a month
    is its first day, shown as a month)."""
    try:
        return date.fromisoformat(period if len(period) == 10 else period + "-01")
    except ValueError:
        return period


def _period_label(period: str, report: str) -> str:
    """A day or a month as the reader writes it: "23 Nov 2026", "Nov 2026" ("Des 2026"
    in Indonesian)."""
    value = _period_value(period)
    if not isinstance(value, date):
        return period
    if report == "month":
        return month_text(value, locale=locale_name())
    return format_date(value, "medium", locale=locale_name())


def _chart_label(value: date | str, report: str) -> str:
    """A bar's label: "23 Nov" for a day, "Nov 2026" for a month, in the reader's
    language."""
    if not isinstance(value, date):
        return str(value)
    if report == "month":
        return month_text(value, locale=locale_name())
    return day_text(value, locale=locale_name())


def _iso(value: date | str, report: str) -> str:
    if not isinstance(value, date):
        return value
    return value.strftime("%Y-%m") if report == "month" else value.isoformat()


@blueprint.get("/")
@view
def index():
    report = request.args.get("report", "day")
    if report not in REPORTS:
        report = "day"
    today = today_local()
    first = parse_day(request.args.get("from"), "from") or (today - timedelta(days=29))
    last = parse_day(request.args.get("to"), "to") or today
    if last < first:
        first, last = last, first
    first = max(first, last - timedelta(days=MAX_DAYS))
    start, end = utc_range(first, last)
    with database().transaction() as session:
        header, screen, files = _table(report, session, start, end)
    fmt = request.args.get("format")
    if fmt in ("csv", "xlsx") and not filter_errors():
        name = f"{report}-{first.isoformat()}-{last.isoformat()}"
        if fmt == "csv":
            # The CSV file is data for other programs: days and months as ISO text.
            files = [(_iso(row[0], report), *row[1:]) for row in files]
        return download(
            fmt,
            name,
            str(REPORTS[report]),
            header,
            files,
            subtitle=subtitle(first, last),
            money_columns=MONEY_COLUMNS[report],
            total_columns=TOTAL_COLUMNS[report],
            month_columns={0} if report == "month" else (),
        )
    chart = None
    if report in ("day", "month") and screen:
        chart = bar_chart(
            [
                (_chart_label(file_row[0], report), row[1] + row[3])
                for file_row, row in zip(files, screen, strict=True)
            ],
            title=str(_l("Top-ups and call revenue")),
            value_label=money,
            axis_label=money_short,
            every=max(1, len(screen) // 12),
        )
    return render_template(
        "reports/index.html",
        reports=REPORTS,
        report=report,
        first=first,
        last=last,
        header=header,
        rows=screen,
        money_columns=MONEY_COLUMNS[report],
        chart=chart,
    )
