"""Help and complaints: the customer's conversations with the staff. Open one (topic,
message, optional photo), talk in it (new replies appear without reloading, and on
reload without JavaScript), reopen a closed one. The unread replies are counted on every
page, and the operator's announcements are shown on the home page.

Every conversation is reached through the signed-in customer (`Mine.conversation` and
`messaging`'s customer actor): another customer's id answers 404 like a missing one.
"""

from __future__ import annotations

from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField
from wtforms import SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import Length, Optional

from messaging.actors import Actor
from messaging.announcements import announcements_for
from messaging.conversations import (
    MAX_TEXT_LENGTH,
    conversations_of,
    mark_read,
    messages_of,
    open_conversation,
    post_message,
    reopen,
    store_message_image,
    unread_by_conversation,
    unread_count,
)
from messaging.errors import ConversationClosed
from messaging.models import Message
from portal.access import MenuEntry, client_address, customer, database, me, mine
from portal.ui import explain
from wallet.errors import NotFound, WalletError
from wallet.payments import proof_file
from wallet.text import whole_number
from webcommon.forms import TranslatedForm

blueprint = Blueprint("help", __name__, url_prefix="/help")
MENU = MenuEntry(70, _l("Help"), "help.index")
TOPIC_LABELS = {
    "billing": _l("Billing and top-ups"),
    "internet": _l("Internet"),
    "calls": _l("Calls"),
    "other": _l("Something else"),
}
STATUS_LABELS = {
    "open": _l("Waiting for the staff"),
    "waiting": _l("Answered"),
    "closed": _l("Closed"),
}


class MessageForm(TranslatedForm):
    text = TextAreaField(_l("Message"), validators=[Optional(), Length(max=MAX_TEXT_LENGTH)])
    image = FileField(_l("Photo (optional)"))


class NewConversationForm(MessageForm):
    topic = SelectField(
        _l("About"), choices=[SelectChoice(value, label) for value, label in TOPIC_LABELS.items()]
    )


def my_actor() -> Actor:
    """The signed-in customer, acting through the portal."""
    return Actor.customer(me().customer_id, channel="portal")


def _upload_folder() -> Path:
    return Path(current_app.config["UPLOAD_FOLDER"])


def _store(form: MessageForm) -> str | None:
    upload = form.image.data
    if upload and getattr(upload, "filename", ""):
        return store_message_image(_upload_folder(), upload.read())
    return None


def _refusal(form: MessageForm, error: WalletError) -> None:
    """A service's refusal beside the field it is about, in the reader's language."""
    text = str(error)
    if "image" in text:
        if "PNG, JPEG or GIF" in text:
            form.image.errors.append(_("The photo must be a PNG, JPEG or GIF image."))
        else:
            form.image.errors.append(explain(error))
    elif "control character" in text:
        form.text.errors.append(_("Remove the invisible control character from this text."))
    elif "write a message or attach a photo" in text:
        form.text.errors.append(_("Write a message or attach a photo."))
    else:
        form.text.errors.append(explain(error))


@blueprint.get("/")
@customer
def index():
    return _index_page(NewConversationForm(formdata=None))


def _index_page(form: NewConversationForm):
    actor = my_actor()
    with mine() as my:
        conversations = list(my.session.execute(conversations_of(actor).limit(100)).scalars())
        unread = unread_by_conversation(my.session, actor, [c.id for c in conversations])
        return render_template(
            "help/index.html",
            conversations=conversations,
            unread=unread,
            form=form,
            topics=TOPIC_LABELS,
            statuses=STATUS_LABELS,
        )


@blueprint.post("/")
@customer
def create():
    form = NewConversationForm()
    if not form.validate_on_submit():
        return _index_page(form)
    actor = my_actor()
    try:
        stored = _store(form)
        conversation_id = database().run(
            lambda s: (
                open_conversation(
                    s,
                    actor,
                    topic=form.topic.data,
                    text=form.text.data or "",
                    image_path=stored,
                    address=client_address(),
                ).id
            )
        )
    except WalletError as error:
        _refusal(form, error)
        return _index_page(form)
    flash(_("Sent. The staff will answer here."), "success")
    return redirect(url_for("help.conversation", conversation_id=conversation_id))


@blueprint.get("/<int:conversation_id>")
@customer
def conversation(conversation_id: int):
    return _conversation_page(conversation_id, MessageForm(formdata=None))


def _conversation_page(conversation_id: int, form: MessageForm):
    actor = my_actor()
    try:
        database().run(lambda s: mark_read(s, actor, conversation_id, address=client_address()))
    except NotFound:
        abort(404)
    with mine() as my:
        found = my.conversation(conversation_id)
        return render_template(
            "help/conversation.html",
            conversation=found,
            messages=messages_of(my.session, found),
            form=form,
            topics=TOPIC_LABELS,
            statuses=STATUS_LABELS,
        )


@blueprint.post("/<int:conversation_id>")
@customer
def reply(conversation_id: int):
    form = MessageForm()
    if not form.validate_on_submit():
        return _conversation_page(conversation_id, form)
    actor = my_actor()
    try:
        stored = _store(form)
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
        flash(_("This conversation is closed; reopen it to write again."), "error")
    except WalletError as error:
        _refusal(form, error)
        return _conversation_page(conversation_id, form)
    return redirect(url_for("help.conversation", conversation_id=conversation_id))


@blueprint.post("/<int:conversation_id>/reopen")
@customer
def reopen_conversation(conversation_id: int):
    actor = my_actor()
    try:
        database().run(lambda s: reopen(s, actor, conversation_id, address=client_address()))
    except NotFound:
        abort(404)
    flash(_("Reopened: write what is still wrong."), "success")
    return redirect(url_for("help.conversation", conversation_id=conversation_id))


@blueprint.get("/<int:conversation_id>/messages")
@customer
def new_messages(conversation_id: int):
    """The messages after `after` (the last one the page shows), rendered, for the page's
    polling script; seen, so no longer unread."""
    after = request.args.get("after", "0")
    after_id = whole_number(after) or 0
    actor, address = my_actor(), client_address()
    with mine() as my:
        found = my.conversation(conversation_id)
        messages = messages_of(my.session, found, after_id)
        html = render_template("help/_messages.html", messages=messages, conversation=found)
        status = found.status
    if messages:
        database().run(
            lambda s: mark_read(s, actor, conversation_id, messages[-1].id, address=address)
        )
    return jsonify(
        html=html,
        last=messages[-1].id if messages else after_id,
        status=status,
        status_label=str(STATUS_LABELS[status]),
    )


@blueprint.get("/<int:conversation_id>/messages/<int:message_id>/image")
@customer
def image(conversation_id: int, message_id: int):
    with mine() as my:
        found = my.conversation(conversation_id)
        message = my.session.get(Message, message_id)
        if message is None or message.conversation_id != found.id or not message.image_path:
            abort(404)
        relative = message.image_path
    try:
        path = proof_file(_upload_folder(), relative)
    except WalletError:
        abort(404)
    return send_file(path, max_age=0)


# --- on every page: unread replies; on the home page: announcements ----------------------


def _read_unread_and_announcements(session, principal) -> None:
    # Read with the customer's session, before the page's view opens its transaction
    # (the context hook runs while a page renders inside one, and a second transaction
    # would wait on SQLite); the announcements only for the home page that shows them.
    if request.method != "GET":
        return
    g.unread_replies = unread_count(session, Actor.customer(principal.customer_id, "portal"))
    if request.endpoint == "home.index":
        g.announcements = announcements_for(session, principal.customer_id)


def _unread_context(_principal) -> dict:
    return {"unread_replies": g.get("unread_replies", 0)}


def _announcements_panel(principal) -> str:
    shown = g.get("announcements")
    if shown is None:
        with database().transaction() as session:
            shown = announcements_for(session, principal.customer_id)
    return render_template("help/_announcements.html", announcements=shown)


@blueprint.record_once
def _install(state) -> None:
    state.app.extensions["pulsa.portal_request_reads"].append(_read_unread_and_announcements)
    state.app.extensions["pulsa.portal_context"].append(_unread_context)
    state.app.extensions["pulsa.portal_home_panels"].append(_announcements_panel)
