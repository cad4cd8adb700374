"""Vouchers: batches of printed codes for a package, their sale, their first use on the
hotspot, and their redemption into a wallet as credit.

Every voucher has a hotspot login of its own (kind "voucher"), so its code shares the
one unique username index with customers' logins: a code can never collide with a
customer's name or another batch's code, on any database. Codes come from `secrets`.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from wallet import ledger, references
from wallet.errors import InvalidInput, NotFound
from wallet.hotspot_models import (
    HotspotLogin,
    InternetPackage,
    Subscription,
    Voucher,
    VoucherBatch,
)
from wallet.internet import (
    _account_of,
    _queue_place,
    get_package,
    normalize_username,
    package_subscription,
    username_key,
)
from wallet.ledger import utcnow
from wallet.models import LedgerEntry

# Alphabets without the characters people misread on paper: 0/O, 1/I/l.
ALPHABETS = {
    "upper": "ABCDEFGHJKMNPQRSTUVWXYZ23456789",
    "lower": "abcdefghjkmnpqrstuvwxyz23456789",
    "digits": "0123456789",
}
MAX_BATCH = 10_000
VOUCHER_STATUSES = ("new", "sold", "used", "redeemed", "void")
_CHUNK = 500
_MAX_ROUNDS = 100

Picker = Callable[[str, int], str]


def random_code(alphabet: str, length: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(length))


def generate_batch(
    session: Session,
    *,
    count: int,
    package: int | str | None = None,
    length: int = 8,
    prefix: str = "",
    alphabet: str = "upper",
    separate_password: bool = False,
    password_length: int | None = None,
    price: int | None = None,
    note: str = "",
    actor: str = "system",
    pick: Picker = random_code,
) -> VoucherBatch:
    """Generate `count` vouchers with unique codes, in the caller's transaction.

    A voucher for a package logs in on the hotspot; one without a package is only
    redeemable as credit. `price` is the face value (default: the package's price).
    Codes that exist already (in any batch, or as a customer's username) are drawn
    again; a concurrent batch that takes a code first is caught by the unique index
    and that part is drawn again too. `pick` is for tests.
    """
    if not isinstance(count, int) or not 1 <= count <= MAX_BATCH:
        raise InvalidInput(f"a batch has 1 to {MAX_BATCH} vouchers")
    if alphabet not in ALPHABETS:
        raise InvalidInput(f"alphabet must be one of {', '.join(ALPHABETS)}")
    symbols = ALPHABETS[alphabet]
    if not isinstance(length, int) or not 3 <= length <= 32:
        raise InvalidInput("a code has 3 to 32 characters (after the prefix)")
    prefix = normalize_username(prefix) if prefix else ""
    if len(prefix) > 16:
        raise InvalidInput("a prefix has at most 16 characters")
    password_length = password_length or length
    if separate_password and not 4 <= password_length <= 32:
        raise InvalidInput("a voucher password has 4 to 32 characters")
    if len(symbols) ** length < 2 * count:
        # Past half full, drawing free codes turns into a long search.
        raise InvalidInput(
            f"{length} characters from {alphabet!r} make too few codes for {count} vouchers;"
            " use longer codes"
        )
    chosen = get_package(session, package) if package is not None else None
    face_value = price if price is not None else (chosen.price if chosen else None)
    if face_value is None or not isinstance(face_value, int) or face_value < 0:
        raise InvalidInput("a voucher without a package needs a price (its credit value)")
    if chosen is None and face_value == 0:
        raise InvalidInput("a credit voucher must be worth more than zero")
    now = utcnow()
    batch = VoucherBatch(
        package_id=chosen.id if chosen else None,
        price=face_value,
        count=count,
        prefix=prefix,
        code_length=length,
        alphabet=alphabet,
        separate_password=separate_password,
        note=(note or "")[:200],
        actor=actor[:100],
        created_at=now,
    )
    session.add(batch)
    session.flush()

    def draw() -> str:
        return prefix + pick(symbols, length)

    made, clashes = 0, 0
    while made < count:
        size = min(_CHUNK, count - made)
        codes = _free_codes(session, draw, size)
        passwords = [
            pick(symbols, password_length) if separate_password else code for code in codes
        ]
        try:
            with session.begin_nested():
                _insert(session, batch, chosen, codes, passwords, now)
        except IntegrityError:
            # Another batch took one of these codes meanwhile: draw this part again.
            clashes += 1
            if clashes > _MAX_ROUNDS:
                raise
            continue
        made += size
    return batch


def _free_codes(session: Session, draw: Callable[[], str], size: int) -> list[str]:
    """`size` distinct codes that no login has, drawn until they are."""
    found: dict[str, str] = {}
    for _ in range(_MAX_ROUNDS):
        while len(found) < size:
            code = draw()
            found.setdefault(username_key(code), code)
        taken = set(
            session.execute(
                select(HotspotLogin.username_key).where(HotspotLogin.username_key.in_(found))
            ).scalars()
        )
        if not taken:
            return list(found.values())
        for key in taken:
            del found[key]
    raise InvalidInput("could not find enough free codes; use longer codes or another prefix")


def _insert(
    session: Session,
    batch: VoucherBatch,
    package,
    codes: Sequence[str],
    passwords: Sequence[str],
    now: datetime,
) -> None:
    logins = [
        HotspotLogin(
            username=code,
            username_key=username_key(code),
            password=password,
            kind="voucher",
            package_id=package.id if package else None,
            # A credit-only voucher never goes on a router.
            status="active" if package else "void",
            created_at=now,
        )
        for code, password in zip(codes, passwords, strict=True)
    ]
    session.add_all(logins)
    session.flush()
    session.add_all(
        Voucher(
            batch_id=batch.id,
            code=login.username,
            password=login.password,
            login_id=login.id,
            status="new",
        )
        for login in logins
    )
    session.flush()


def batch_vouchers(session: Session, batch_id: int) -> list[Voucher]:
    if session.get(VoucherBatch, batch_id) is None:
        raise NotFound(f"voucher batch {batch_id} does not exist")
    return list(
        session.execute(
            select(Voucher).where(Voucher.batch_id == batch_id).order_by(Voucher.id)
        ).scalars()
    )


def find_voucher(session: Session, code: str, *, lock: bool = False) -> Voucher:
    statement = (
        select(Voucher)
        .join(HotspotLogin, HotspotLogin.id == Voucher.login_id)
        .where(HotspotLogin.username_key == username_key(normalize_username(code)))
    )
    if lock:
        statement = statement.with_for_update()
    voucher = session.execute(statement).scalar_one_or_none()
    if voucher is None:
        raise NotFound("no voucher with this code")
    return voucher


def mark_sold(
    session: Session,
    codes: Iterable[str],
    *,
    actor: str,
    price: int | None = None,
    now: datetime | None = None,
) -> list[Voucher]:
    """Record vouchers as sold (for the sales report). Selling twice changes nothing;
    a voucher already used online keeps that status but gets its sale recorded."""
    moment = now or utcnow()
    sold = []
    for code in codes:
        voucher = find_voucher(session, code, lock=True)
        if voucher.status in ("redeemed", "void"):
            raise InvalidInput(f"voucher {voucher.code} is {voucher.status}")
        if voucher.sold_at is None:
            voucher.sold_at = moment
            voucher.sold_by = actor[:100]
            voucher.sold_price = price if price is not None else voucher.batch.price
            if voucher.status == "new":
                voucher.status = "sold"
        sold.append(voucher)
    session.flush()
    return sold


def record_voucher_use(
    session: Session, login_id: int, used_at: datetime, *, now: datetime | None = None
) -> Subscription | None:
    """The reconciler saw a voucher online for the first time: its validity starts.
    Returns the subscription it now runs on (the existing one when already recorded),
    or None when the voucher is no longer usable (redeemed or voided meanwhile)."""
    voucher = session.execute(
        select(Voucher).where(Voucher.login_id == login_id).with_for_update()
    ).scalar_one_or_none()
    if voucher is None:
        raise NotFound(f"login {login_id} is not a voucher")
    existing = session.execute(
        select(Subscription).where(Subscription.voucher_id == voucher.id)
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    if voucher.status not in ("new", "sold"):
        return None
    package_id = voucher.batch.package_id
    if package_id is None:
        return None
    package = get_package(session, package_id)
    voucher.status = "used"
    voucher.used_at = used_at
    subscription = _voucher_subscription(
        voucher, package, login_id, used_at, actor="hotspot", created_at=now or utcnow()
    )
    session.add(subscription)
    session.flush()
    return subscription


def redeem_voucher(
    session: Session,
    account_id: int,
    code: str,
    *,
    password: str | None = None,
    actor: str = "system",
) -> LedgerEntry:
    """Turn an unused voucher into wallet credit worth its face value. The voucher's
    login is voided, so the reconciler takes it off the routers. Redeeming again into
    the same wallet returns the first credit; into another wallet it is refused."""
    try:
        voucher = find_voucher(session, code, lock=True)
    except (NotFound, InvalidInput):
        raise NotFound("no voucher with this code") from None
    batch = voucher.batch
    if batch.separate_password and not secrets.compare_digest(
        (password or "").encode(), voucher.password.encode()
    ):
        raise NotFound("no voucher with this code and password")
    key = f"voucher:{voucher.id}"
    if voucher.status == "redeemed":
        if voucher.redeemed_account_id != account_id:
            raise InvalidInput(f"voucher {voucher.code} was redeemed already")
        return ledger.top_up(
            session, account_id, batch.price, key=key, method="voucher", actor=actor
        )
    if voucher.status not in ("new", "sold"):
        raise InvalidInput(f"voucher {voucher.code} is {voucher.status} and cannot be redeemed")
    if batch.price <= 0:
        raise InvalidInput(f"voucher {voucher.code} has no credit value")
    entry = ledger.top_up(
        session,
        account_id,
        batch.price,
        key=key,
        method="voucher",
        reference=references.voucher(voucher.code),
        actor=actor,
    )
    voucher.status = "redeemed"
    voucher.redeemed_at = entry.created_at
    voucher.redeemed_account_id = account_id
    login = session.get(HotspotLogin, voucher.login_id)
    if login is not None:
        login.status = "void"
    session.flush()
    return entry


def redeem_voucher_into_package(
    session: Session,
    login_id: int,
    code: str,
    *,
    password: str | None = None,
    actor: str = "system",
    now: datetime | None = None,
) -> tuple[Subscription, bool]:
    """Start a package voucher's package on a customer's own hotspot login, free (the
    voucher was paid when it was sold), placed the way a purchase is: after what the
    login already has, or waiting for a router to take it. The voucher's own login is
    voided, so the code cannot also be used on the router. Returns the subscription and
    whether it is new: redeeming again onto the same login returns the first; onto
    another, or a used, void or credit voucher, is refused."""
    moment = now or utcnow()
    login = session.get(HotspotLogin, login_id)
    if login is None or login.kind != "customer" or login.customer_id is None:
        raise NotFound(f"login {login_id} is not a customer's login")
    account = _account_of(session, login)
    # The wallet lock serializes what starts on this login (purchases take it too), so
    # the start computed below cannot be raced.
    ledger.lock_account(session, account.id)
    try:
        voucher = find_voucher(session, code, lock=True)
    except (NotFound, InvalidInput):
        raise NotFound("no voucher with this code") from None
    batch = voucher.batch
    if batch.separate_password and not secrets.compare_digest(
        (password or "").encode(), voucher.password.encode()
    ):
        raise NotFound("no voucher with this code and password")
    earlier = session.execute(
        select(Subscription).where(Subscription.voucher_id == voucher.id)
    ).scalar_one_or_none()
    if earlier is not None:
        if earlier.login_id != login.id:
            raise InvalidInput(f"voucher {voucher.code} was used already")
        return earlier, False
    if batch.package_id is None:
        raise InvalidInput(f"voucher {voucher.code} is credit, not a package")
    if voucher.status not in ("new", "sold"):
        raise InvalidInput(f"voucher {voucher.code} is {voucher.status} and cannot be redeemed")
    if login.status != "active":
        raise InvalidInput(f"login {login.username!r} is {login.status}")
    package = get_package(session, batch.package_id)
    # Placed like a purchase: after what the login has, or waiting for a router to take
    # it when nothing runs (wallet.internet's rule for every package).
    starts_at, waits = _queue_place(session, login.id, moment)
    subscription = _voucher_subscription(
        voucher,
        package,
        login.id,
        starts_at,
        actor=actor,
        created_at=moment,
        account_id=account.id,
        awaits_start=waits,
    )
    session.add(subscription)
    login.package_id = package.id  # the routers of this package serve the login now
    voucher.status = "used"
    voucher.used_at = moment
    voucher.redeemed_account_id = account.id
    voucher_login = session.get(HotspotLogin, voucher.login_id)
    if voucher_login is not None:
        voucher_login.status = "void"
    session.flush()
    return subscription, True


def _voucher_subscription(
    voucher: Voucher,
    package: InternetPackage,
    login_id: int,
    starts_at: datetime,
    *,
    actor: str,
    created_at: datetime,
    account_id: int | None = None,
    awaits_start: bool = False,
) -> Subscription:
    """The package a voucher pays for, on `login_id` from `starts_at`: free here (the
    voucher was paid in cash when sold), never renewed, one per voucher (its purchase key)."""
    return package_subscription(
        package,
        login_id,
        starts_at,
        purchase_key=f"voucher:{voucher.id}",
        price=0,
        actor=actor[:100],
        created_at=created_at,
        account_id=account_id,
        voucher_id=voucher.id,
        awaits_start=awaits_start,
    )


def void_vouchers(session: Session, codes: Iterable[str]) -> int:
    """Withdraw unused vouchers (lost, stolen): they stop working at the next sync."""
    count = 0
    for code in codes:
        voucher = find_voucher(session, code, lock=True)
        if voucher.status in ("new", "sold"):
            voucher.status = "void"
            login = session.get(HotspotLogin, voucher.login_id)
            if login is not None:
                login.status = "void"
            count += 1
    session.flush()
    return count


@dataclass(frozen=True)
class BatchSummary:
    batch_id: int
    package: str | None
    price: int
    count: int
    by_status: dict[str, int]
    sold_total: int


def batch_summary(session: Session, batch_id: int) -> BatchSummary:
    """How many vouchers of a batch are in each state, and what the sold ones brought."""
    batch = session.get(VoucherBatch, batch_id)
    if batch is None:
        raise NotFound(f"voucher batch {batch_id} does not exist")
    rows = session.execute(
        select(Voucher.status, func.count())
        .where(Voucher.batch_id == batch_id)
        .group_by(Voucher.status)
    ).all()
    sold_total = session.execute(
        select(func.coalesce(func.sum(Voucher.sold_price), 0)).where(
            Voucher.batch_id == batch_id, Voucher.sold_at.is_not(None)
        )
    ).scalar_one()
    return BatchSummary(
        batch_id=batch.id,
        package=batch.package.name if batch.package else None,
        price=batch.price,
        count=batch.count,
        by_status={status: count for status, count in rows},
        sold_total=int(sold_total),
    )
