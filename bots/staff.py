"""The staff's dialogue: a chat linked to a staff member (from their admin profile).

A placeholder until the staff commands land (issue 15, owner b-staff): it answers, in the
chat's language, that staff commands are coming. `handle_staff` is called by
`bots.dialogue.handle` after the update was claimed and committed, outside any
transaction: each staff action opens its own (and may talk to routers meanwhile).
"""

from __future__ import annotations

from bots.chat import ChatPerson, Incoming, Reply
from bots.i18n import gettext_for
from wallet.db import Database


def handle_staff(db: Database, settings, incoming: Incoming, person: ChatPerson) -> list[Reply]:
    _ = gettext_for(person.language)
    return [
        Reply(
            _(
                "This chat is linked to your staff account. Staff commands are coming "
                "soon; until then, please use the admin."
            )
        )
    ]
