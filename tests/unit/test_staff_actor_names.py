"""The names staff actions are written under: where they came from, and back."""

from __future__ import annotations

import pytest

from messaging.actors import Actor
from wallet.staff import staff_actor_name, staff_username_of_actor


def test_a_staff_member_in_the_admin_acts_as_web_and_in_a_chat_as_the_chat_app():
    assert staff_actor_name("andi") == "web:andi"
    assert staff_actor_name("andi", "telegram") == "telegram:andi"
    assert Actor.staff(3, "andi", "telegram").name == "telegram:andi"
    assert Actor.staff(3, "andi").name == "web:andi"


@pytest.mark.parametrize(
    ("actor", "username"),
    [
        ("web:andi", "andi"),
        ("telegram:andi", "andi"),
        ("line:andi", "andi"),
        ("telegram:customer:12", None),
        ("portal:customer:12", None),
        ("telegram:contact:telegram:5", None),
        ("pulsa", None),
        ("system", None),
        ("web:", None),
    ],
)
def test_the_staff_member_is_read_back_from_staff_actor_names_only(actor, username):
    assert staff_username_of_actor(actor) == username
