"""The audit log (super admins only): who changed money or settings, when, before/after.

The records are stored as exact JSON (amounts in micro-units); the screen shows each
field on a line of its own, amounts as money in the reader's language ("balance:
Rp65.000"), with the stored value kept in the line's tooltip."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime

from flask import Blueprint, current_app, g, render_template, request
from flask_babel import lazy_gettext as _l
from sqlalchemy import or_, select

from wallet.display import AUDIT_MONEY_KEYS
from wallet.staff import AuditRecord
from webadmin.access import Screen, database, view
from webadmin.hotspot_ui import LOGIN_STATUS_LABELS, UNIT_LABELS
from webadmin.labels import LABELS, PLATFORM_NAMES, audit_target, stored_target
from webadmin.screens import announcements, conversations, customers, payments, settings, staff
from webadmin.ui import local, money, paginate, parse_day, utc_range

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


def detail_lines(stored: str | None) -> list[tuple[str, str, str, str]]:
    """(stored key, the field in the reader's words, the value as the operator reads it,
    the stored JSON of the value) per field of a record's before or after."""
    if not stored:
        return []
    try:
        data = json.loads(stored)
    except ValueError:
        return [("", "", stored, stored)]
    if not isinstance(data, dict):
        return [("", "", stored, stored)]
    # The tables of words are gathered once per page, not for each of its 100 details.
    words = g.get("audit_words")
    if words is None:
        words = g.audit_words = _Words()
    return [
        (
            str(key),
            words.field(key),
            words.value(key, value),
            json.dumps(value, ensure_ascii=False),
        )
        for key, value in data.items()
    ]


#: A moment as `record_audit` stores it (str() of a naive-UTC datetime, or ISO 8601).
_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?")


def _moment(text: str) -> datetime | None:
    """A stored moment as naive UTC, or None when `text` is no moment."""
    if not _MOMENT.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


class _Words:
    """The words of one record's details: which value of which field has a label of its
    own in the admin (a customer's status, a top-up's method, a role's grants)."""

    def __init__(self) -> None:
        self.fields = LABELS["audit_field"]
        screens = current_app.extensions.get("pulsa.screens", {})
        permissions = current_app.extensions.get("pulsa.permissions", {})
        # A role's grants are stored under the names of screens and jobs.
        self.grants = {name: item.label for name, item in {**screens, **permissions}.items()}
        statuses = {
            **conversations.STATUS_LABELS,
            **payments.STATUS_LABELS,
            **LOGIN_STATUS_LABELS,
            **customers.STATUS_LABELS,
        }
        self.values: dict[str, Mapping[str, object]] = {
            "status": statuses,
            "account_status": LABELS["wallet_status"],
            "kind": {**customers.KIND_LABELS, **customers.IDENTITY_LABELS},
            "method": customers.METHOD_LABELS,
            "call_mode": LABELS["call_mode"],
            "internet_start": settings.START_LABELS,
            "topic": conversations.TOPIC_LABELS,
            "audience": announcements.AUDIENCE_LABELS,
            "platform": PLATFORM_NAMES,
            "locale": dict(staff.LANGUAGES),
            "language": dict(staff.LANGUAGES),
            "setup": {"done": _l("Finished"), "skipped": _l("Skipped")},
            # How a chat was linked (messaging.chats): Telegram's link, LINE's typed code,
            # the phone number the chat shared.
            "by": {
                "token": _l("a link"),
                "code": _l("a code typed in the chat"),
                "phone": _l("the phone number the chat shared"),
            },
        }
        self.levels = {"view": _l("View"), "change": _l("Change")}

    def field(self, key: object) -> str:
        found = self.fields.get(key) or self.grants.get(key)
        return str(found) if found is not None else str(key)

    def value(self, key: object, value: object) -> str:
        if isinstance(value, bool):
            return str(LABELS["yes_no"][value])
        if value is None:
            return "-"
        if _is_amount(key, value):
            return money(value)
        if isinstance(value, dict):
            # The demo's removal counts rows by table; anything else shows its keys' words.
            names = settings.DEMO_TABLE_LABELS if key == "deleted" else {}
            inner = ", ".join(
                f"{names.get(k) or self.field(k)}: {self.value(k, v)}" for k, v in value.items()
            )
            return "{" + inner + "}"
        if isinstance(value, list):
            if key == "from_environment":
                return ", ".join(self.field(v) for v in value)
            return ", ".join(self.value(key, v) for v in value)
        if isinstance(value, str):
            if key in self.grants and value in self.levels:
                return str(self.levels[value])
            found = self.values.get(str(key), {}).get(value)
            if found is not None:
                return str(found)
            if key == "to" and ":" in value:  # a notice's recipient, "customer:50"
                return audit_target(value.replace(":", " ", 1))
            if key == "validity":  # "30 days": a package's validity, its unit in words
                number, _sep, unit = value.partition(" ")
                if unit in UNIT_LABELS:
                    return f"{number} {UNIT_LABELS[unit]}"
            moment = _moment(value)
            if moment is not None:
                return local(moment, "%Y-%m-%d %H:%M:%S")
        return str(value)


def _is_amount(key: object, value: object) -> bool:
    return key in AUDIT_MONEY_KEYS and isinstance(value, int) and not isinstance(value, bool)


@blueprint.app_template_global("audit_detail")
def _audit_detail(stored: str | None) -> list[tuple[str, str, str, str]]:
    return detail_lines(stored)
