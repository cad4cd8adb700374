"""Conversations with customers: the open, waiting and closed lists with unread counts,
one conversation's messages (new ones appear while the page is open), replies with text
and a photo, assigning to a staff member, closing and reopening. Messages are never
edited or deleted; every change goes through `messaging.conversations`."""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.file import FileField
from markupsafe import Markup
from sqlalchemy import func, select
from wtforms import SelectField, TextAreaField
from wtforms.validators import Length, Optional

from messaging.actors import Actor
from messaging.conversations import (
    MAX_TEXT_LENGTH,
    assign,
    close,
    conversations_with_status,
    get_conversation,
    mark_read,
    messages_of,
    open_conversation,
    post_message,
    reopen,
    status_counts,
    store_message_image,
    unread_by_conversation,
    unread_count,
)
from messaging.errors import ConversationClosed
from messaging.models import STATUSES, Conversation, Message
from wallet.errors import NotFound, WalletError
from wallet.models import Account, Customer
from wallet.payments import proof_file
from wallet.staff import StaffUser
from wallet.text import whole_number
from webadmin.access import Screen, change, client_address, database, view
from webadmin.forms import options
from webadmin.ui import explain, paginate
from webcommon.forms import Form

blueprint = Blueprint("conversations", __name__, url_prefix="/conversations")
SCREEN = Screen(
    "conversations",
    _l("Conversations"),
    "conversations.index",
    order=32,
    description=_l("Questions and complaints of customers: reply, assign, close"),
)
STATUS_LABELS = {"open": _l("Open"), "waiting": _l("Waiting"), "closed": _l("Closed")}
TOPIC_LABELS = {
    "billing": _l("Billing"),
    "internet": _l("Internet"),
    "calls": _l("Calls"),
    "other": _l("Other"),
}


class ReplyForm(Form):
    text = TextAreaField(_l("Reply"), validators=[Optional(), Length(max=MAX_TEXT_LENGTH)])
    image = FileField(_l("Photo (PNG, JPEG or GIF image)"))


class NewConversationForm(ReplyForm):
    topic = SelectField(_l("Topic"), choices=options(TOPIC_LABELS.items()))


class AssignForm(Form):
    staff = SelectField(_l("Assigned to"), choices=[])


def staff_actor() -> Actor:
    return Actor.staff(current_user.principal.id, current_user.username)


def _upload_folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


@blueprint.get("/")
@view
def index():
    status = request.args.get("status", "open")
    if status not in STATUSES:
        status = "open"
    actor = staff_actor()
    with database().transaction() as session:
        page = paginate(session, conversations_with_status(status))
        unread = unread_by_conversation(session, actor, [c.id for c in page.items])
        return render_template(
            "conversations/index.html",
            page=page,
            status=status,
            counts=status_counts(session),
            unread=unread,
            statuses=STATUS_LABELS,
            topics=TOPIC_LABELS,
        )


@blueprint.route("/new", methods=["GET", "POST"])
@change
def create():
    """Write to a customer first (a question about a payment, a visit to plan)."""
    customer_id = request.args.get("customer", type=int)
    with database().transaction() as session:
        customer = session.get(Customer, customer_id) if customer_id else None
        if customer is None:
            abort(404)
        name = customer.name
    form = NewConversationForm()
    if form.validate_on_submit():
        try:
            stored = None
            upload = form.image.data
            if upload and upload.filename:
                stored = store_message_image(_upload_folder(), upload.read())
            conversation_id = database().run(
                lambda s: (
                    open_conversation(
                        s,
                        staff_actor(),
                        topic=form.topic.data,
                        text=form.text.data or "",
                        image_path=stored,
                        customer_id=customer_id,
                        address=client_address(),
                    ).id
                )
            )
        except WalletError as error:
            (form.image if "image" in str(error) else form.text).errors.append(_explain(error))
        else:
            flash(_("Sent; the customer reads it in the portal."), "success")
            return redirect(url_for("conversations.detail", conversation_id=conversation_id))
    return render_template(
        "conversations/new.html", form=form, customer_id=customer_id, customer_name=name
    )


@blueprint.get("/<int:conversation_id>")
@view
def detail(conversation_id: int):
    return _detail_page(conversation_id)


def _detail_page(conversation_id: int, reply_form: ReplyForm | None = None):
    """The conversation, read by the staff up to its last message; a reply form given
    (sent, with its errors) is shown as sent."""
    actor = staff_actor()
    db = database()
    try:
        db.run(lambda s: mark_read(s, actor, conversation_id, address=client_address()))
    except NotFound:
        abort(404)
    with db.transaction() as session:
        conversation = get_conversation(session, actor, conversation_id)
        messages = messages_of(session, conversation)
        assign_form = AssignForm(formdata=None, staff=str(conversation.assigned_staff_id or ""))
        assign_form.staff.choices = _staff_choices(session)
        return render_template(
            "conversations/detail.html",
            conversation=conversation,
            messages=messages,
            reply_form=reply_form or ReplyForm(formdata=None),
            assign_form=assign_form,
            statuses=STATUS_LABELS,
            topics=TOPIC_LABELS,
        )


def _staff_choices(session) -> list[tuple[str, str]]:
    members = session.execute(
        select(StaffUser).where(StaffUser.is_active.is_(True)).order_by(StaffUser.username)
    ).scalars()
    return options(
        [("", _("(nobody)"))]
        + [
            (str(m.id), f"{m.username} ({m.full_name})" if m.full_name else m.username)
            for m in members
        ]
    )


@blueprint.get("/<int:conversation_id>/messages")
@view
def new_messages(conversation_id: int):
    """The messages after `after` (the last one a page shows), rendered, for the page's
    polling script; they count as read since the page shows them."""
    after = request.args.get("after", "0")
    after_id = whole_number(after) or 0
    actor, address = staff_actor(), client_address()
    db = database()
    with db.transaction() as session:
        try:
            conversation = get_conversation(session, actor, conversation_id)
        except NotFound:
            abort(404)
        messages = messages_of(session, conversation, after_id)
        html = render_template(
            "conversations/_messages.html", messages=messages, conversation=conversation
        )
        status = conversation.status
    if messages:
        db.run(lambda s: mark_read(s, actor, conversation_id, messages[-1].id, address=address))
    return jsonify(
        html=html,
        last=messages[-1].id if messages else after_id,
        status=status,
        status_label=str(STATUS_LABELS[status]),
    )


@blueprint.get("/<int:conversation_id>/messages/<int:message_id>/image")
@view
def image(conversation_id: int, message_id: int):
    with database().transaction() as session:
        message = session.get(Message, message_id)
        if message is None or message.conversation_id != conversation_id or not message.image_path:
            abort(404)
        relative = message.image_path
    try:
        path = proof_file(_upload_folder(), relative)
    except WalletError:
        abort(404)
    return send_file(path, max_age=0)


@blueprint.post("/<int:conversation_id>/reply")
@change
def reply(conversation_id: int):
    form = ReplyForm()
    if not form.validate_on_submit():
        return _detail_page(conversation_id, form)
    actor = staff_actor()
    try:
        stored = None
        upload = form.image.data
        if upload and upload.filename:
            stored = store_message_image(_upload_folder(), upload.read())
        database().run(
            lambda s: post_message(
                s,
                actor,
                conversation_id,
                text=form.text.data or "",
                image_path=stored,
                address=client_address(),
            )
        )
    except NotFound:
        abort(404)
    except ConversationClosed:
        flash(_("This conversation is closed; reopen it to reply."), "error")
    except WalletError as error:
        (form.image if "image" in str(error) else form.text).errors.append(_explain(error))
        return _detail_page(conversation_id, form)
    else:
        flash(_("Reply sent."), "success")
    return redirect(url_for("conversations.detail", conversation_id=conversation_id))


def _explain(error: WalletError) -> str:
    if "write a message or attach a photo" in str(error):
        return _("Write a reply or attach a photo.")
    return explain(error)


@blueprint.post("/<int:conversation_id>/assign")
@change
def assign_to(conversation_id: int):
    chosen = request.form.get("staff", "")
    staff_id = whole_number(chosen)
    try:
        database().run(
            lambda s: assign(s, staff_actor(), conversation_id, staff_id, address=client_address())
        )
    except NotFound:
        if staff_id is None:
            abort(404)
        flash(_("That staff member does not exist or is disabled."), "error")
    else:
        flash(_("Assigned.") if staff_id else _("Assigned to nobody."), "success")
    return redirect(url_for("conversations.detail", conversation_id=conversation_id))


@blueprint.post("/<int:conversation_id>/close")
@change
def close_conversation(conversation_id: int):
    _change_status(close, conversation_id)
    flash(_("Closed."), "success")
    return redirect(url_for("conversations.detail", conversation_id=conversation_id))


@blueprint.post("/<int:conversation_id>/reopen")
@change
def reopen_conversation(conversation_id: int):
    _change_status(reopen, conversation_id)
    flash(_("Reopened."), "success")
    return redirect(url_for("conversations.detail", conversation_id=conversation_id))


def _change_status(service, conversation_id: int) -> None:
    try:
        database().run(
            lambda s: service(s, staff_actor(), conversation_id, address=client_address())
        )
    except NotFound:
        abort(404)


def _unread_for_staff(session) -> int:
    return unread_count(session, staff_actor())


def _customer_panel(session, account_id: int) -> list[tuple[str, object]]:
    """On a customer's page: their conversations still open, and a way to write to them."""
    if not current_user.can("conversations"):
        return []
    customer_id = session.get(Account, account_id).customer_id
    active = session.execute(
        select(func.count(Conversation.id)).where(
            Conversation.customer_id == customer_id, Conversation.status != "closed"
        )
    ).scalar_one()
    value = Markup("{}").format(_("%(n)s not closed", n=active))
    if current_user.can("conversations", "change"):
        value += Markup(' · <a href="{}">{}</a>').format(
            url_for("conversations.create", customer=customer_id), _("Write to this customer")
        )
    return [(_("Conversations"), value)]


def _tiles(session) -> list[tuple[str, object, str | None]]:
    if not current_user.can("conversations"):
        return []
    return [
        (_("Unread customer messages"), _unread_for_staff(session), url_for("conversations.index"))
    ]


@blueprint.record_once
def _install(state) -> None:
    """The unread count on the menu entry and on the dashboard; a customer's panel."""
    state.app.extensions["pulsa.dashboard_tiles"].append(_tiles)
    state.app.extensions["pulsa.customer_panels"].append(_customer_panel)
    state.app.extensions.setdefault("pulsa.nav_badges", {})["conversations"] = _unread_for_staff
