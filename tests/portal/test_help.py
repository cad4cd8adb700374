"""Help and complaints in the portal: opening a conversation with a photo, talking with the
staff, new replies fetched by polling, unread replies counted on every page, reopening;
announcements on the home page; and a customer never reaching another customer's
conversation by changing an id in a URL or a form."""

from __future__ import annotations

import io
from datetime import timedelta

from sqlalchemy import select

from messaging.actors import Actor
from messaging.announcements import post_announcement
from messaging.conversations import close, open_conversation, post_message
from messaging.models import Conversation, Message
from tests.conftest import unique_key
from tests.messaging.builders import PNG, make_staff_actor
from tests.portal.conftest import field_errors, signed_in
from wallet.ledger import utcnow


def conversations_of(db, customer_id: int) -> list[Conversation]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(Conversation)
                .where(Conversation.customer_id == customer_id)
                .order_by(Conversation.id)
            ).scalars()
        )


def messages_in(db, conversation_id: int) -> list[Message]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.id)
            ).scalars()
        )


def opened_by(db, person, text: str = "No internet since morning") -> int:
    actor = Actor.customer(person.customer_id)
    return db.run(lambda s: open_conversation(s, actor, topic="internet", text=text).id)


def test_a_customer_opens_a_conversation_with_a_photo_and_sees_it(db, portal, alice):
    client = signed_in(portal, alice)
    response = client.post(
        "/help/",
        data={"topic": "internet", "text": "The light is red", "image": (io.BytesIO(PNG), "x.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    (conversation,) = conversations_of(db, alice.customer_id)
    assert (conversation.topic, conversation.status, conversation.channel) == (
        "internet",
        "open",
        "portal",
    )
    (message,) = messages_in(db, conversation.id)
    assert message.text == "The light is red" and message.image_path.endswith(".png")
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "The light is red" in page
    image = client.get(f"/help/{conversation.id}/messages/{message.id}/image")
    assert image.status_code == 200 and image.data == PNG


def test_a_photo_that_is_not_an_image_is_refused_beside_the_field(db, portal, alice):
    client = signed_in(portal, alice)
    page = client.post(
        "/help/",
        data={"topic": "calls", "text": "see", "image": (io.BytesIO(b"GIF8 nope"), "a.gif")},
        content_type="multipart/form-data",
    ).get_data(as_text=True)
    assert field_errors(page, "image") == ["The photo must be a PNG, JPEG or GIF image."]
    assert conversations_of(db, alice.customer_id) == []


def test_an_empty_message_and_an_unknown_topic_are_refused_beside_their_fields(db, portal, alice):
    client = signed_in(portal, alice)
    page = client.post("/help/", data={"topic": "calls", "text": " "}).get_data(as_text=True)
    assert field_errors(page, "text") == ["Write a message or attach a photo."]
    page = client.post("/help/", data={"topic": "weather", "text": "hi"}).get_data(as_text=True)
    assert field_errors(page, "topic") != []
    page = client.post("/help/", data={"topic": "calls", "text": "a\x07b"}).get_data(as_text=True)
    assert field_errors(page, "text") == ["Remove the invisible control character from this text."]
    assert conversations_of(db, alice.customer_id) == []


def test_a_staff_reply_is_counted_on_every_page_until_read_and_polled_without_reload(
    db, portal, alice
):
    conversation_id = opened_by(db, alice)
    client = signed_in(portal, alice)
    first = messages_in(db, conversation_id)[-1].id
    staff = make_staff_actor(db)
    db.run(lambda s: post_message(s, staff, conversation_id, text="Restart the router please"))
    home = client.get("/home").get_data(as_text=True)
    assert '<span class="badge">1</span>' in home
    polled = client.get(f"/help/{conversation_id}/messages?after={first}").get_json()
    assert "Restart the router please" in polled["html"]
    assert "No internet since morning" not in polled["html"]
    assert '<span class="badge">1</span>' not in client.get("/home").get_data(as_text=True)


def test_a_customer_replies_and_reopens_a_conversation_the_staff_closed(db, portal, alice):
    conversation_id = opened_by(db, alice)
    client = signed_in(portal, alice)
    client.post(f"/help/{conversation_id}", data={"text": "Any news?"})
    assert messages_in(db, conversation_id)[-1].text == "Any news?"
    staff = make_staff_actor(db)
    db.run(lambda s: close(s, staff, conversation_id))
    page = client.get(f"/help/{conversation_id}").get_data(as_text=True)
    assert "Reopen" in page
    client.post(f"/help/{conversation_id}/reopen")
    assert conversations_of(db, alice.customer_id)[0].status == "open"


def test_a_customer_never_reaches_another_customers_conversation(db, portal, alice, bob):
    conversation_id = opened_by(db, alice, "my private complaint")
    message_id = messages_in(db, conversation_id)[-1].id
    client = signed_in(portal, bob)
    assert client.get(f"/help/{conversation_id}").status_code == 404
    assert client.get(f"/help/{conversation_id}/messages?after=0").status_code == 404
    assert client.get(f"/help/{conversation_id}/messages/{message_id}/image").status_code == 404
    assert client.post(f"/help/{conversation_id}", data={"text": "hijack"}).status_code == 404
    assert client.post(f"/help/{conversation_id}/reopen").status_code == 404
    assert "my private complaint" not in client.get("/help/").get_data(as_text=True)
    assert [m.text for m in messages_in(db, conversation_id)] == ["my private complaint"]


def test_the_home_page_shows_the_announcements_for_this_customer(db, portal, alice):
    staff = make_staff_actor(db)
    text = unique_key("Network maintenance Sunday 02:00")
    now = utcnow()
    db.run(
        lambda s: post_announcement(
            s,
            staff,
            text=text,
            starts_at=now - timedelta(minutes=5),
            ends_at=now + timedelta(days=1),
        )
    )
    client = signed_in(portal, alice)
    assert text in client.get("/home").get_data(as_text=True)


def test_the_help_page_speaks_indonesian_to_an_indonesian_browser(db, portal, alice):
    client = signed_in(portal, alice)
    client.post("/language", data={"locale": "id", "next": "/help/"})
    page = client.get("/help/").get_data(as_text=True)
    assert "Bantuan dan keluhan" in page
    assert "Ajukan pertanyaan atau laporkan masalah" in page
