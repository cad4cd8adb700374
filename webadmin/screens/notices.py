"""Notices: the outbox of notices to customers' and staff's chats (Telegram, LINE), how
many wait, were sent or failed, each one's chats and what became of them; a failed
notice (a chat that blocked the bot, given up, or "uncertain": the worker stopped while
sending it, so it may have arrived) can be sent again by staff, knowingly."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from messaging.models import NOTICE_STATUSES, Notice
from messaging.notifications import kind_label, render_notice
from messaging.outbox import notice_counts, send_again
from wallet import permissions
from wallet.errors import WalletError
from webadmin.access import Screen, actor, change, client_address, database, view
from webadmin.ui import explain, paginate

blueprint = Blueprint("notices", __name__, url_prefix="/notices")
SCREEN = Screen(
    permissions.NOTICES,
    _l("Notices"),
    "notices.index",
    order=36,
    description=_l("Notices sent to chats: waiting, sent, failed; send a failed one again"),
)
STATUS_LABELS = {
    "pending": _l("Waiting"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "no_chat": _l("No linked chat"),
}
DELIVERY_LABELS = {
    "pending": _l("Waiting"),
    "sending": _l("Sending"),
    "sent": _l("Sent"),
    "failed": _l("Failed"),
    "uncertain": _l("Uncertain: may have arrived"),
}


@blueprint.get("/")
@view
def index():
    status = request.args.get("status", "failed")
    if status not in (*NOTICE_STATUSES, "all"):
        status = "failed"
    statement = select(Notice).options(selectinload(Notice.deliveries)).order_by(Notice.id.desc())
    if status != "all":
        statement = statement.where(Notice.status == status)
    with database().transaction() as session:
        counts = notice_counts(session)
        page = paginate(session, statement)
        locale = str(get_locale() or "en")
        rows = [
            (notice, kind_label(notice.kind, locale), render_notice(notice, locale))
            for notice in page.items
        ]
    return render_template(
        "notices/index.html",
        page=page,
        rows=rows,
        counts=counts,
        status=status,
        statuses=STATUS_LABELS,
        deliveries=DELIVERY_LABELS,
    )


@blueprint.post("/<int:notice_id>/send-again")
@change
def resend(notice_id: int):
    try:
        again = database().run(
            lambda s: send_again(s, notice_id, actor=actor(), address=client_address())
        )
    except WalletError as error:
        if "does not exist" in str(error):
            abort(404)
        flash(explain(error), "error")
    else:
        if again:
            flash(_("The notice will be sent again to %(n)s chat(s).", n=again), "success")
        else:
            flash(_("Nothing to send again: every chat got this notice."), "warning")
    return redirect(url_for("notices.index", status=request.args.get("status", "failed")))
