"""Announcements: the operator's messages on the portal home, to all customers or to the
users of one package or one router, from a start to an end (in the operator's time
zone), pushed to their linked chats once at the start; the list of every announcement,
and ending one early."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import DateTimeLocalField, SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from messaging.announcements import (
    MAX_TEXT_LENGTH,
    all_announcements,
    end_announcement,
    post_announcement,
)
from wallet.errors import NotFound, WalletError
from wallet.ledger import utcnow
from webadmin.access import Screen, change, client_address, database, view
from webadmin.audience import (
    PACKAGE_USERS,
    ROUTER_USERS,
    AudienceFields,
    chosen,
    target_field,
    with_choices,
)
from webadmin.forms import FormKeyField, options
from webadmin.screens.conversations import staff_actor
from webadmin.ui import explain, new_form_key, paginate, zone
from webcommon.forms import Form

blueprint = Blueprint("announcements", __name__, url_prefix="/announcements")
SCREEN = Screen(
    "announcements",
    _l("Announcements"),
    "announcements.index",
    order=33,
    description=_l("Messages to customers on the portal home and in their chats"),
)
AUDIENCE_LABELS = {
    "all": _l("All customers"),
    "package": PACKAGE_USERS,
    "router": ROUTER_USERS,
}
_MINUTE = "%Y-%m-%dT%H:%M"


class AnnouncementForm(AudienceFields, Form):
    key = FormKeyField()
    text = TextAreaField(
        _l("Message"),
        validators=[
            DataRequired(message=_l("Write the announcement.")),
            Length(max=MAX_TEXT_LENGTH),
        ],
    )
    audience = SelectField(_l("Shown to"), choices=options(AUDIENCE_LABELS.items()))
    starts = DateTimeLocalField(
        _l("From"), format=_MINUTE, validators=[DataRequired(message=_l("Enter a date and time."))]
    )
    ends = DateTimeLocalField(
        _l("Until"), format=_MINUTE, validators=[DataRequired(message=_l("Enter a date and time."))]
    )


def _to_utc(moment: datetime) -> datetime:
    """A moment typed in the operator's time zone, as stored (naive UTC)."""
    return moment.replace(tzinfo=zone()).astimezone(UTC).replace(tzinfo=None)


def _local_now() -> datetime:
    return datetime.now(UTC).astimezone(zone()).replace(tzinfo=None, second=0, microsecond=0)


def _new_form() -> AnnouncementForm:
    now = _local_now()
    return AnnouncementForm(formdata=None, starts=now, ends=now + timedelta(days=7))


@blueprint.get("/")
@view
def index():
    return _index_page(_new_form())


def _index_page(form: AnnouncementForm):
    now = utcnow()
    with database().transaction() as session:
        page = paginate(session, all_announcements())
        return render_template(
            "announcements/index.html",
            page=page,
            form=with_choices(form, session),
            audiences=AUDIENCE_LABELS,
            now=now,
        )


@blueprint.post("/")
@change
def create():
    form = AnnouncementForm()
    with database().transaction() as session:
        with_choices(form, session)
    if not form.validate_on_submit():
        if form.key.errors:
            form.text.errors = [*form.text.errors, *form.key.errors]
            form.key.data = new_form_key()
        return _index_page(form)
    starts, ends = _to_utc(form.starts.data), _to_utc(form.ends.data)
    if ends <= starts:
        form.ends.errors.append(_("The end must come after the start."))
        return _index_page(form)
    audience = chosen(form)
    if audience is None:
        return _index_page(form)
    try:
        database().run(
            lambda s: post_announcement(
                s,
                staff_actor(),
                text=form.text.data,
                audience=audience[0],
                package_id=audience[1],
                router_id=audience[2],
                starts_at=starts,
                ends_at=ends,
                address=client_address(),
                form_key=form.key.data,
            )
        )
    except WalletError as error:
        target = target_field(form)
        (target if target is not None else form.text).errors.append(explain(error))
        return _index_page(form)
    flash(_("Announcement posted."), "success")
    return redirect(url_for("announcements.index"))


@blueprint.post("/<int:announcement_id>/end")
@change
def end(announcement_id: int):
    try:
        database().run(
            lambda s: end_announcement(s, staff_actor(), announcement_id, address=client_address())
        )
    except NotFound:
        abort(404)
    flash(_("Announcement ended."), "success")
    return redirect(url_for("announcements.index"))
