"""The routers pulsa provisions: registering them, their drivers, their live status.

Router rows hold configuration only (no money); the API password is stored encrypted
(`hotspot.credentials`). A driver is built per use from a row: nothing here keeps a
connection beyond the caller's own lifetime.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from hotspot.credentials import RouterKeyring
from hotspot.driver import (
    API_PORT,
    API_SSL_PORT,
    ActiveSession,
    InterfaceInfo,
    RouterDriver,
    RouterError,
    RouterStatus,
)
from wallet.errors import InvalidInput, NotFound
from wallet.hotspot_models import Router
from wallet.ledger import utcnow
from wallet.text import check_optional_text, check_text


@dataclass(frozen=True)
class RouterAccess:
    """What it takes to open a connection, read out of a row while a session is open,
    so that the router is then talked to with no database transaction held."""

    router_id: int
    name: str
    host: str
    port: int
    tls: bool
    tls_verify: bool
    username: str
    password: str

    def fingerprint(self) -> tuple:
        return (self.host, self.port, self.tls, self.tls_verify, self.username, self.password)


DriverFactory = Callable[[RouterAccess, float], RouterDriver]


def default_driver(access: RouterAccess, timeout: float) -> RouterDriver:
    return RouterDriver(
        access.host,
        access.username,
        access.password,
        port=access.port,
        tls=access.tls,
        timeout=timeout,
        tls_verify=access.tls_verify,
    )


@dataclass(frozen=True)
class RouterFields:
    """A router's connection settings once checked, as they are stored."""

    name: str
    host: str
    username: str
    port: int
    login_url: str | None


def checked_router_fields(
    name: str | None,
    host: str | None,
    username: str | None,
    port: int | None,
    tls: bool,
    login_url: str | None,
) -> RouterFields:
    """The rules a router's settings follow, the same when it is added and when it is
    edited; the port defaults to the API's (plain or TLS)."""
    name, host = (name or "").strip(), (host or "").strip()
    username, login_url = (username or "").strip(), (login_url or "").strip() or None
    for text, what in ((name, "a name"), (host, "a host"), (username, "a user name")):
        check_text(text, what)
    check_optional_text(login_url, "a login URL")
    if not name or len(name) > 80:
        raise InvalidInput("a router needs a name of 1 to 80 characters")
    if not host or len(host) > 255 or any(c.isspace() for c in host):
        raise InvalidInput("a router needs a host name or address")
    if not username:
        raise InvalidInput("a router needs the API user name")
    port = port if port is not None else (API_SSL_PORT if tls else API_PORT)
    if not 1 <= port <= 65535:
        raise InvalidInput(f"not a TCP port: {port}")
    if login_url and not login_url.startswith(("http://", "https://")):
        raise InvalidInput("a login URL starts with http:// or https://")
    return RouterFields(name, host, username, port, login_url)


def add_router(
    session: Session,
    keyring: RouterKeyring,
    name: str,
    host: str,
    *,
    username: str,
    password: str,
    port: int | None = None,
    tls: bool = False,
    tls_verify: bool = True,
    hotspot_server: str = "all",
    login_url: str | None = None,
) -> Router:
    fields = checked_router_fields(name, host, username, port, tls, login_url)
    name = fields.name
    if session.execute(select(Router.id).where(Router.name == name)).first():
        raise InvalidInput(f"a router named {name!r} exists already")
    router = Router(
        name=name,
        host=fields.host,
        api_port=fields.port,
        use_tls=tls,
        tls_verify=tls_verify,
        username=fields.username,
        password_encrypted=keyring.encrypt(password),
        hotspot_server=(hotspot_server or "").strip() or "all",
        login_url=fields.login_url,
        enabled=True,
        created_at=utcnow(),
    )
    session.add(router)
    session.flush()
    return router


def get_router(session: Session, router: int | str) -> Router:
    """A router by id or by name."""
    if isinstance(router, int):
        found = session.get(Router, router)
    else:
        found = session.execute(select(Router).where(Router.name == router)).scalar_one_or_none()
    if found is None:
        raise NotFound(f"router {router!r} does not exist")
    return found


def routers_query(*, enabled_only: bool = False) -> Select:
    """The registered routers by name, as a statement a screen can page through."""
    statement = select(Router).order_by(Router.name, Router.id)
    if enabled_only:
        statement = statement.where(Router.enabled.is_(True))
    return statement


def list_routers(session: Session, *, enabled_only: bool = False) -> list[Router]:
    return list(session.execute(routers_query(enabled_only=enabled_only)).scalars())


def set_router_password(
    session: Session, keyring: RouterKeyring, router: int | str, password: str
) -> Router:
    found = get_router(session, router)
    found.password_encrypted = keyring.encrypt(password)
    session.flush()
    return found


def rekey_routers(session: Session, keyring: RouterKeyring) -> int:
    """Re-encrypt every stored password with the first key; returns how many."""
    routers = list_routers(session)
    for router in routers:
        router.password_encrypted = keyring.rotate(router.password_encrypted)
    session.flush()
    return len(routers)


def access_for(router: Router, keyring: RouterKeyring) -> RouterAccess:
    return RouterAccess(
        router_id=router.id,
        name=router.name,
        host=router.host,
        port=router.api_port,
        tls=router.use_tls,
        tls_verify=router.tls_verify,
        username=router.username,
        password=keyring.decrypt(router.password_encrypted),
    )


@dataclass(frozen=True)
class RouterLiveView:
    """Everything the router page shows, read in one connection."""

    status: RouterStatus
    interfaces: list[InterfaceInfo]
    active: list[ActiveSession]
    interface_error: str | None = None


def read_live_view(driver: RouterDriver) -> RouterLiveView:
    """Status, interfaces and active users. Interfaces are optional: a router whose API
    user may not read them still shows the rest."""
    status = driver.status()
    active = driver.list_active()
    try:
        interfaces, problem = driver.list_interfaces(), None
    except RouterError as error:
        interfaces, problem = [], error.message
    return RouterLiveView(status, interfaces, active, problem)


def record_contact(
    session: Session,
    router_id: int,
    *,
    ok: bool,
    error: str | None,
    at: datetime,
    online_users: int | None = None,
) -> None:
    router = session.get(Router, router_id)
    if router is None:  # removed while we talked to it
        return
    router.last_sync_at = at
    router.last_sync_ok = ok
    router.last_error = error
    if not ok and router.unreachable_since is None:
        router.unreachable_since = at
    if ok:
        router.unreachable_since = None
        router.last_contact_at = at
        if online_users is not None:
            router.online_users = online_users
    session.flush()
