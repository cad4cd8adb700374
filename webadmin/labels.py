"""The words the admin shows for values stored as codes (a ledger entry's kind, a
wallet's status, a call's outcome and state), in the reader's language; a code not
listed here is shown as it is stored. Templates read them through the `label` filter:
`{{ entry.kind|label('entry_kind') }}`."""

from __future__ import annotations

import re

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
    # The fields of an audit record's before and after, as written by the record_audit
    # calls (tests/unit/test_audit_details.py reads them from the source and fails on one
    # without a label). The screen shows the label, with the stored key in its tooltip.
    "audit_field": {
        "account": _l("Wallet"),
        "account_status": _l("Wallet's status"),
        "active": _l("Active"),
        "address": _l("Address"),
        "amount": _l("Amount"),
        "assigned": _l("Assigned to"),
        "audience": _l("Audience"),
        "auto_renew": _l("Auto-renewal"),
        "avg_rtt_us": _l("Average round trip (µs)"),
        "balance": _l("Balance"),
        "band": _l("Time band"),
        "bank": _l("Bank"),
        "batch": _l("Voucher batch"),
        "by": _l("Linked by"),
        "call_mode": _l("Call mode"),
        "call_slice_seconds": _l("Call slice (seconds)"),
        "channel": _l("Channel"),
        "characters": _l("Characters"),
        "chat": _l("Chat"),
        "chat_notices": _l("Notices sent to chats"),
        "chat_notices_withdrawn": _l("Unsent chat notices withdrawn"),
        "code": _l("Code"),
        "codes": _l("Codes"),
        "contact": _l("Chat contact"),
        "conversations": _l("Conversations"),
        "count": _l("How many"),
        "country_code": _l("Country code"),
        "credit_limit": _l("Credit limit"),
        "currency": _l("Currency"),
        "customer": _l("Customer"),
        "customers": _l("Customers"),
        "day": _l("Date"),
        "days": _l("Days"),
        "deleted": _l("Deleted"),
        "deliveries": _l("Deliveries"),
        "description": _l("Description"),
        "display_precision": _l("Decimals shown"),
        "email": _l("E-mail"),
        "enabled": _l("Enabled"),
        "end": _l("End"),
        "ends": _l("Ends"),
        "ends_at": _l("Ends at"),
        "entry": _l("Ledger entry"),
        "error": _l("Error"),
        "expires_at": _l("Expires at"),
        "form_key": _l("Form key"),
        "from_balance": _l("Balance of the wallet it came from"),
        "from_environment": _l("Given back to the environment"),
        "full_name": _l("Full name"),
        "holder": _l("Account holder"),
        "host": _l("Host"),
        "hotspot_server": _l("Hotspot server"),
        "image": _l("Image"),
        "imported": _l("Imported"),
        "internet_start": _l("An internet package's validity starts"),
        "kept_tariff_plans": _l("Tariff plans kept"),
        "key": _l("Notice key"),
        "kicked": _l("Disconnected"),
        "kind": _l("Kind"),
        "language": _l("Language"),
        "limit_bytes_total": _l("Data limit (bytes)"),
        "limit_uptime": _l("Time limit (seconds)"),
        "link": _l("Link"),
        "locale": _l("Language"),
        "login": _l("Hotspot login"),
        "login_url": _l("Login URL"),
        "logo_path": _l("Logo"),
        "low_balance_threshold": _l("Low-balance threshold"),
        "message": _l("Message"),
        "method": _l("Method"),
        "name": _l("Name"),
        "number": _l("Bank account number"),
        "operator_name": _l("Operator name"),
        "package": _l("Internet package"),
        "paid": _l("Paid"),
        "password": _l("Password"),
        "phone": _l("Phone"),
        "platform": _l("Chat app"),
        "port": _l("Port"),
        "price": _l("Price"),
        "profile": _l("Hotspot profile"),
        "rate_limit": _l("Speed limit"),
        "rates": _l("Rates"),
        "read_up_to": _l("Read up to message"),
        "reason": _l("Reason"),
        "received": _l("Received"),
        "recipients": _l("Recipients"),
        "reference": _l("Reference"),
        "replace": _l("Old rates replaced"),
        "role": _l("Role"),
        "router": _l("Router"),
        "routers": _l("Routers"),
        "sent": _l("Sent"),
        "setup": _l("First-run setup"),
        "shared_users": _l("Shared users"),
        "sign_in_banner": _l("Banner on the sign-in page"),
        "source": _l("Asked from"),
        "staff": _l("Staff member"),
        "start": _l("Start"),
        "starts": _l("Starts"),
        "status": _l("Status"),
        "subscription": _l("Subscription"),
        "superuser": _l("Super admin"),
        "tariff_plan": _l("Tariff plan"),
        "tariff_plan_id": _l("Tariff plan"),
        "timezone": _l("Time zone"),
        "tls": _l("TLS"),
        "tls_verify": _l("Verify the TLS certificate"),
        "to": _l("Sent to"),
        "to_balance": _l("Balance of the wallet it went to"),
        "token": _l("Link code"),
        "topic": _l("Topic"),
        "unreachable": _l("Unreachable routers"),
        "username": _l("User name"),
        "validity": _l("Validity"),
        "value": _l("Value"),
    },
    "yes_no": {True: _l("Yes"), False: _l("No")},
    # Each language by its own name, as language menus write them.
    "language": {"en": "English", "id": "Bahasa Indonesia"},
}


def label(value: object, table: str) -> str:
    """`value` in the reader's words, from LABELS[table]; unknown values as stored."""
    if value is None:
        return ""
    found = LABELS.get(table, {}).get(value)
    return str(found) if found is not None else str(value)


#: What an audit record's target names, by the stored words it starts with (longest
#: first): "account 12" is shown "dompet 12" to an Indonesian reader.
AUDIT_TARGETS = (
    ("payment request ", _l("payment request")),
    ("hotspot login ", _l("hotspot login")),
    ("voucher batch ", _l("voucher batch")),
    ("site settings", _l("site settings")),
    ("bank account ", _l("bank account")),
    ("announcement ", _l("announcement")),
    ("conversation ", _l("conversation")),
    ("subscription ", _l("subscription")),
    ("tariff plan ", _l("tariff plan")),
    ("demo batch ", _l("demo batch")),
    ("broadcast ", _l("broadcast")),
    ("customer ", _l("customer")),
    ("account ", _l("wallet")),
    ("package ", _l("internet package")),
    ("notice ", _l("notice")),
    ("staff ", _l("staff")),
    ("plan ", _l("tariff plan")),
    ("role ", _l("role")),
    ("call ", _l("call")),
)
_VOUCHERS = re.compile(r"(\d+) voucher\(s\)")


def audit_target(stored: str | None) -> str:
    """An audit record's target in the reader's words ("dompet 1 -> 3", "3 voucher");
    what follows the noun (a number, a name) as stored."""
    text = stored or ""
    found = _VOUCHERS.fullmatch(text)
    if found:
        count = int(found.group(1))
        return ngettext("%(num)s voucher", "%(num)s vouchers", count)
    for prefix, noun in AUDIT_TARGETS:
        if text.startswith(prefix):
            rest = text[len(prefix) :]
            return f"{noun} {rest}" if rest else str(noun)
    return text


def stored_target(typed: str) -> str:
    """The stored form of a target the reader typed in their words ("dompet 1" ->
    "account 1"), for the audit log's filter; what matches no noun, unchanged."""
    wanted = typed.casefold()
    # The longest words first; of two stored forms with the same words ("tariff plan",
    # "plan"), the shorter, which the longer contains.
    for prefix, noun in sorted(AUDIT_TARGETS, key=lambda pair: (-len(str(pair[1])), len(pair[0]))):
        word = str(noun).casefold()
        if wanted == word or wanted.startswith(word + " "):
            return prefix.strip() + typed[len(word) :]
    return typed


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
        return _("payment request %(request)s", request=values["request"])
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


#: The chat apps' names, as their makers write them (a chat link's platform).
PLATFORM_NAMES = {"telegram": "Telegram", "line": "LINE"}
_PLATFORMS = {**PLATFORM_NAMES, "portal": "portal", "web": "admin"}


def actor_label(stored: str | None) -> str:
    """Who did something (an audit record's, a ledger entry's actor) in the reader's
    words: a staff member's name, "pelanggan 7 di portal", "baris perintah"; an actor name
    not made by pulsa's services, as stored."""
    text = stored or ""
    if text in ("system", "pulsa"):
        return "pulsa"
    if text == "cli":
        return _("command line")
    if text == "demo":
        return _("demo data")
    if text == "hotspot":
        return _("hotspot router")
    channel, _sep, rest = text.partition(":")
    platform = _PLATFORMS.get(channel)
    if platform is None or not rest:
        return text
    kind, _sep, ident = rest.partition(":")
    if kind == "customer" and ident:
        if channel == "portal":
            return _("customer %(number)s on the portal", number=ident)
        return _("customer %(number)s on %(platform)s", number=ident, platform=platform)
    if kind == "contact" and ident:
        return _("a chat contact on %(platform)s", platform=platform)
    if channel == "web":
        return rest  # a staff member in the admin: their user name
    return _("%(name)s on %(platform)s", name=rest, platform=platform)


def init_labels(app) -> None:
    app.jinja_env.filters["label"] = label
    app.jinja_env.filters["entry_reference"] = entry_reference
    app.jinja_env.filters["entry_note"] = entry_note
    app.jinja_env.filters["audit_target"] = audit_target
    app.jinja_env.filters["actor"] = actor_label
