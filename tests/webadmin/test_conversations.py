"""The Conversations screen: lists by status with unread counts (also on the menu and the
dashboard), replies with text and a checked photo, new replies fetched by the page's
polling, assigning, closing and reopening; view and change permissions."""

from __future__ import annotations

import io

from sqlalchemy import select

from messaging.actors import Actor
from messaging.conversations import open_conversation, post_message, unread_count
from messaging.models import Conversation, Message
from tests.messaging.builders import PNG, make_customer
from tests.webadmin.conftest import field_errors, make_staff, page_with, signed_in
from wallet.staff import StaffUser


def customer_conversation(db, text: str = "My voucher does not work") -> tuple[Actor, int]:
    customer = Actor.customer(make_customer(db, "Siti Rahma"))
    conversation_id = db.run(
        lambda s: open_conversation(s, customer, topic="internet", text=text).id
    )
    return customer, conversation_id


def messages_in(db, conversation_id: int) -> list[Message]:
    with db.transaction() as session:
        return list(
            session.execute(
                select(Message)
                .where(Message.conversation_id == conversation_id)
                .order_by(Message.id)
            ).scalars()
        )


def conversation(db, conversation_id: int) -> Conversation:
    with db.transaction() as session:
        return session.get(Conversation, conversation_id)


def test_an_open_conversation_is_listed_with_its_unread_count_and_reading_it_clears_it(db, admin):
    _, conversation_id = customer_conversation(db)
    listing = page_with(admin, "/conversations/?status=open", f"/conversations/{conversation_id}")
    assert "Siti Rahma" in listing
    page = admin.get(f"/conversations/{conversation_id}").get_data(as_text=True)
    assert "My voucher does not work" in page
    assert (
        conversation(db, conversation_id).staff_read_message_id
        == messages_in(db, conversation_id)[-1].id
    )


def test_unread_customer_messages_are_counted_on_the_menu_and_the_dashboard(db, app):
    reader = signed_in(app, make_staff(db, superuser=True))
    # Read everything there is, so the counts below are this test's message alone.
    for conversation_id in _all_conversation_ids(db):
        reader.get(f"/conversations/{conversation_id}")
    customer_conversation(db, "Is the tower down?")
    dashboard = reader.get("/").get_data(as_text=True)
    assert 'data-nav-badge="conversations">1<' in dashboard
    assert "Unread customer messages" in dashboard


def _all_conversation_ids(db) -> list[int]:
    with db.transaction() as session:
        return list(session.execute(select(Conversation.id)).scalars())


def test_a_reply_with_a_photo_is_kept_and_the_conversation_waits_for_the_customer(db, admin):
    _, conversation_id = customer_conversation(db)
    response = admin.post(
        f"/conversations/{conversation_id}/reply",
        data={"text": "Please try again now", "image": (io.BytesIO(PNG), "../../screen.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    reply = messages_in(db, conversation_id)[-1]
    assert (reply.author_kind, reply.text) == ("staff", "Please try again now")
    assert reply.image_path.endswith(".png") and ".." not in reply.image_path
    assert conversation(db, conversation_id).status == "waiting"
    image = admin.get(f"/conversations/{conversation_id}/messages/{reply.id}/image")
    assert image.status_code == 200 and image.data == PNG


def test_a_photo_that_is_not_an_image_is_refused_beside_the_field_and_nothing_is_posted(db, admin):
    _, conversation_id = customer_conversation(db)
    response = admin.post(
        f"/conversations/{conversation_id}/reply",
        data={"text": "see attached", "image": (io.BytesIO(b"<html>x</html>"), "a.png")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200
    errors = field_errors(response.get_data(as_text=True), "image")
    assert errors == ["the image must be a PNG, JPEG or GIF image"]
    assert len(messages_in(db, conversation_id)) == 1


def test_an_empty_reply_is_refused_beside_the_text(db, admin):
    _, conversation_id = customer_conversation(db)
    response = admin.post(f"/conversations/{conversation_id}/reply", data={"text": "  "})
    assert field_errors(response.get_data(as_text=True), "text") == [
        "Write a reply or attach a photo."
    ]
    assert len(messages_in(db, conversation_id)) == 1


def test_the_polling_endpoint_returns_only_messages_after_the_last_one_shown(db, admin):
    customer, conversation_id = customer_conversation(db)
    first = messages_in(db, conversation_id)[-1].id
    db.run(lambda s: post_message(s, customer, conversation_id, text="Hello? Anyone?"))
    data = admin.get(f"/conversations/{conversation_id}/messages?after={first}").get_json()
    assert "Hello? Anyone?" in data["html"]
    assert "My voucher does not work" not in data["html"]
    assert data["last"] == messages_in(db, conversation_id)[-1].id
    again = admin.get(f"/conversations/{conversation_id}/messages?after={data['last']}").get_json()
    assert again["html"].strip() == "" and again["last"] == data["last"]


def test_assigning_closing_and_reopening_a_conversation(db, admin):
    _, conversation_id = customer_conversation(db)
    helper = make_staff(db, grants={"conversations": "change"})
    with db.transaction() as session:
        helper_id = session.execute(
            select(StaffUser.id).where(StaffUser.username == helper)
        ).scalar_one()
    admin.post(f"/conversations/{conversation_id}/assign", data={"staff": str(helper_id)})
    assert conversation(db, conversation_id).assigned_staff_id == helper_id
    admin.post(f"/conversations/{conversation_id}/close")
    assert conversation(db, conversation_id).status == "closed"
    refused = admin.post(f"/conversations/{conversation_id}/reply", data={"text": "late"})
    assert refused.status_code == 302
    assert len(messages_in(db, conversation_id)) == 1
    admin.post(f"/conversations/{conversation_id}/reopen")
    assert conversation(db, conversation_id).status == "open"


def test_a_staff_member_who_may_only_view_reads_but_cannot_reply_or_close(db, app):
    _, conversation_id = customer_conversation(db)
    viewer = signed_in(app, make_staff(db, grants={"conversations": "view"}))
    page = viewer.get(f"/conversations/{conversation_id}").get_data(as_text=True)
    assert "My voucher does not work" in page
    assert "Send reply" not in page
    assert (
        viewer.post(f"/conversations/{conversation_id}/reply", data={"text": "x"}).status_code
        == 403
    )
    assert viewer.post(f"/conversations/{conversation_id}/close").status_code == 403
    assert len(messages_in(db, conversation_id)) == 1


def test_a_staff_member_without_the_permission_gets_403_and_no_menu_entry(db, app):
    _, conversation_id = customer_conversation(db)
    other = signed_in(app, make_staff(db, grants={"payments": "change"}))
    assert other.get("/conversations/").status_code == 403
    assert other.get(f"/conversations/{conversation_id}").status_code == 403
    assert other.get(f"/conversations/{conversation_id}/messages?after=0").status_code == 403
    assert 'href="/conversations/"' not in other.get("/payments/").get_data(as_text=True)


def test_a_photo_of_another_conversation_is_not_found_through_this_one(db, admin):
    _, conversation_id = customer_conversation(db)
    __, other_id = customer_conversation(db)
    admin.post(
        f"/conversations/{conversation_id}/reply",
        data={"text": "photo", "image": (io.BytesIO(PNG), "p.png")},
        content_type="multipart/form-data",
    )
    reply = messages_in(db, conversation_id)[-1]
    assert admin.get(f"/conversations/{other_id}/messages/{reply.id}/image").status_code == 404
    assert admin.get("/conversations/999999999").status_code == 404


def test_an_indonesian_staff_member_reads_the_screen_in_indonesian(db, app):
    _, conversation_id = customer_conversation(db)
    reader = signed_in(app, make_staff(db, superuser=True, locale="id"))
    page = reader.get(f"/conversations/{conversation_id}").get_data(as_text=True)
    assert "Percakapan" in page
    assert "Kirim balasan" in page
    assert "Tutup, sudah selesai" in page


def test_staff_write_to_a_customer_from_their_page_and_the_customer_has_it_unread(db, admin):
    customer_id = make_customer(db, "Bu Yati")
    page = admin.get(f"/customers/{customer_id}").get_data(as_text=True)
    assert f'href="/conversations/new?customer={customer_id}"' in page
    response = admin.post(
        f"/conversations/new?customer={customer_id}",
        data={"topic": "billing", "text": "Your transfer arrived twice; we refunded one."},
    )
    assert response.status_code == 302
    with db.transaction() as session:
        (opened,) = session.execute(
            select(Conversation).where(Conversation.customer_id == customer_id)
        ).scalars()
        assert (opened.status, opened.channel, opened.topic) == ("waiting", "admin", "billing")
        assert unread_count(session, Actor.customer(customer_id)) == 1
    assert "1 not closed" in admin.get(f"/customers/{customer_id}").get_data(as_text=True)


def test_writing_to_a_customer_needs_words_an_existing_customer_and_the_change_permission(
    db, app, admin
):
    customer_id = make_customer(db, "Pak Udin")
    page = admin.post(
        f"/conversations/new?customer={customer_id}", data={"topic": "other", "text": " "}
    ).get_data(as_text=True)
    assert field_errors(page, "text") == ["Write a reply or attach a photo."]
    assert admin.get("/conversations/new?customer=999999999").status_code == 404
    viewer = signed_in(app, make_staff(db, grants={"conversations": "view", "customers": "view"}))
    assert "Write to this customer" not in viewer.get(f"/customers/{customer_id}").get_data(
        as_text=True
    )
    assert viewer.get(f"/conversations/new?customer={customer_id}").status_code == 403
    with db.transaction() as session:
        assert (
            session.execute(
                select(Conversation).where(Conversation.customer_id == customer_id)
            ).first()
            is None
        )
