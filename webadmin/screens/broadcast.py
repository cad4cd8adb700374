"""Broadcast: a message pushed once into the chats (Telegram, LINE) of every customer who
linked one, or of the current users of a package or a router; one outbox notice per chat
(messaging.broadcasts), and the progress of its delivery (sent, waiting, failed), which
a reload shows and, with JavaScript, the page follows by itself."""

from __future__ import annotations

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from messaging.audiences import count_audience_chats
from messaging.broadcasts import (
    MAX_TEXT_LENGTH,
    NOTICE_KIND,
    all_broadcasts,
    broadcast_progress,
    send_broadcast,
)
from messaging.models import Broadcast
from wallet import permissions
from wallet.errors import NotFound, WalletError
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
from webadmin.ui import explain, new_form_key, paginate
from webcommon.forms import Form

blueprint = Blueprint("broadcast", __name__, url_prefix="/broadcast")
SCREEN = Screen(
    permissions.BROADCAST,
    _l("Broadcast"),
    "broadcast.index",
    order=34,
    description=_l("Messages sent once to customers' Telegram and LINE chats"),
)
AUDIENCE_LABELS = {
    "all": _l("All customers with a linked chat"),
    "package": PACKAGE_USERS,
    "router": ROUTER_USERS,
}


class BroadcastForm(AudienceFields, Form):
    key = FormKeyField()
    text = TextAreaField(
        _l("Message"),
        validators=[
            DataRequired(message=_l("Write the message.")),
            Length(max=MAX_TEXT_LENGTH),
        ],
    )
    audience = SelectField(_l("Send to"), choices=options(AUDIENCE_LABELS.items()))


@blueprint.get("/")
@view
def index():
    return _index_page(BroadcastForm(formdata=None))


def _index_page(form: BroadcastForm):
    with database().transaction() as session:
        page = paginate(session, all_broadcasts())
        progress = {b.id: broadcast_progress(session, b.id) for b in page.items}
        linked = count_audience_chats(session, "all", NOTICE_KIND)
        return render_template(
            "broadcast/index.html",
            page=page,
            progress=progress,
            form=with_choices(form, session),
            audiences=AUDIENCE_LABELS,
            linked=linked,
        )


@blueprint.post("/")
@change
def send():
    form = BroadcastForm()
    with database().transaction() as session:
        with_choices(form, session)
    if not form.validate_on_submit():
        if form.key.errors:
            form.text.errors = [*form.text.errors, *form.key.errors]
            form.key.data = new_form_key()
        return _index_page(form)
    audience = chosen(form)
    if audience is None:
        return _index_page(form)
    try:
        broadcast_id, is_new = database().run(
            lambda s: _sent(
                send_broadcast(
                    s,
                    staff_actor(),
                    form_key=form.key.data,
                    text=form.text.data,
                    audience=audience[0],
                    package_id=audience[1],
                    router_id=audience[2],
                    address=client_address(),
                )
            )
        )
    except WalletError as error:
        target = target_field(form)
        (target if target is not None else form.text).errors.append(explain(error))
        return _index_page(form)
    if is_new:
        flash(_("Broadcast queued; the chats receive it in a moment."), "success")
    else:
        flash(_("This form was already sent; the broadcast goes out once."), "warning")
    return redirect(url_for("broadcast.detail", broadcast_id=broadcast_id))


def _sent(outcome: tuple[Broadcast, bool]) -> tuple[int, bool]:
    broadcast, is_new = outcome
    return broadcast.id, is_new


@blueprint.get("/<int:broadcast_id>")
@view
def detail(broadcast_id: int):
    with database().transaction() as session:
        broadcast = session.get(Broadcast, broadcast_id)
        if broadcast is None:
            abort(404)
        return render_template(
            "broadcast/detail.html",
            broadcast=broadcast,
            progress=broadcast_progress(session, broadcast_id),
            audiences=AUDIENCE_LABELS,
        )


@blueprint.get("/<int:broadcast_id>/progress")
@view
def progress(broadcast_id: int):
    """The progress as JSON, for the page to follow without reloading."""
    try:
        with database().transaction() as session:
            shown = broadcast_progress(session, broadcast_id)
    except NotFound:
        abort(404)
    return jsonify(
        recipients=shown.recipients,
        sent=shown.sent,
        pending=shown.pending,
        failed=shown.failed,
        percent=shown.percent,
        done=shown.done,
    )
