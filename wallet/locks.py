"""Named locks: one row per name, locked for the rest of a transaction, so that a check
and the write it allows happen as one step even when several web workers (or several
servers sharing one database) run them at once.

A row lock rather than PostgreSQL's advisory locks or MariaDB's GET_LOCK: it works the
same on all three databases (SQLite takes its one writer lock at BEGIN IMMEDIATE
already), and it ends with the transaction, whatever happens to the connection.
"""

from __future__ import annotations

from sqlalchemy import String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from wallet.models import Base


class NamedLock(Base):
    __tablename__ = "named_locks"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)


def take_named_lock(session: Session, name: str) -> None:
    """Lock the row `name` until the transaction ends (made the first time it is asked
    for: two first takers race on the primary key, and the loser then waits for the
    winner's lock like everyone else)."""
    statement = select(NamedLock.name).where(NamedLock.name == name).with_for_update()
    if session.execute(statement).first() is not None:
        return
    try:
        with session.begin_nested():
            session.add(NamedLock(name=name))
    except IntegrityError:
        pass  # made meanwhile by another transaction, which has committed it
    session.execute(statement).one()
