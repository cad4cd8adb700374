"""Linking chats to customers and staff: one-time tokens, shared phone numbers, updates
handled once (messaging.chats)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from messaging.chats import (
    chat_language,
    claim_update,
    find_link,
    issue_link_token,
    link_by_phone,
    links_of_customer,
    redeem_link_token,
    unlink,
    updates_since,
)
from tests.conftest import make_account, unique_key
from tests.messaging.builders import make_customer, make_staff_actor
from wallet.errors import InvalidInput, NotFound
from wallet.ledger import utcnow
from wallet.models import Account, Customer


def chat() -> str:
    return unique_key("chat")


def test_a_token_links_the_chat_that_sends_it_once(db):
    customer_id = make_customer(db)
    token, _ = db.run(
        lambda s: issue_link_token(s, "telegram", actor="test", customer_id=customer_id)
    )
    first, second = chat(), chat()
    link = db.run(lambda s: redeem_link_token(s, "telegram", first, token, language="id"))
    assert (link.customer_id, link.language, link.linked_by) == (customer_id, "id", "token")
    with pytest.raises(NotFound):
        db.run(lambda s: redeem_link_token(s, "telegram", second, token))
    with db.transaction() as s:
        assert find_link(s, "telegram", second) is None
        assert [row.chat_id for row in links_of_customer(s, customer_id)] == [first]


def test_a_token_of_one_platform_opens_nothing_on_another(db):
    customer_id = make_customer(db)
    token, _ = db.run(
        lambda s: issue_link_token(s, "telegram", actor="test", customer_id=customer_id)
    )
    with pytest.raises(NotFound):
        db.run(lambda s: redeem_link_token(s, "line", chat(), token))


def test_an_expired_token_links_nothing(db):
    customer_id = make_customer(db)
    long_ago = utcnow() - timedelta(days=2)
    token, _ = db.run(
        lambda s: issue_link_token(
            s, "telegram", actor="test", customer_id=customer_id, now=long_ago
        )
    )
    with pytest.raises(NotFound):
        db.run(lambda s: redeem_link_token(s, "telegram", chat(), token))


def test_a_line_code_is_short_and_read_however_it_is_typed(db):
    customer_id = make_customer(db)
    code, _ = db.run(lambda s: issue_link_token(s, "line", actor="test", customer_id=customer_id))
    assert len(code) == 8 and code.isupper()
    typed = f" {code[:4].lower()}-{code[4:]} "
    link = db.run(lambda s: redeem_link_token(s, "line", chat(), typed))
    assert link.customer_id == customer_id


def test_a_token_for_a_disabled_customer_links_nothing(db):
    customer_id = make_customer(db)
    token, _ = db.run(
        lambda s: issue_link_token(s, "telegram", actor="test", customer_id=customer_id)
    )

    def disable(s):
        s.get(Customer, customer_id).status = "disabled"

    db.run(disable)
    with pytest.raises(NotFound):
        db.run(lambda s: redeem_link_token(s, "telegram", chat(), token))


def test_a_staff_token_links_the_chat_to_the_staff_member(db):
    staff = make_staff_actor(db)
    token, _ = db.run(
        lambda s: issue_link_token(s, "telegram", actor="test", staff_id=staff.staff_id)
    )
    link = db.run(lambda s: redeem_link_token(s, "telegram", chat(), token))
    assert (link.staff_id, link.customer_id) == (staff.staff_id, None)


def test_a_token_is_for_exactly_one_person(db):
    staff = make_staff_actor(db)
    customer_id = make_customer(db)
    with pytest.raises(InvalidInput):
        db.run(
            lambda s: issue_link_token(
                s, "telegram", actor="test", customer_id=customer_id, staff_id=staff.staff_id
            )
        )
    with pytest.raises(InvalidInput):
        db.run(lambda s: issue_link_token(s, "telegram", actor="test"))


def test_linking_a_chat_again_replaces_its_link(db):
    alice, bob = make_customer(db, "Alice"), make_customer(db, "Bob")
    the_chat = chat()
    for customer_id in (alice, bob):
        token, _ = db.run(
            lambda s, c=customer_id: issue_link_token(s, "telegram", actor="test", customer_id=c)
        )
        db.run(lambda s, t=token: redeem_link_token(s, "telegram", the_chat, t))
    with db.transaction() as s:
        assert find_link(s, "telegram", the_chat).customer_id == bob
        assert links_of_customer(s, alice) == []


def _customer_with_phone(db, phone: str) -> int:
    account_id = make_account(db, name="Phone Owner", phone=phone)
    return db.run(lambda s: s.get(Account, account_id).customer_id)


def test_a_shared_phone_number_links_its_customer_in_any_written_form(db):
    number = "0812" + unique_key("").replace("-", "")[-8:].rjust(8, "7")[:8]
    customer_id = _customer_with_phone(db, number[:4] + "-" + number[4:])
    international = "+62" + number[1:]
    link = db.run(lambda s: link_by_phone(s, "telegram", chat(), international, country_code="62"))
    assert link is not None and link.customer_id == customer_id
    assert link.linked_by == "phone"


def test_a_phone_number_of_nobody_or_of_two_customers_links_nothing(db):
    assert db.run(lambda s: link_by_phone(s, "telegram", chat(), "+62 899 0000 0001")) is None
    shared = "0813" + unique_key("").replace("-", "")[-8:].rjust(8, "5")[:8]
    _customer_with_phone(db, shared)
    _customer_with_phone(db, shared)
    assert db.run(lambda s: link_by_phone(s, "telegram", chat(), shared)) is None


def test_unlinking_makes_the_chat_a_stranger_again_and_is_audited(db):
    customer_id = make_customer(db)
    token, _ = db.run(
        lambda s: issue_link_token(s, "telegram", actor="test", customer_id=customer_id)
    )
    the_chat = chat()
    link_id = db.run(lambda s: redeem_link_token(s, "telegram", the_chat, token).id)
    assert db.run(lambda s: unlink(s, link_id, actor="portal:customer:1")) is True
    assert db.run(lambda s: unlink(s, link_id, actor="portal:customer:1")) is False
    with db.transaction() as s:
        assert find_link(s, "telegram", the_chat) is None


def test_an_update_is_claimed_once(db):
    key, the_chat = unique_key("update"), chat()
    assert db.run(lambda s: claim_update(s, "telegram", key, the_chat)) is True
    assert db.run(lambda s: claim_update(s, "telegram", key, the_chat)) is False
    assert db.run(lambda s: claim_update(s, "line", key, the_chat)) is True
    with db.transaction() as s:
        assert updates_since(s, "telegram", the_chat, utcnow() - timedelta(minutes=1)) == 1


def test_a_rolled_back_claim_leaves_the_update_unhandled(db):
    key, the_chat = unique_key("update"), chat()

    class Boom(Exception):
        pass

    def fail(s):
        claim_update(s, "telegram", key, the_chat)
        raise Boom

    with pytest.raises(Boom):
        db.run(fail)
    assert db.run(lambda s: claim_update(s, "telegram", key, the_chat)) is True


@pytest.mark.parametrize(
    ("code", "language"),
    [("id", "id"), ("id-ID", "id"), ("in", "id"), ("en-US", "en"), (None, "en"), ("ms", "en")],
)
def test_the_chat_language_comes_from_the_app_language_code(code, language):
    assert chat_language(code) == language


def test_housekeeping_forgets_old_update_records_and_expired_tokens_only(db):
    from messaging.chats import forget_old_chat_updates
    from messaging.models import ChatLinkToken, HandledUpdate

    the_chat, old, recent = chat(), unique_key("old"), unique_key("recent")
    long_ago = utcnow() - timedelta(days=8)
    db.run(lambda s: claim_update(s, "telegram", old, the_chat, now=long_ago))
    db.run(lambda s: claim_update(s, "telegram", recent, the_chat))
    customer_id = make_customer(db)
    db.run(
        lambda s: issue_link_token(
            s, "telegram", actor="test", customer_id=customer_id, now=long_ago
        )
    )
    fresh, _ = db.run(
        lambda s: issue_link_token(s, "telegram", actor="test", customer_id=customer_id)
    )
    assert db.run(forget_old_chat_updates) >= 1
    with db.transaction() as s:
        kept = {
            u.update_key
            for u in s.query(HandledUpdate).filter(HandledUpdate.chat_id == the_chat).all()
        }
        assert kept == {recent}
        tokens = s.query(ChatLinkToken).filter(ChatLinkToken.customer_id == customer_id).all()
        assert len(tokens) == 1
    assert db.run(lambda s: redeem_link_token(s, "telegram", chat(), fresh)).customer_id == (
        customer_id
    )
