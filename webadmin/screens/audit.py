"""The audit log (super admins only): who changed money or settings, when, before/after.

The records are stored as exact JSON (amounts in micro-units); the screen shows each
field on a line of its own, amounts as money in the reader's language ("balance:
Rp65.000"), with the stored value kept in the line's tooltip."""

from __future__ import annotations

import json

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from wallet.display import AUDIT_MONEY_KEYS
from wallet.staff import AuditRecord
from webadmin.access import Screen, database, view
from webadmin.labels import LABELS, stored_target
from webadmin.ui import money, paginate, parse_day, utc_range

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
        # A code ("wallet.", "wallet.top_up") or words of its label in the reader's
        # language ("isi ulang").
        statement = statement.where(
            or_(
                AuditRecord.action.startswith(action, autoescape=True),
                AuditRecord.action.in_(actions_labelled(action)),
            )
        )
    if target:
        # As stored ("account 12", anywhere in it) or in the reader's words ("dompet 12":
        # targets that start with its stored form, so not "bank account 12").
        matches = [AuditRecord.target.contains(target, autoescape=True)]
        stored = stored_target(target)
        if stored != target:
            matches.append(AuditRecord.target.startswith(stored, autoescape=True))
        statement = statement.where(or_(*matches))
    if start:
        statement = statement.where(AuditRecord.at >= start)
    if end:
        statement = statement.where(AuditRecord.at < end)
    with database().transaction() as session:
        page = paginate(session, statement, per_page=50)
        return render_template("audit/index.html", page=page, actions=action_choices())


def actions_labelled(words: str) -> list[str]:
    """The action codes whose label, in the reader's language, contains `words`."""
    wanted = words.casefold()
    return [code for code, text in action_choices() if wanted in text.casefold()]


def action_choices() -> list[tuple[str, str]]:
    """(code, label) of every action, by label, for the filter's suggestions."""
    shown = [(code, str(text)) for code, text in LABELS["audit_action"].items()]
    return sorted(shown, key=lambda pair: pair[1].casefold())


def detail_lines(stored: str | None) -> list[tuple[str, str, str]]:
    """(field, what the operator reads, the stored JSON of the value) per field of a
    record's before or after."""
    if not stored:
        return []
    try:
        data = json.loads(stored)
    except ValueError:
        return [("", stored, stored)]
    if not isinstance(data, dict):
        return [("", stored, stored)]
    return [
        (str(key), _readable(key, value), json.dumps(value, ensure_ascii=False))
        for key, value in data.items()
    ]


def _is_amount(key: object, value: object) -> bool:
    return key in AUDIT_MONEY_KEYS and isinstance(value, int) and not isinstance(value, bool)


def _readable(key: object, value: object) -> str:
    if _is_amount(key, value):
        return money(value)
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {_readable(k, v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_readable(key, v) for v in value) + "]"
    if value is None:
        return "-"
    if isinstance(value, bool):
        return json.dumps(value)
    return str(value)


@blueprint.app_template_global("audit_detail")
def _audit_detail(stored: str | None) -> list[tuple[str, str, str]]:
    return detail_lines(stored)
