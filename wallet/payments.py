"""Payment requests (top-ups customers ask for elsewhere, with a proof of transfer) and
the bank accounts customers pay into.

Confirming a request credits the wallet through `ledger.top_up` with a key derived from
the request's id, so a double click, two admins at once or a retried request credit it
once; the request row is locked while it is decided.
"""

from __future__ import annotations

import contextlib
import secrets
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from wallet import events, ledger, references
from wallet.errors import InvalidInput, NotFound, WalletError
from wallet.models import Account, Base, Customer, Id
from wallet.staff import record_audit
from wallet.text import check_text

REQUEST_STATUSES = ("pending", "confirmed", "rejected")
REQUEST_SOURCES = ("portal", "chat", "admin")
MAX_PROOF_BYTES = 5 * 1024 * 1024
# Recognized by their first bytes, never by the name or the type the browser claims.
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


class PaymentDecided(WalletError):
    """The request was already confirmed or rejected (by someone else, or just now)."""


class BankAccount(Base):
    __tablename__ = "bank_accounts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    bank_name: Mapped[str] = mapped_column(String(100))
    account_number: Mapped[str] = mapped_column(String(60))
    holder_name: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))


class PaymentRequest(Base):
    __tablename__ = "payment_requests"
    __table_args__ = (Index("ix_payment_requests_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(30), default="bank_transfer")
    bank_account_id: Mapped[int | None] = mapped_column(ForeignKey("bank_accounts.id"))
    reference: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    proof_path: Mapped[str | None] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(20), default="portal")
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reject_reason: Mapped[str | None] = mapped_column(Text)
    ledger_entry_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_entries.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))
    decided_by: Mapped[str | None] = mapped_column(String(60))

    bank_account: Mapped[BankAccount | None] = relationship()
    account: Mapped[Account] = relationship()


# --- proofs on disk ---------------------------------------------------------------------


def store_proof(folder: Path, data: bytes, *, what: str = "proof") -> str:
    """Save an uploaded proof image under `folder`; returns its name relative to it.

    The name is random (never the uploaded one) and the content must be a PNG, JPEG or
    GIF image, so an upload can neither overwrite a file nor be served as a page. Other
    uploaded pictures (a photo sent in a conversation) are stored the same way; `what`
    names them in the refusals.
    """
    if not data:
        raise InvalidInput(f"the {what} file is empty")
    if len(data) > MAX_PROOF_BYTES:
        raise InvalidInput(f"the {what} image is larger than {MAX_PROOF_BYTES // 1024 // 1024} MB")
    extension = next((ext for magic, ext in _IMAGE_SIGNATURES if data.startswith(magic)), None)
    if extension is None:
        raise InvalidInput(f"the {what} must be a PNG, JPEG or GIF image")
    folder = Path(folder)
    sub = ledger.utcnow().strftime("%Y-%m")
    (folder / sub).mkdir(parents=True, exist_ok=True)
    name = f"{sub}/{secrets.token_hex(16)}.{extension}"
    (folder / name).write_bytes(data)
    return name


def discard_proof(folder: Path, relative: str) -> None:
    """Delete a proof stored by `store_proof` that no request came to use (the request
    was refused, or was a resent one answered by the first, which keeps its own)."""
    with contextlib.suppress(NotFound, FileNotFoundError):
        proof_file(folder, relative).unlink()


def proof_file(folder: Path, relative: str) -> Path:
    """The path of a stored proof, refusing anything outside `folder`."""
    root = Path(folder).resolve()
    path = (root / relative).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound("no such proof file")
    return path


# --- requests ---------------------------------------------------------------------------


def create_payment_request(
    session: Session,
    account_id: int,
    amount: int,
    *,
    method: str = "bank_transfer",
    bank_account_id: int | None = None,
    reference: str = "",
    note: str = "",
    proof_path: str | None = None,
    source: str = "portal",
) -> PaymentRequest:
    if not isinstance(amount, int) or amount <= 0:
        raise InvalidInput("the amount must be greater than zero")
    if method not in ledger.TOP_UP_METHODS:
        raise InvalidInput(f"unknown method {method!r}")
    if source not in REQUEST_SOURCES:
        raise InvalidInput(f"unknown source {source!r}")
    if session.get(Account, account_id) is None:
        raise NotFound(f"account {account_id} does not exist")
    if bank_account_id is not None and session.get(BankAccount, bank_account_id) is None:
        raise NotFound(f"bank account {bank_account_id} does not exist")
    request = PaymentRequest(
        account_id=account_id,
        amount=amount,
        method=method,
        bank_account_id=bank_account_id,
        reference=(reference or "").strip()[:200],
        note=(note or "").strip(),
        proof_path=proof_path,
        source=source,
        status="pending",
        created_at=ledger.utcnow(),
    )
    session.add(request)
    session.flush()
    return request


def pending_payment_requests(session: Session, *, limit: int = 10) -> tuple[int, list]:
    """The requests waiting for a decision: how many, and the latest `limit` of them with
    their customer, as (request, customer) pairs (newest first, as the admin lists them)."""
    waiting = PaymentRequest.status == "pending"
    count = session.execute(select(func.count(PaymentRequest.id)).where(waiting)).scalar_one()
    rows = session.execute(
        select(PaymentRequest, Customer)
        .join(Account, Account.id == PaymentRequest.account_id)
        .join(Customer, Customer.id == Account.customer_id)
        .where(waiting)
        .order_by(PaymentRequest.id.desc())
        .limit(limit)
    ).all()
    return int(count), [tuple(row) for row in rows]


def _lock_request(session: Session, request_id: int) -> PaymentRequest:
    request = session.execute(
        select(PaymentRequest)
        .where(PaymentRequest.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if request is None:
        raise NotFound(f"payment request {request_id} does not exist")
    return request


def payment_key(request_id: int) -> str:
    return f"payment-request:{request_id}"


def confirm_payment(
    session: Session, request_id: int, *, actor: str, address: str | None = None
) -> tuple[PaymentRequest, bool]:
    """Credit the wallet for a pending request. Returns the request and whether this call
    credited it (False when it was confirmed already: a double click changes nothing)."""
    request = _lock_request(session, request_id)
    if request.status == "confirmed":
        return request, False
    if request.status != "pending":
        raise PaymentDecided(f"payment request {request_id} was {request.status}")
    before = ledger.lock_account(session, request.account_id).balance
    entry = ledger.top_up(
        session,
        request.account_id,
        request.amount,
        key=payment_key(request.id),
        method=request.method,
        reference=request.reference or references.payment_request(request.id),
        actor=actor,
        note=request.note or None,
    )
    request.status = "confirmed"
    request.ledger_entry_id = entry.id
    request.decided_at = ledger.utcnow()
    request.decided_by = actor
    session.flush()
    record_audit(
        session,
        actor,
        "payment.confirm",
        f"payment request {request.id}",
        before={"status": "pending", "balance": before},
        after={"status": "confirmed", "balance": entry.balance_after, "entry": entry.id},
        address=address,
    )
    events.emit(session, events.PAYMENT_CONFIRMED, request_id=request.id)
    return request, True


def reject_payment(
    session: Session, request_id: int, reason: str, *, actor: str, address: str | None = None
) -> PaymentRequest:
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a rejection needs a reason")
    request = _lock_request(session, request_id)
    if request.status != "pending":
        raise PaymentDecided(f"payment request {request_id} was {request.status}")
    request.status = "rejected"
    request.reject_reason = reason
    request.decided_at = ledger.utcnow()
    request.decided_by = actor
    session.flush()
    record_audit(
        session,
        actor,
        "payment.reject",
        f"payment request {request.id}",
        before={"status": "pending"},
        after={"status": "rejected", "reason": reason},
        address=address,
    )
    events.emit(session, events.PAYMENT_REJECTED, request_id=request.id)
    return request


# --- bank accounts ----------------------------------------------------------------------


def save_bank_account(
    session: Session,
    *,
    actor: str,
    bank_name: str,
    account_number: str,
    holder_name: str,
    instructions: str = "",
    is_active: bool = True,
    position: int = 0,
    bank_account_id: int | None = None,
    address: str | None = None,
) -> BankAccount:
    values = {
        "bank_name": (bank_name or "").strip(),
        "account_number": (account_number or "").strip(),
        "holder_name": (holder_name or "").strip(),
    }
    for field, value in values.items():
        check_text(value, f"the {field.replace('_', ' ')}")
        if not value:
            raise InvalidInput(f"{field.replace('_', ' ')} is required")
    if bank_account_id is None:
        row = BankAccount(created_at=ledger.utcnow())
        session.add(row)
        before = None
    else:
        row = session.get(BankAccount, bank_account_id)
        if row is None:
            raise NotFound(f"bank account {bank_account_id} does not exist")
        before = _bank_state(row)
    row.bank_name = values["bank_name"][:100]
    row.account_number = values["account_number"][:60]
    row.holder_name = values["holder_name"][:200]
    row.instructions = check_text((instructions or "").strip(), "instructions", multiline=True)
    row.is_active = is_active
    row.position = position
    session.flush()
    record_audit(
        session,
        actor,
        "bank_account.save",
        f"bank account {row.id}",
        before=before,
        after=_bank_state(row),
        address=address,
    )
    return row


def _bank_state(row: BankAccount) -> dict:
    return {
        "bank": row.bank_name,
        "number": row.account_number,
        "holder": row.holder_name,
        "active": row.is_active,
    }


def active_bank_accounts(session: Session) -> list[BankAccount]:
    """Where customers may pay, in the operator's order (for the portal and the chat)."""
    return list(
        session.execute(
            select(BankAccount)
            .where(BankAccount.is_active.is_(True))
            .order_by(BankAccount.position, BankAccount.id)
        ).scalars()
    )


#: A second identical request this soon after the first is the same one sent twice (a
#: double tap, a resubmitted page): it is not recorded again.
DUPLICATE_WINDOW = timedelta(minutes=10)


def request_top_up(
    session: Session,
    account_id: int,
    amount: int,
    *,
    actor: str,
    source: str,
    bank_account_id: int | None = None,
    reference: str = "",
    note: str = "",
    proof_path: str | None = None,
    address: str | None = None,
) -> tuple[PaymentRequest, bool]:
    """A customer asks for a top-up they paid elsewhere (portal, chat): the request, for
    staff to confirm on the Payments screen, audited with the customer as actor. Returns
    the request and whether it is new: the same amount asked again while the first is
    pending and recent returns the first, so a double submit is one request (and cannot
    be confirmed twice)."""
    ledger.lock_account(session, account_id)
    since = ledger.utcnow() - DUPLICATE_WINDOW
    earlier = session.execute(
        select(PaymentRequest)
        .where(
            PaymentRequest.account_id == account_id,
            PaymentRequest.amount == amount,
            PaymentRequest.status == "pending",
            PaymentRequest.source == source,
            PaymentRequest.created_at >= since,
        )
        .order_by(PaymentRequest.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if earlier is not None:
        return earlier, False
    if bank_account_id is not None:
        bank = session.get(BankAccount, bank_account_id)
        if bank is None or not bank.is_active:
            raise NotFound(f"bank account {bank_account_id} does not exist")
    request = create_payment_request(
        session,
        account_id,
        amount,
        method="bank_transfer",
        bank_account_id=bank_account_id,
        reference=reference,
        note=note,
        proof_path=proof_path,
        source=source,
    )
    record_audit(
        session,
        actor,
        "payment.request",
        f"payment request {request.id}",
        after={"account": account_id, "amount": amount, "source": source},
        address=address,
    )
    return request, True
