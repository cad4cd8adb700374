"""The dashboard: today's figures at a glance, and charts of the last days and months. The
money taken (today's top-ups and call revenue, the revenue chart) only for staff who may
see revenue."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, current_app, redirect, render_template, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from wallet import permissions
from wallet.display import day_text, month_text
from wallet.reports import (
    calls_per_hour,
    new_customers_by_month,
    revenue_by_period,
    today_figures,
)
from webadmin.access import Screen, database, signed_in, visible_screens
from webadmin.charts import bar_chart
from webadmin.ui import (
    count_short,
    count_text,
    locale_name,
    money,
    money_short,
    site,
    today_local,
    utc_range,
    zone,
)

blueprint = Blueprint("dashboard", __name__)
SCREEN = Screen(
    permissions.DASHBOARD,
    _l("Dashboard"),
    "dashboard.index",
    order=10,
    description=_l("Today's figures and charts"),
)


@blueprint.get("/")
@signed_in
def index():
    # Everyone signed in lands here; a role without the dashboard goes to its first screen.
    if not current_user.can("dashboard"):
        screens = visible_screens()
        if screens:
            return redirect(url_for(screens[0].endpoint))
        return render_template("dashboard/nothing.html")
    today = today_local()
    tz = zone()
    revenue = current_user.may(permissions.REVENUE)
    with database().transaction() as session:
        figures = today_figures(session, tz, site().low_balance_threshold)
        start, end = utc_range(today - timedelta(days=29), today)
        days = revenue_by_period(session, start, end, tz) if revenue else []
        months = new_customers_by_month(session, 12, tz)
        hours = calls_per_hour(session, today, tz)
        tiles = []
        for provider in current_app.extensions["pulsa.dashboard_tiles"]:
            tiles.extend(provider(session))
    locale = locale_name()
    charts = {
        "revenue": bar_chart(
            [
                (day_text(date.fromisoformat(d.period), locale=locale), d.topups + d.call_revenue)
                for d in days
            ],
            title=str(_l("Top-ups and call revenue per day, last 30 days")),
            value_label=money,
            axis_label=money_short,
            every=5,
        )
        if revenue
        else None,
        "customers": bar_chart(
            [
                (month_text(date.fromisoformat(label + "-01"), locale=locale), count)
                for label, count in months
            ],
            title=str(_l("New customers per month")),
            value_label=count_text,
            axis_label=count_short,
            every=1,
        ),
        "hours": bar_chart(
            [(f"{hour:02d}", count) for hour, count in enumerate(hours)],
            title=str(_l("Calls per hour today")),
            value_label=count_text,
            axis_label=count_short,
            every=3,
        ),
    }
    return render_template(
        "dashboard/index.html", f=figures, charts=charts, tiles=tiles, revenue=revenue
    )
