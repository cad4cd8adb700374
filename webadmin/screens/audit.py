"""The audit log (super admins only): who changed money or settings, when, before/after."""

from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from wallet.staff import AuditRecord
from webadmin.access import Screen, database, view
from webadmin.ui import paginate, parse_day, utc_range

blueprint = Blueprint("audit", __name__, url_prefix="/audit")
SCREEN = Screen(
    "audit",
    _l("Audit log"),
    "audit.index",
    order=95,
    superuser_only=True,
    description=_l("Every change of money or settings"),
)


@blueprint.get("/")
@view
def index():
    actor = request.args.get("actor", "").strip()
    action = request.args.get("action", "").strip()
    target = request.args.get("target", "").strip()
    start, end = utc_range(
        parse_day(request.args.get("from"), "from"), parse_day(request.args.get("to"), "to")
    )
    statement = select(AuditRecord).order_by(AuditRecord.id.desc())
    if actor:
        statement = statement.where(AuditRecord.actor.contains(actor, autoescape=True))
    if action:
        statement = statement.where(AuditRecord.action.startswith(action, autoescape=True))
    if target:
        statement = statement.where(AuditRecord.target.contains(target, autoescape=True))
    if start:
        statement = statement.where(AuditRecord.at >= start)
    if end:
        statement = statement.where(AuditRecord.at < end)
    with database().transaction() as session:
        page = paginate(session, statement, per_page=50)
        return render_template("audit/index.html", page=page)
