"""The hook that turns wallet's events into customers' notices in the same transaction
(see messaging.notifications), kept light: every process that changes money installs it,
the classic AGI script too, which starts once per call. So this module imports only
wallet's events and settings; messaging.notifications (models, texts, the outbox) is
imported at the first commit that may write a notice, which a call's settlement above
the low-balance threshold never is.
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import Session

from wallet import events as wallet_events
from wallet.site_settings import CachedSetting

LOW_BALANCE_KEY = "low_balance_threshold"


def watch(database, settings) -> None:
    """Turn the events wallet services note on their sessions (wallet.events) into
    notices, in the same transaction, just before it commits. Each process that changes
    money calls this once on its Database (the web apps, the `pulsa` commands, the
    FastAGI server, the classic AGI script and the chat bots do); again is harmless."""
    sessions = database.sessions
    if getattr(sessions, "_pulsa_notices_watched", False):
        return
    # Calls lower balances many times a minute (each AMI listener debit, each
    # settlement): the threshold is read at most every few seconds, not at each commit.
    threshold = CachedSetting(LOW_BALANCE_KEY)

    def before_commit(session: Session) -> None:
        noted = wallet_events.take(session)
        if not noted:
            return
        value = threshold.get(session)
        if not may_notify(noted, value):
            return
        from messaging.notifications import notices_for_events

        notices_for_events(session, noted, settings, threshold=value)

    def after_rollback(session: Session, _transaction) -> None:
        wallet_events.forget(session)

    event.listen(sessions, "before_commit", before_commit)
    event.listen(sessions, "after_soft_rollback", after_rollback)
    sessions._pulsa_notices_watched = True


def crosses(data: dict, threshold: int) -> bool:
    """A balance lowered from above the threshold to at or below it (once per crossing)."""
    return threshold > 0 and data["before"] > threshold >= data["after"]


def may_notify(noted: list[tuple[str, dict]], threshold: int) -> bool:
    """Whether these events may make a notice: any event but a lowered balance, or a
    lowered balance that crosses the threshold."""
    return any(
        name != wallet_events.BALANCE_LOWERED or crosses(data, threshold) for name, data in noted
    )
