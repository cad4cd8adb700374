"""The words the admin shows for values stored as codes (a ledger entry's kind, a
wallet's status, a call's outcome and state), in the reader's language; a code not
listed here is shown as it is stored. Templates read them through the `label` filter:
`{{ entry.kind|label('entry_kind') }}`."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext

from wallet import references

LABELS = {
    "entry_kind": {
        "topup": _l("Top-up"),
        "call": _l("Call"),
        "package": _l("Internet package"),
        "voucher": _l("Voucher"),
        "refund": _l("Refund"),
        "adjustment": _l("Adjustment"),
        "transfer": _l("Transfer"),
    },
    "wallet_status": {
        "active": _l("Active"),
        "blocked": _l("Blocked"),
        "closed": _l("Closed"),
    },
    "disposition": {
        "ANSWERED": _l("Answered"),
        "NO ANSWER": _l("No answer"),
        "BUSY": _l("Busy"),
        "FAILED": _l("Failed"),
        "CONGESTION": _l("Congestion"),
    },
    "call_state": {
        "authorized": _l("Ringing"),
        "answered": _l("Talking"),
        "ended": _l("Ended"),
    },
    "call_mode": {
        "live": _l("live"),
        "static": _l("static"),
    },
    "record_source": {
        "cdr": _l("Asterisk's record"),
        "estimated": _l("estimated"),
    },
    # The audit log's action codes, as written by the record_audit calls of the code base
    # (tests/unit/test_audit_records.py reads them from the source and fails on one
    # without a label). The screen shows the label, with the code beside it for searches.
    "audit_action": {
        "announcement.end": _l("Announcement ended"),
        "announcement.post": _l("Announcement posted"),
        "bank_account.save": _l("Bank account saved"),
        "broadcast.send": _l("Broadcast sent"),
        "call.hangup_request": _l("Hang-up of a call asked"),
        "chat.link": _l("Chat linked"),
        "chat.link_token": _l("Chat link code made"),
        "chat.unlink": _l("Chat unlinked"),
        "conversation.adopt": _l("Chat's conversations given to the customer"),
        "conversation.assign": _l("Conversation assigned"),
        "conversation.close": _l("Conversation closed"),
        "conversation.message": _l("Message in a conversation"),
        "conversation.open": _l("Conversation opened"),
        "conversation.read": _l("Conversation read"),
        "conversation.reopen": _l("Conversation reopened"),
        "customer.create": _l("Customer created"),
        "customer.status": _l("Customer's status changed"),
        "customer.update": _l("Customer edited"),
        "demo.load": _l("Demo data loaded"),
        "demo.remove": _l("Demo data removed"),
        "hotspot_login.create": _l("Hotspot login created"),
        "hotspot_login.kick": _l("Hotspot login disconnected"),
        "hotspot_login.status": _l("Hotspot login's status changed"),
        "identity.add": _l("Caller ID or account code added"),
        "identity.remove": _l("Caller ID or account code removed"),
        "internet.auto_renew": _l("Auto-renewal changed"),
        "internet.buy": _l("Internet package bought"),
        "internet.extend": _l("Subscription extended"),
        "notice.enqueue": _l("Notice queued"),
        "notice.send_again": _l("Notice sent again"),
        "package.create": _l("Internet package created"),
        "package.edit": _l("Internet package edited"),
        "payment.confirm": _l("Payment confirmed"),
        "payment.reject": _l("Payment rejected"),
        "payment.request": _l("Top-up asked for"),
        "portal.link": _l("Portal link made"),
        "portal.password_change": _l("Portal password changed"),
        "portal.password_set": _l("Portal password set"),
        "portal.sign_in": _l("Signed in to the portal"),
        "registration.confirm": _l("Registration confirmed"),
        "registration.new": _l("Hotspot registration"),
        "registration.reject": _l("Registration rejected"),
        "role.save": _l("Role saved"),
        "router.add": _l("Router added"),
        "router.edit": _l("Router edited"),
        "router.ping": _l("Ping from a router"),
        "settings.save": _l("Settings saved"),
        "staff.create": _l("Staff member created"),
        "staff.sign_in": _l("Staff signed in"),
        "staff.sign_in_failed": _l("Staff sign-in failed"),
        "staff.update": _l("Staff member edited"),
        "tariff.band": _l("Time band saved"),
        "tariff.holiday": _l("Holiday saved"),
        "tariff.import": _l("Rates imported"),
        "tariff.plan_create": _l("Tariff plan created"),
        "tariff_plan.timezone": _l("Tariff plans' time zone changed"),
        "voucher.redeem": _l("Voucher redeemed"),
        "voucher.redeem_package": _l("Internet package voucher redeemed"),
        "voucher.sell": _l("Vouchers sold"),
        "voucher.void": _l("Vouchers voided"),
        "voucher_batch.generate": _l("Voucher batch generated"),
        "wallet.adjust": _l("Adjustment"),
        "wallet.top_up": _l("Top-up"),
        "wallet.transfer": _l("Transfer"),
    },
}


def label(value: object, table: str) -> str:
    """`value` in the reader's words, from LABELS[table]; unknown values as stored."""
    if value is None:
        return ""
    found = LABELS.get(table, {}).get(value)
    return str(found) if found is not None else str(value)


def fact_text(fact: references.Fact | None) -> str:
    """A ledger entry's reference or note, read by wallet.references, in the reader's
    words: "ke dompet 12", "langganan 5 diperpanjang 7 hari"; a typed one as typed."""
    if fact is None:
        return ""
    values = fact.values
    if fact.what == references.TRANSFER_TO:
        return _("to wallet %(account)s", account=values["account"])
    if fact.what == references.TRANSFER_FROM:
        return _("from wallet %(account)s", account=values["account"])
    if fact.what == references.VOUCHER:
        return _("voucher code %(code)s", code=values["code"])
    if fact.what == references.PAYMENT_REQUEST:
        return _("top-up request %(request)s", request=values["request"])
    if fact.what == references.PACKAGE:
        return _("%(package)s for %(login)s", package=values["package"], login=values["login"])
    if fact.what == references.EXTENSION:
        return ngettext(
            "subscription %(subscription)s extended by %(num)s day",
            "subscription %(subscription)s extended by %(num)s days",
            values["days"],
            subscription=values["subscription"],
        )
    if fact.what == references.DEMO_OPENING:
        return _("Demo opening balance")
    if fact.what == references.REGISTRATION:
        return _("Hotspot registration")
    return str(values.get("text", ""))


def entry_reference(entry) -> str:
    """The reference of a ledger entry, as the reader reads it."""
    return fact_text(references.read_reference(entry.kind, entry.reference))


def entry_note(entry) -> str:
    """The note of a ledger entry, as the reader reads it."""
    return fact_text(references.read_note(entry.kind, entry.note))


def init_labels(app) -> None:
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["entry_reference"] = entry_reference
    app.jinja_env.filters["entry_note"] = entry_note
