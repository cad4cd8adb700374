"""Signed-in sessions of the web apps, kept on the server so that they can be ended.

The browser's cookie carries only a random token; the session is valid while its row
exists and has not expired. Signing out deletes the row, so a cookie saved before the
sign-out opens nothing afterwards; a password change or a disabled account deletes every
row of that person. A `realm` (staff, customer) keeps the admin's and the portal's
people apart. Only a hash of the token is stored: reading the table gives no session.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import BigInteger, DateTime, Index, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from wallet.ledger import utcnow
from wallet.models import Base, Id

STAFF, CUSTOMER = "staff", "customer"


class WebSession(Base):
    __tablename__ = "web_sessions"
    __table_args__ = (
        Index("ix_web_sessions_realm_subject_id", "realm", "subject_id"),
        Index("ix_web_sessions_expires_at", "expires_at"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    realm: Mapped[str] = mapped_column(String(20))
    subject_id: Mapped[int] = mapped_column(BigInteger)  # a staff member's or customer's id
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))


def token_hash(token: str) -> str:
    """What the table keeps of a token (for a caller that joins web_sessions itself)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


_hash = token_hash


def open_session(
    session: Session,
    realm: str,
    subject_id: int,
    *,
    lifetime: timedelta,
    now: datetime | None = None,
) -> str:
    """A new session of `subject_id`; returns the token for the cookie. Expired sessions
    of the realm are swept away on the way."""
    moment = now or utcnow()
    session.execute(
        delete(WebSession).where(WebSession.realm == realm, WebSession.expires_at <= moment)
    )
    token = secrets.token_urlsafe(32)
    session.add(
        WebSession(
            token_hash=_hash(token),
            realm=realm,
            subject_id=subject_id,
            created_at=moment,
            expires_at=moment + lifetime,
        )
    )
    session.flush()
    return token


def session_subject(
    session: Session, realm: str, token: str, *, now: datetime | None = None
) -> int | None:
    """Whose session `token` is, or None when it was ended, has expired or never was."""
    if not token:
        return None
    row = session.execute(
        select(WebSession.subject_id, WebSession.expires_at).where(
            WebSession.token_hash == _hash(token), WebSession.realm == realm
        )
    ).first()
    if row is None or row.expires_at <= (now or utcnow()):
        return None
    return row.subject_id


def end_session(session: Session, realm: str, token: str) -> None:
    session.execute(
        delete(WebSession).where(WebSession.token_hash == _hash(token), WebSession.realm == realm)
    )


def end_all_sessions(session: Session, realm: str, subject_id: int) -> int:
    """End every session of one person (password changed, account disabled)."""
    result = session.execute(
        delete(WebSession).where(WebSession.realm == realm, WebSession.subject_id == subject_id)
    )
    return result.rowcount or 0


def end_expired_sessions(session: Session, *, now: datetime | None = None) -> int:
    """Delete the sessions past their end (they open nothing already), of every realm."""
    result = session.execute(delete(WebSession).where(WebSession.expires_at <= (now or utcnow())))
    return result.rowcount or 0
