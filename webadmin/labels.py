"""The words the admin shows for values stored as codes (a ledger entry's kind, a
wallet's status, a call's outcome and state), in the reader's language; a code not
listed here is shown as it is stored. Templates read them through the `label` filter:
`{{ entry.kind|label('entry_kind') }}`."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

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
}


def label(value: object, table: str) -> str:
    """`value` in the reader's words, from LABELS[table]; unknown values as stored."""
    if value is None:
        return ""
    found = LABELS.get(table, {}).get(value)
    return str(found) if found is not None else str(value)


def init_labels(app) -> None:
    app.jinja_env.filters["label"] = label
