"""The references and notes the wallet's services write on ledger entries by themselves
("to account 12", "subscription 5 +7 days", "demo opening balance"), written and read in
one place.

They are stored as they always were: short English texts that the audit, the
reconciliation and the operator's searches of the database rely on, the same for every
reader. The admin, the portal and the chats do not show them as stored: `read_reference`
and `read_note` turn them back into facts (what it is, and its values), which each adapter
words in its reader's language. A reference or note typed by a person (a receipt number,
an adjustment's reason) is read as `TYPED` and shown as it was typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# What a stored reference or note says (Fact.what).
TRANSFER_TO = "transfer_to"  # values: account
TRANSFER_FROM = "transfer_from"  # values: account
VOUCHER = "voucher"  # values: code
PAYMENT_REQUEST = "payment_request"  # values: request
PACKAGE = "package"  # values: package, login
EXTENSION = "extension"  # values: subscription, days
DEMO_OPENING = "demo_opening"
REGISTRATION = "registration"
TYPED = "typed"  # values: text


@dataclass(frozen=True)
class Fact:
    what: str
    values: dict[str, object] = field(default_factory=dict)


def transfer_to(account_id: int) -> str:
    return f"to account {account_id}"


def transfer_from(account_id: int) -> str:
    return f"from account {account_id}"


def voucher(code: str) -> str:
    return f"voucher {code}"


def payment_request(request_id: int) -> str:
    return f"payment request {request_id}"


def package(package_name: str, login: str) -> str:
    return f"{package_name} for {login}"[:200]


def extension(subscription_id: int, days: int) -> str:
    return f"subscription {subscription_id} +{days} days"


DEMO_OPENING_NOTE = "demo opening balance"
REGISTRATION_NOTE = "hotspot registration"

_TRANSFER = re.compile(r"(to|from) account (\d+)")
_VOUCHER = re.compile(r"voucher (\S+)")
_PAYMENT = re.compile(r"payment request (\d+)")
_EXTENSION = re.compile(r"subscription (\d+) \+(\d+) days")


def read_reference(kind: str, reference: str | None) -> Fact | None:
    """What an entry of `kind` with this stored reference says; None for no reference.
    Only the forms the services write for that kind are read as facts: the same words
    typed by a person on another kind of entry stay as typed."""
    if not reference:
        return None
    if kind == "transfer" and (found := _TRANSFER.fullmatch(reference)):
        what = TRANSFER_TO if found.group(1) == "to" else TRANSFER_FROM
        return Fact(what, {"account": int(found.group(2))})
    if kind == "topup" and (found := _VOUCHER.fullmatch(reference)):
        return Fact(VOUCHER, {"code": found.group(1)})
    if kind == "topup" and (found := _PAYMENT.fullmatch(reference)):
        return Fact(PAYMENT_REQUEST, {"request": int(found.group(1))})
    if kind == "package":
        if found := _EXTENSION.fullmatch(reference):
            return Fact(
                EXTENSION, {"subscription": int(found.group(1)), "days": int(found.group(2))}
            )
        name, joined, login = reference.rpartition(" for ")
        if joined and name and login:
            return Fact(PACKAGE, {"package": name, "login": login})
    return Fact(TYPED, {"text": reference})


def read_note(kind: str, note: str | None) -> Fact | None:
    """What an entry's note says: one the services write, or the text a person typed."""
    if not note:
        return None
    if kind == "adjustment" and note == DEMO_OPENING_NOTE:
        return Fact(DEMO_OPENING)
    if kind == "topup" and note == REGISTRATION_NOTE:
        return Fact(REGISTRATION)
    return Fact(TYPED, {"text": note})
