"""The chat dialogue, written once for every platform.

A platform's transport turns what arrives into an `Incoming` and calls `handle`; it
renders the `Reply`s it gets back (Telegram: inline keyboards and a contact button; LINE:
quick replies). Nothing here knows a platform's API.

`handle` handles each (platform, update id) once: the update is claimed in the same
transaction as what it does, so an update delivered twice (or twice at once) acts once
and the second delivery gets no answer. Then it finds the chat's link: a staff member's
chat goes to `bots.staff.handle_staff`; a customer's chat and a chat linked to nobody get
the customer dialogue (bots.customer). A chat that writes too often is slowed down.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from bots.chat import Button, ChatPerson, Incoming, Reply
from bots.customer import customer_dialogue
from bots.i18n import gettext_for
from bots.staff import handle_staff
from messaging.chats import (
    UPDATE_CONSTRAINT,
    chat_state,
    claim_update,
    find_link,
    reachable_again,
    updates_since,
    was_handled,
)
from wallet.db import Database
from wallet.errors import InvalidInput
from wallet.ledger import utcnow
from wallet.payments import discard_proof, store_proof
from wallet.site_settings import load_site_config, settings_with

__all__ = ["Button", "ChatPerson", "Incoming", "Reply", "handle"]
log = logging.getLogger("pulsa.bots")

#: More updates than this from one chat within FLOOD_WINDOW and the chat is slowed down:
#: told once to wait, then ignored until it writes less.
FLOOD_LIMIT = 20
FLOOD_WINDOW = timedelta(minutes=1)


@dataclass
class Photo:
    """A photo that came with the update, stored like a payment proof before the
    transaction (`path`, relative to the upload folder), or why it was refused. The
    dialogue sets `used` when a row it commits keeps the path; otherwise the file is
    deleted after the transaction (a resent update, a request answered by an earlier one,
    a chat slowed down)."""

    path: str | None = None
    refused: str | None = None
    used: bool = False


@dataclass
class Outcome:
    replies: list[Reply] = field(default_factory=list)
    staff: ChatPerson | None = None
    settings: object = None  # the settings in effect (the operator's setup applied)


def handle(db: Database, settings, incoming: Incoming) -> list[Reply]:
    """What to answer to `incoming` (an empty list: nothing, e.g. an update seen before)."""
    if incoming.photo:
        # Stored before the transaction, so not for an update handled before.
        with db.transaction() as session:
            if was_handled(session, incoming.platform, str(incoming.update_id)):
                return []
    photo = _stored_photo(settings, incoming)
    try:
        outcome = db.run(lambda session: _handle(session, settings, incoming, photo))
    except IntegrityError as error:
        if UPDATE_CONSTRAINT not in str(error.orig) and "chat_updates" not in str(error.orig):
            raise
        return []  # handled before, or by another transaction just now
    finally:
        if photo.path and not photo.used:
            discard_proof(Path(settings.upload_folder), photo.path)
    if outcome.staff is not None:
        # Claimed and committed: staff actions run their own transactions (and may talk
        # to routers, which no database transaction should wait on).
        return handle_staff(db, outcome.settings or settings, incoming, outcome.staff)
    return outcome.replies


def _stored_photo(settings, incoming: Incoming) -> Photo:
    if not incoming.photo:
        return Photo()
    try:
        return Photo(path=store_proof(Path(settings.upload_folder), incoming.photo, what="photo"))
    except InvalidInput as error:
        return Photo(refused=str(error))


def _handle(session, settings, incoming: Incoming, photo: Photo) -> Outcome:
    photo.used = False  # a retried transaction starts again
    moment = utcnow()
    # The operator's choices in the admin (setup, Settings: country code, currency, time
    # zone) win over the server's environment, as they do in the admin and the portal.
    site = load_site_config(session, settings)
    settings = settings_with(site, settings)
    claim_update(
        session, incoming.platform, str(incoming.update_id), incoming.chat_id, savepoint=False
    )
    link = find_link(session, incoming.platform, str(incoming.chat_id))
    reachable_again(link)
    person = ChatPerson.of(incoming, link)
    if _flooding(session, person, moment):
        return Outcome(_slow_down(session, person, moment))
    if person.staff_id is not None:
        return Outcome(staff=person, settings=settings)
    # The operator's settings just read serve the dialogue too (no second query).
    return Outcome(customer_dialogue(session, settings, incoming, person, photo, site=site))


def _flooding(session, person: ChatPerson, moment) -> bool:
    count = updates_since(session, person.platform, person.chat_id, moment - FLOOD_WINDOW)
    return count > FLOOD_LIMIT


def _slow_down(session, person: ChatPerson, moment) -> list[Reply]:
    """Told once per window; the messages meanwhile are not acted on."""
    state = chat_state(session, person.platform, person.chat_id, lock=True)
    if state.slowed_at is not None and state.slowed_at > moment - FLOOD_WINDOW:
        return []
    state.slowed_at = moment
    session.flush()
    _ = gettext_for(person.language)
    return [Reply(_("You are sending many messages. Please wait a minute, then write again."))]
