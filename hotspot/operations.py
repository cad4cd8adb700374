"""What staff do to routers from wherever they are (the staff chat, a script): read a
router's state, ping from it, kick a hotspot user off. Each talks to the routers with no
database transaction held, and each action (not the reads) is written to the audit log
under its actor, like the admin's.

Enabling and disabling a login is `hotspot.backoffice.staff_set_login_status` (the
database is the source of truth; the reconciler applies it on the routers); kicking
is done here and now, because a session that is running is only on the router.
"""

from __future__ import annotations

import ipaddress
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from hotspot.credentials import CredentialError, RouterKeyring
from hotspot.driver import (
    MAX_PING_COUNT,
    PingResult,
    RouterError,
    RouterStatus,
)
from hotspot.routers import DriverFactory, access_for, default_driver, get_router, list_routers
from wallet.db import Database
from wallet.errors import InvalidInput
from wallet.internet import get_login
from wallet.staff import record_audit

#: Echoes a staff member may ask a ping for: each takes a second on the router, and a
#: chat answer should not wait long.
MAX_STAFF_PING_COUNT = min(10, MAX_PING_COUNT)
#: Between a staff ping's echoes (RouterOS waits 1 s by default): 4 echoes in under a
#: second, so that the chat's answer does not wait for long.
STAFF_PING_INTERVAL_MS = 200
#: Routers read at once by `routers_report` (each holds a connection and a thread).
MAX_PARALLEL_ROUTERS = 8
_HOST_NAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*",
    re.ASCII,
)


@dataclass(frozen=True)
class RouterReport:
    """A router as read just now: up with its status and who is online, or down with
    the reason (RouterOS's or the network's words)."""

    router_id: int
    name: str
    up: bool
    status: RouterStatus | None = None
    online_users: int | None = None
    problem: str | None = None


def _no_key() -> str:
    return "PULSA_ROUTER_KEY is not set: router passwords cannot be read"


def _talk(
    db: Database,
    keyring: RouterKeyring | None,
    router_id: int,
    work,
    *,
    timeout: float,
    driver_factory: DriverFactory,
):
    """(router name, result of `work(driver)`); raises RouterError when the router
    cannot be reached or refuses, NotFound when there is no such router."""
    with db.transaction() as session:
        router = get_router(session, router_id)
        name = router.name
        if keyring is None:
            raise RouterError(_no_key())
        try:
            access = access_for(router, keyring)
        except CredentialError as error:
            raise RouterError(str(error)) from None
    driver = driver_factory(access, timeout)
    try:
        return name, work(driver)
    finally:
        driver.close()


def router_report(
    db: Database,
    keyring: RouterKeyring | None,
    router_id: int,
    *,
    timeout: float = 5.0,
    driver_factory: DriverFactory = default_driver,
) -> RouterReport:
    """Read one router now: up (identity, load, memory, uptime, users online) or down."""

    def read(driver):
        return driver.status(), len(driver.list_active())

    try:
        name, (status, online) = _talk(
            db, keyring, router_id, read, timeout=timeout, driver_factory=driver_factory
        )
    except RouterError as error:
        with db.transaction() as session:
            name = get_router(session, router_id).name
        return RouterReport(router_id, name, up=False, problem=error.message)
    return RouterReport(router_id, name, up=True, status=status, online_users=online)


def routers_report(
    db: Database,
    keyring: RouterKeyring | None,
    *,
    timeout: float = 5.0,
    driver_factory: DriverFactory = default_driver,
) -> list[RouterReport]:
    """Every enabled router, read now, by name; at the same time, so that the answer
    takes as long as the slowest router, not their sum."""
    with db.transaction() as session:
        ids = [router.id for router in list_routers(session, enabled_only=True)]
    if not ids:
        return []
    with ThreadPoolExecutor(min(len(ids), MAX_PARALLEL_ROUTERS)) as pool:
        return list(
            pool.map(
                lambda rid: router_report(
                    db, keyring, rid, timeout=timeout, driver_factory=driver_factory
                ),
                ids,
            )
        )


def check_ping_target(address: str) -> str:
    """An IP address or a host name a router may ping, as typed (trimmed)."""
    text = (address or "").strip()
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if not _HOST_NAME.fullmatch(text):
        raise InvalidInput(f"not an address or host name: {text[:60]!r}")
    return text.lower()


def staff_ping(
    db: Database,
    keyring: RouterKeyring | None,
    router_id: int,
    address: str,
    *,
    count: int = 4,
    actor: str,
    timeout: float = 5.0,
    driver_factory: DriverFactory = default_driver,
) -> PingResult:
    """Ping `address` from a router, `count` echoes (1 to MAX_STAFF_PING_COUNT);
    audited as `router.ping` with what came back. An unreachable router raises
    RouterError (audited too: somebody tried)."""
    target = check_ping_target(address)
    if not 1 <= count <= MAX_STAFF_PING_COUNT:
        raise InvalidInput(f"a ping sends 1 to {MAX_STAFF_PING_COUNT} echoes")
    # Each echo waits up to a second on the router before the next row comes.
    wait = max(timeout, 2.0)
    try:
        name, result = _talk(
            db,
            keyring,
            router_id,
            lambda driver: driver.ping(target, count, STAFF_PING_INTERVAL_MS),
            timeout=wait,
            driver_factory=driver_factory,
        )
    except RouterError as error:
        problem = error.message[:200]
        db.run(
            lambda s: record_audit(
                s,
                actor,
                "router.ping",
                f"router {get_router(s, router_id).name}",
                after={"address": target, "count": count, "error": problem},
            )
        )
        raise
    db.run(
        lambda s: record_audit(
            s,
            actor,
            "router.ping",
            f"router {name}",
            after={
                "address": target,
                "count": count,
                "sent": result.sent,
                "received": result.received,
                "avg_rtt_us": result.avg_rtt_us,
            },
        )
    )
    return result


@dataclass(frozen=True)
class KickOutcome:
    """Sessions ended per router reached, and the routers that could not be reached."""

    username: str
    kicked: dict[str, int]
    unreachable: dict[str, str]

    @property
    def total(self) -> int:
        return sum(self.kicked.values())


def staff_kick_login(
    db: Database,
    keyring: RouterKeyring | None,
    login_id: int,
    *,
    actor: str,
    timeout: float = 5.0,
    driver_factory: DriverFactory = default_driver,
) -> KickOutcome:
    """End the running sessions of a hotspot login on every enabled router now (the
    login may log in again unless it is disabled too); audited as `hotspot_login.kick`."""
    with db.transaction() as session:
        username = get_login(session, login_id).username
        ids = [router.id for router in list_routers(session, enabled_only=True)]
    kicked: dict[str, int] = {}
    unreachable: dict[str, str] = {}
    for router_id in ids:
        try:
            name, count = _talk(
                db,
                keyring,
                router_id,
                lambda driver: driver.kick(username),
                timeout=timeout,
                driver_factory=driver_factory,
            )
        except RouterError as error:
            with db.transaction() as session:
                unreachable[get_router(session, router_id).name] = error.message
            continue
        kicked[name] = count
    db.run(
        lambda s: record_audit(
            s,
            actor,
            "hotspot_login.kick",
            f"hotspot login {username}",
            after={"kicked": kicked, "unreachable": sorted(unreachable)},
        )
    )
    return KickOutcome(username, kicked, unreachable)
