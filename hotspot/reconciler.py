"""Brings every router to the state the database describes.

One pass, for each enabled router:

1. read the desired state from the database (one short transaction, then no
   transaction is held while the router is talked to);
2. ensure the package profiles; read every hotspot user in one print; for each
   user pulsa wants there, do nothing when it already matches, else the driver's
   idempotent ``ensure_user`` (which adds or sets only what differs);
3. kick the active sessions of users that must not be online (expired, disabled);
4. record what it learnt (packages held by a router for the first time start their
   validity, or at their first login seen, as the operator chose; vouchers seen online
   for the first time start theirs), and report drift: users on the router pulsa does not know, and
   users pulsa wants that the router had lost.

Users pulsa manages carry a comment ``pulsa:v1 login=<id> sub=<id> | <who>``; users
without that tag are the operator's own and are never changed or removed. A router
that cannot be reached is recorded as such and tried again on the next pass: no
money depends on it, purchases are already in the database.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from hotspot.credentials import CredentialError, RouterKeyring
from hotspot.driver import ActiveSession, HotspotUser, RouterDriver, RouterError
from hotspot.routers import (
    DriverFactory,
    RouterAccess,
    access_for,
    default_driver,
    list_routers,
    record_contact,
)
from wallet.db import Database
from wallet.hotspot_models import (
    HotspotLogin,
    InternetPackage,
    Router,
    Subscription,
    Voucher,
    package_routers,
)
from wallet.internet import (
    DueReport,
    mark_on_router,
    not_over,
    process_due,
    start_mode,
    start_subscription,
)
from wallet.ledger import utcnow
from wallet.models import Customer
from wallet.usage import record_usage
from wallet.vouchers import record_voucher_use

LOGGER = logging.getLogger(__name__)

TAG = "pulsa:v1"
_TAG_PATTERN = re.compile(r"^pulsa:v1 login=(\d+) sub=(\d+)(?: \| (.*))?$", re.DOTALL)


@dataclass(frozen=True)
class Tag:
    login_id: int
    subscription_id: int
    text: str


def make_comment(login_id: int, subscription_id: int | None, text: str = "") -> str:
    """The machine-readable comment of a managed user, then a note for people."""
    comment = f"{TAG} login={login_id} sub={subscription_id or 0}"
    text = " ".join(text.split())  # no newlines in a RouterOS comment
    return f"{comment} | {text}" if text else comment


def parse_comment(comment: str) -> Tag | None:
    match = _TAG_PATTERN.match(comment or "")
    if match is None:
        return None
    return Tag(int(match.group(1)), int(match.group(2)), match.group(3) or "")


@dataclass(frozen=True)
class DesiredProfile:
    name: str
    rate_limit: str | None
    shared_users: int | None


@dataclass(frozen=True)
class DesiredUser:
    name: str
    password: str
    profile: str
    limit_uptime: int | None
    limit_bytes_total: int | None
    disabled: bool
    comment: str
    login_id: int
    subscription_id: int  # the subscription whose quota the router counts; 0: none yet
    voucher_unused: bool = False
    server: str = "all"  # the router's hotspot server the user may log in through
    # The current subscription waits for its start (held by a router or first login).
    awaits_start: bool = False
    # No router has held the current subscription yet.
    first_on_router: bool = False


@dataclass
class DesiredState:
    profiles: list[DesiredProfile]
    users: list[DesiredUser]
    # Logins pulsa voided (redeemed or withdrawn vouchers, refused registrations):
    # known to pulsa, so taken off the router without waiting for a pruning sync.
    remove: set[str] = field(default_factory=set)


@dataclass
class RouterReport:
    """What one pass did on one router, and the drift it found."""

    router_id: int
    router: str
    ok: bool = False
    error: str | None = None
    profiles_changed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    counters_reset: list[str] = field(default_factory=list)
    kicked: list[str] = field(default_factory=list)
    # Drift: managed users the router had lost (now re-created), users tagged by
    # pulsa that the database does not know, and the operator's own users.
    missing: list[str] = field(default_factory=list)
    unknown_managed: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    vouchers_first_used: list[str] = field(default_factory=list)
    # Users whose package's validity this pass started.
    started: list[str] = field(default_factory=list)
    # The router's counters read this pass: subscription id -> (uptime, bytes in + out).
    usage: dict[int, tuple[int, int]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def operations(self) -> int:
        """Users and profiles looked at, for throughput figures."""
        return len(self.added) + len(self.updated) + self.unchanged


@dataclass
class SyncReport:
    due: DueReport | None
    routers: list[RouterReport]

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.routers)


# --- desired state -----------------------------------------------------------------------


def _routers_of_packages(session: Session) -> dict[int, set[int]]:
    mapping: dict[int, set[int]] = {}
    for package_id, router_id in session.execute(
        select(package_routers.c.package_id, package_routers.c.router_id)
    ):
        mapping.setdefault(package_id, set()).add(router_id)
    return mapping


def desired_state(session: Session, router_id: int, now: datetime) -> DesiredState:
    """Profiles and users router `router_id` should hold at `now`.

    A login is on the routers of its package. It is enabled when it is active and
    has a current subscription (one waiting for its start included: a router holding
    it is what starts it), or is a voucher nobody has used yet; otherwise it stays,
    disabled, so that buying again only has to enable it.
    """
    package_routers_ = _routers_of_packages(session)
    router = session.get(Router, router_id)
    server = (router.hotspot_server if router is not None else "") or "all"
    packages = {
        p.id: p
        for p in session.execute(select(InternetPackage)).scalars()
        if router_id in package_routers_.get(p.id, set())
    }
    logins = list(
        session.execute(
            select(HotspotLogin).where(
                HotspotLogin.package_id.in_(packages), HotspotLogin.status != "void"
            )
        ).scalars()
    )
    voided = set(
        session.execute(
            select(HotspotLogin.username).where(
                HotspotLogin.package_id.in_(packages), HotspotLogin.status == "void"
            )
        ).scalars()
    )
    current: dict[int, Subscription] = {}
    for sub in session.execute(
        select(Subscription)
        .where(
            Subscription.status == "active",
            Subscription.starts_at <= now,
            not_over(now),
        )
        .order_by(Subscription.starts_at.desc(), Subscription.id.desc())
    ).scalars():
        current[sub.login_id] = sub  # the earliest-starting one wins: it was bought first
    latest: dict[int, int] = {}
    for login_id, sub_id in session.execute(
        select(Subscription.login_id, Subscription.id)
        .where(Subscription.starts_at <= now)
        .order_by(Subscription.starts_at, Subscription.id)
    ):
        latest[login_id] = sub_id
    names = dict(
        session.execute(
            select(Customer.id, Customer.name).where(
                Customer.id.in_({x.customer_id for x in logins if x.customer_id is not None})
            )
        ).all()
    )
    voucher_status = dict(
        session.execute(
            select(Voucher.login_id, Voucher.status).where(
                or_(Voucher.status == "new", Voucher.status == "sold")
            )
        ).all()
    )
    users = []
    for login in logins:
        sub = current.get(login.id)
        package = packages.get(sub.package_id) if sub is not None else None
        package = package or packages[login.package_id]
        unused_voucher = login.kind == "voucher" and login.id in voucher_status
        enabled = login.status == "active" and (sub is not None or unused_voucher)
        limits = sub if sub is not None else package
        note = names.get(login.customer_id, "") if login.kind == "customer" else "voucher"
        subscription_id = sub.id if sub is not None else latest.get(login.id, 0)
        users.append(
            DesiredUser(
                name=login.username,
                password=login.password,
                profile=package.profile_name,
                limit_uptime=limits.limit_uptime,
                limit_bytes_total=limits.limit_bytes_total,
                disabled=not enabled,
                comment=make_comment(login.id, subscription_id, note),
                login_id=login.id,
                subscription_id=subscription_id,
                voucher_unused=unused_voucher,
                server=server,
                awaits_start=enabled and sub is not None and sub.awaits_start,
                first_on_router=enabled and sub is not None and sub.on_router_at is None,
            )
        )
    profiles = [
        DesiredProfile(p.profile_name, p.rate_limit, p.shared_users)
        for p in sorted(packages.values(), key=lambda p: p.id)
    ]
    return DesiredState(profiles, users, voided)


# --- one router --------------------------------------------------------------------------


def _matches(have: HotspotUser, want: DesiredUser) -> bool:
    return (
        have.password is not None  # unreadable: ensure_user must set it to be sure
        and have.password == want.password
        and have.profile == want.profile
        and have.limit_uptime == want.limit_uptime
        and have.limit_bytes_total == want.limit_bytes_total
        and have.comment == want.comment
        and have.disabled == want.disabled
        and have.server == want.server
    )


def _needs_counter_reset(have: HotspotUser, want: DesiredUser) -> bool:
    """A new subscription starts with its whole quota: RouterOS measures limit-uptime
    and limit-bytes-total against the user's counters, so they go back to zero when
    the tag shows the router still counts for an earlier subscription."""
    tag = parse_comment(have.comment)
    if tag is None or tag.subscription_id == 0 or want.subscription_id == 0:
        return False  # a voucher's first use keeps what it used since logging in
    if tag.subscription_id == want.subscription_id:
        return False
    return have.uptime_seconds > 0 or have.bytes_in > 0 or have.bytes_out > 0


def _read_usage(have: HotspotUser | None, want: DesiredUser, report: RouterReport) -> None:
    """Keep the user's counters for the subscription they count for: the one its tag
    names, when it is still the one wanted there (an earlier one's are about to be reset,
    and are no longer anybody's use)."""
    if have is None or want.subscription_id == 0:
        return
    tag = parse_comment(have.comment)
    if tag is not None and tag.subscription_id == want.subscription_id:
        report.usage[want.subscription_id] = (have.uptime_seconds, have.bytes_in + have.bytes_out)


def apply_state(
    driver: RouterDriver, state: DesiredState, report: RouterReport, *, prune: bool = False
) -> list[ActiveSession]:
    """Make the router hold `state`; returns the sessions seen online afterwards."""
    for profile in state.profiles:
        if driver.ensure_profile(profile.name, profile.rate_limit, profile.shared_users) != (
            "unchanged"
        ):
            report.profiles_changed.append(profile.name)
    on_router = {user.name: user for user in driver.list_users()}
    wanted = {user.name: user for user in state.users}
    for want in state.users:
        have = on_router.get(want.name)
        _read_usage(have, want, report)
        if have is not None and _matches(have, want):
            report.unchanged += 1
            continue
        if have is None:
            report.missing.append(want.name)
        elif _needs_counter_reset(have, want):
            driver.reset_counters(want.name)
            report.counters_reset.append(want.name)
        # Known missing: add in one command (add_user falls back to ensure_user
        # itself if the user turns out to exist).
        write = driver.add_user if have is None else driver.ensure_user
        result = write(
            want.name,
            want.password,
            want.profile,
            limit_uptime=want.limit_uptime,
            limit_bytes_total=want.limit_bytes_total,
            comment=want.comment,
            disabled=want.disabled,
            server=want.server,
        )
        if result == "added":
            report.added.append(want.name)
        elif result == "updated":
            report.updated.append(want.name)
        else:
            report.unchanged += 1
    for name, have in on_router.items():
        if name in wanted:
            continue
        if parse_comment(have.comment) is None:
            report.unmanaged.append(name)
            continue
        if name not in state.remove:
            report.unknown_managed.append(name)
        if prune or name in state.remove:
            driver.kick(name)
            driver.remove_user(name)
            report.removed.append(name)
    active = driver.list_active()
    off = {user.name for user in state.users if user.disabled}
    for name in sorted({session.user for session in active if session.user in off}):
        driver.kick(name)
        report.kicked.append(name)
    return [session for session in active if session.user not in off]


def _first_uses(
    state: DesiredState, active: Iterable[ActiveSession], now: datetime
) -> dict[int, datetime]:
    """Vouchers online for the first time, with when they logged in."""
    unused = {user.name: user.login_id for user in state.users if user.voucher_unused}
    first: dict[int, datetime] = {}
    for session in active:
        login_id = unused.get(session.user)
        if login_id is not None:
            started = now - timedelta(seconds=session.uptime_seconds)
            first[login_id] = min(first.get(login_id, started), started)
    return first


def _starts(
    held: list[DesiredUser], active: Iterable[ActiveSession], mode: str, now: datetime
) -> list[tuple[DesiredUser, datetime]]:
    """The waiting packages this pass starts, with their start: all those the router now
    holds, or in "first_login" mode those whose user is online (from their login)."""
    waiting = [user for user in held if user.awaits_start]
    if mode != "first_login":
        return [(user, now) for user in waiting]
    logged_in: dict[str, datetime] = {}
    for session in active:
        started = now - timedelta(seconds=session.uptime_seconds)
        logged_in[session.user] = min(logged_in.get(session.user, started), started)
    return [(user, logged_in[user.name]) for user in waiting if user.name in logged_in]


def sync_router(
    db: Database,
    router_id: int,
    keyring: RouterKeyring,
    *,
    now: datetime | None = None,
    prune: bool = False,
    timeout: float = 5.0,
    driver_factory: DriverFactory = default_driver,
    drivers: dict[int, tuple[tuple, RouterDriver]] | None = None,
) -> RouterReport:
    """One pass on one router. Never raises for a router problem: the report says it,
    and the router row keeps the error for the admin."""
    moment = now or utcnow()
    started = time.monotonic()
    with db.transaction() as session:
        router = session.get(Router, router_id)
        if router is None:
            raise ValueError(f"router {router_id} does not exist")
        report = RouterReport(router_id=router.id, router=router.name)
        try:
            access = access_for(router, keyring)
        except CredentialError as error:
            access, report.error = None, str(error)
        state = desired_state(session, router.id, moment)
    active: list[ActiveSession] = []
    if access is not None:
        driver = _driver_for(access, timeout, driver_factory, drivers)
        try:
            active = apply_state(driver, state, report, prune=prune)
            report.ok = True
        except RouterError as error:
            report.error = error.message
            LOGGER.warning("router %s: %s", report.router, error.message)
        finally:
            if drivers is None:
                driver.close()
    first_uses = _first_uses(state, active, moment) if report.ok else {}
    names = {user.login_id: user.name for user in state.users}
    held = [u for u in state.users if not u.disabled] if report.ok else []

    def record(session: Session) -> None:
        record_contact(
            session,
            router_id,
            ok=report.ok,
            error=report.error,
            at=moment,
            online_users=len(active) if report.ok else None,
        )
        for login_id, used_at in first_uses.items():
            if record_voucher_use(session, login_id, used_at, now=moment) is not None:
                report.vouchers_first_used.append(names[login_id])
        mark_on_router(session, (u.subscription_id for u in held if u.first_on_router), moment)
        if report.ok:
            record_usage(session, router_id, report.usage, moment)
        for user, at in _starts(held, active, start_mode(session), moment):
            if start_subscription(session, user.subscription_id, at) is not None:
                report.started.append(user.name)

    db.run(record)
    report.seconds = time.monotonic() - started
    return report


def _driver_for(
    access: RouterAccess,
    timeout: float,
    factory: DriverFactory,
    drivers: dict[int, tuple[tuple, RouterDriver]] | None,
) -> RouterDriver:
    """A kept driver when the caller keeps them (the scheduler, so connections are
    reused between passes), rebuilt when the router's address or password changed."""
    if drivers is None:
        return factory(access, timeout)
    kept = drivers.get(access.router_id)
    if kept is not None and kept[0] == access.fingerprint():
        return kept[1]
    if kept is not None:
        kept[1].close()
    driver = factory(access, timeout)
    drivers[access.router_id] = (access.fingerprint(), driver)
    return driver


def _mark_provisioned(session: Session, ok_router_ids: set[int], now: datetime) -> None:
    """A subscription is provisioned once every router of its package took a pass
    that included it without error."""
    enabled = {r.id for r in list_routers(session, enabled_only=True)}
    package_routers_ = _routers_of_packages(session)
    pending = session.execute(
        select(Subscription).where(
            Subscription.provisioned_at.is_(None),
            Subscription.status == "active",
            Subscription.starts_at <= now,
            Subscription.created_at <= now,
        )
    ).scalars()
    for sub in pending:
        needed = package_routers_.get(sub.package_id, set()) & enabled
        if needed and needed <= ok_router_ids:
            sub.provisioned_at = now


def sync_all(
    db: Database,
    keyring: RouterKeyring,
    *,
    router_ids: Iterable[int] | None = None,
    now: datetime | None = None,
    prune: bool = False,
    timeout: float = 5.0,
    driver_factory: DriverFactory = default_driver,
    drivers: dict[int, tuple[tuple, RouterDriver]] | None = None,
    process_subscriptions: bool = True,
) -> SyncReport:
    """Renew or expire what is due (money first, in the database alone), then bring
    every enabled router (or those named) to the desired state, one after another."""
    moment = now or utcnow()
    due = db.run(lambda s: process_due(s, moment)) if process_subscriptions else None
    with db.transaction() as session:
        routers = [r.id for r in list_routers(session, enabled_only=router_ids is None)]
    if router_ids is not None:
        wanted = set(router_ids)
        routers = [r for r in routers if r in wanted]
    reports = [
        sync_router(
            db,
            router_id,
            keyring,
            now=moment,
            prune=prune,
            timeout=timeout,
            driver_factory=driver_factory,
            drivers=drivers,
        )
        for router_id in routers
    ]
    ok = {report.router_id for report in reports if report.ok}
    if ok:
        db.run(lambda s: _mark_provisioned(s, ok, moment))
    return SyncReport(due, reports)


class HotspotScheduler:
    """The loop `pulsa serve` runs: a pass every `interval` seconds, drivers (and their
    connections) kept between passes. A router that was down is simply tried again on
    the next pass. Owned by its caller; nothing global."""

    def __init__(
        self,
        db: Database,
        keyring: RouterKeyring,
        *,
        interval: float = 60.0,
        timeout: float = 5.0,
        driver_factory: DriverFactory = default_driver,
    ) -> None:
        self.db = db
        self.keyring = keyring
        self.interval = interval
        self.timeout = timeout
        self.driver_factory = driver_factory
        self._drivers: dict[int, tuple[tuple, RouterDriver]] = {}
        self.last_report: SyncReport | None = None

    def run_once(self, now: datetime | None = None) -> SyncReport:
        self.last_report = sync_all(
            self.db,
            self.keyring,
            now=now,
            timeout=self.timeout,
            driver_factory=self.driver_factory,
            drivers=self._drivers,
        )
        return self.last_report

    def run_forever(self, stop: threading.Event) -> None:
        """Pass after pass until `stop` is set; a failing pass is logged, never fatal."""
        try:
            while not stop.is_set():
                try:
                    self.run_once()
                except Exception:  # the loop must survive a database hiccup
                    LOGGER.exception("hotspot sync pass failed")
                stop.wait(self.interval)
        finally:
            self.close()

    def close(self) -> None:
        for _, driver in self._drivers.values():
            driver.close()
        self._drivers.clear()
