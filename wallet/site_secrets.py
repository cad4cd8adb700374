"""Secrets pulsa makes for itself once and keeps in the database.

The web apps sign their session cookies, CSRF tokens and the customers' "keep this page"
registration links with PULSA_SECRET_KEY. When the operator sets none, a random one is
made the first time it is needed and stored here, so that a restart (or a second web
worker on the same database) keeps staff signed in and old links valid. Anybody who can
read this table can also read every password hash and balance, so the database is the
boundary either way; PULSA_SECRET_KEY keeps the key out of the database for those who
prefer that.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime

from sqlalchemy import DateTime, String, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column

from wallet.db import Database
from wallet.ledger import utcnow
from wallet.models import Base

log = logging.getLogger("pulsa.secrets")

WEB_SECRET = "web_secret_key"


class SiteSecret(Base):
    __tablename__ = "site_secrets"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))


def stored_secret(session: Session, name: str) -> str:
    """The secret called `name`, made (64 hex digits) and stored the first time."""
    value = session.execute(select(SiteSecret.value).where(SiteSecret.name == name)).scalar()
    if value is not None:
        return value
    made = SiteSecret(name=name, value=os.urandom(32).hex(), created_at=utcnow())
    try:
        with session.begin_nested():
            session.add(made)
            session.flush()
    except IntegrityError:  # another process made it meanwhile: theirs it is
        return session.execute(select(SiteSecret.value).where(SiteSecret.name == name)).scalar_one()
    log.info(
        "made a secret key for the web apps and kept it in the database (table site_secrets); "
        "set PULSA_SECRET_KEY to use your own"
    )
    return made.value


def web_secret_key(database: Database, configured: str) -> str:
    """PULSA_SECRET_KEY when set, else the one kept in the database. Before the database
    is migrated there is nowhere to keep it: a key for this run only, said in the log."""
    if configured:
        return configured
    try:
        return database.run(lambda session: stored_secret(session, WEB_SECRET))
    except SQLAlchemyError as error:
        log.warning(
            "cannot keep a web secret key in the database (%s; run `pulsa db upgrade`): "
            "sessions and registration links last until the next restart only",
            type(error).__name__,
        )
        return os.urandom(32).hex()
