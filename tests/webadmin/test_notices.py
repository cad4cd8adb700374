"""The Notices screen: failed notices with the reason per chat, sent again by staff who
may change notices (audited), seen by those who may view, refused to others."""

from __future__ import annotations

from sqlalchemy import select

from messaging.models import Delivery, Notice
from messaging.outbox import Outcome, claim_deliveries, record_outcomes, route_notices
from tests.bots.outbox_builders import deliveries_of, enqueue_texts, linked_customer
from tests.webadmin.conftest import make_staff, signed_in
from wallet.ledger import utcnow
from wallet.staff import AuditRecord


def failed_notice(db, text: str) -> str:
    customer_id, _ = linked_customer(db)
    (key,) = enqueue_texts(db, customer_id, [text])

    def fail(session):
        route_notices(session)
        (delivery_id,) = session.execute(
            select(Delivery.id)
            .join(Notice, Notice.id == Delivery.notice_id)
            .where(Notice.key == key)
        ).scalars()
        claim_deliveries(session, [delivery_id], "c1", utcnow())
        record_outcomes(
            session,
            [Outcome(delivery_id, "c1", "failed", error="Forbidden: bot was blocked by the user")],
        )

    db.run(fail)
    return key


def test_a_failed_notice_is_listed_with_why_and_sent_again_by_staff_who_may(app, db):
    key = failed_notice(db, "saldo anda menipis")
    client = signed_in(app, make_staff(db, grants={"notices": "change"}))

    page = client.get("/notices/").get_data(as_text=True)
    assert "saldo anda menipis" in page and "blocked by the user" in page
    notice_id = db.run(lambda s: s.execute(select(Notice.id).where(Notice.key == key)).scalar_one())

    response = client.post(f"/notices/{notice_id}/send-again")

    assert response.status_code == 302
    (delivery,) = deliveries_of(db, key)
    assert delivery.status == "pending" and delivery.attempts == 0
    with db.transaction() as session:
        assert session.get(Notice, notice_id).status == "pending"
        assert session.execute(
            select(AuditRecord).where(
                AuditRecord.action == "notice.send_again",
                AuditRecord.target == f"notice {notice_id}",
            )
        ).scalar_one()


def test_viewers_see_notices_but_cannot_send_again_and_others_cannot_see_them(app, db):
    key = failed_notice(db, "paket berakhir")
    notice_id = db.run(lambda s: s.execute(select(Notice.id).where(Notice.key == key)).scalar_one())
    viewer = signed_in(app, make_staff(db, grants={"notices": "view"}))
    assert "paket berakhir" in viewer.get("/notices/").get_data(as_text=True)
    assert viewer.post(f"/notices/{notice_id}/send-again").status_code == 403
    stranger = signed_in(app, make_staff(db, grants={"payments": "change"}))
    assert stranger.get("/notices/").status_code == 403
    (delivery,) = deliveries_of(db, key)
    assert delivery.status == "failed"
