"""Who may see what: the screens registry, the access guard and the signed-in staff member.

Every route declares its access with one decorator (`@view`, `@change`, `@signed_in`,
`@public`, `@allowed(PERMISSION)`). A guard runs before every request and refuses any
route that declares nothing, so a forgotten decorator fails closed (403), never open. The
permission of a route is the name of its screen, which is the name of its blueprint; a
request that is not GET or HEAD always needs "change", whatever the route says, so a form
cannot do what the page that shows it cannot. A job that is granted apart from its
screen (top up, adjust, transfer, change a credit limit, see revenue) is a `Permission`:
its routes need exactly it (`@allowed`), GET and POST alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, abort, current_app, g, redirect, request, url_for
from flask_login import AnonymousUserMixin, LoginManager, UserMixin, current_user

from wallet.db import Database
from wallet.staff import Principal, principal_for_session

F = TypeVar("F", bound=Callable)

PUBLIC, SIGNED_IN, VIEW, CHANGE = "public", "signed_in", "view", "change"
PERMISSION = "permission"
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Screen:
    """One screen of the admin: a blueprint of the same name, a nav entry, a permission.

    `name` is the permission name stored in roles ("customers"), `label` the nav text
    (a lazy translation), `endpoint` where the nav entry goes. `superuser_only` screens
    (staff, audit log) are never granted by a role.
    """

    name: str
    label: object
    endpoint: str
    order: int = 100
    superuser_only: bool = False
    description: object = ""
    #: A `Permission` also needed to open the screen at all (reports: "revenue").
    requires: str | None = None


@dataclass(frozen=True)
class Permission:
    """One job granted apart from the screens' view/change, stored in roles under its
    name like a screen's. A screen module lists its own in `PERMISSIONS`; the role
    editor shows each with its one-line `description`."""

    name: str
    label: object
    description: object
    order: int = 100


def _mark(level: str) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        function.access_level = level  # type: ignore[attr-defined]
        return function

    return decorate


public = _mark(PUBLIC)  # no sign-in needed (sign-in page, health check)
signed_in = _mark(SIGNED_IN)  # any signed-in staff member (own profile, sign-out)
view = _mark(VIEW)  # the screen's "view" permission
change = _mark(CHANGE)  # the screen's "change" permission


def allowed(permission: str) -> Callable[[F], F]:
    """The route needs `permission` (a `Permission`'s name), whatever the method."""

    def decorate(function: F) -> F:
        function.access_level = PERMISSION  # type: ignore[attr-defined]
        function.permission = permission  # type: ignore[attr-defined]
        return function

    return decorate


class StaffMember(UserMixin):
    """Flask-Login's user: the principal and the token of its server-side session
    (wallet.web_sessions), which is what the cookie carries as the "user id". Signing
    out, a password change or a disabled account delete that session on the server, so
    a copy of the cookie opens nothing afterwards."""

    def __init__(self, principal: Principal, session_token: str) -> None:
        self.principal = principal
        self.session_token = session_token

    def get_id(self) -> str:
        return self.session_token

    def can(self, screen: str, level: str = VIEW) -> bool:
        registry = current_app.extensions["pulsa.screens"]
        spec = registry.get(screen)
        if spec is not None and spec.superuser_only:
            return self.principal.is_superuser
        if spec is not None and spec.requires and not self.may(spec.requires):
            return False
        return self.principal.can(screen, level)

    def may(self, permission: str) -> bool:
        """Whether a role grants the job `permission` (super admins: every one)."""
        return self.principal.can(permission, VIEW)

    @property
    def username(self) -> str:
        return self.principal.username

    @property
    def is_superuser(self) -> bool:
        return self.principal.is_superuser


class Anonymous(AnonymousUserMixin):
    def can(self, screen: str, level: str = VIEW) -> bool:
        return False

    def may(self, permission: str) -> bool:
        return False


def database() -> Database:
    return current_app.extensions["pulsa.db"]


def actor() -> str:
    """The name written in ledger entries and the audit log for the current request."""
    return f"web:{current_user.username}"


def client_address() -> str:
    """Who is asking: the peer, which behind the proxy of PULSA_TRUSTED_PROXY is the client
    that proxy names (pulsa.web_server believes it from that proxy only)."""
    return (request.remote_addr or "unknown")[:64]


def init_access(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "signin.sign_in"
    manager.login_message = None
    # Re-validated on every request from the database, so "strong" adds nothing but
    # sign-outs on a changing mobile address; the server-side session does the real work.
    manager.session_protection = "basic"
    manager.anonymous_user = Anonymous

    @manager.user_loader
    def load(token: str) -> StaffMember | None:
        with database().transaction() as session:
            principal = principal_for_session(session, token)
        return StaffMember(principal, token) if principal else None

    app.before_request(_guard)


def _guard():
    endpoint = request.endpoint
    if endpoint is None:
        return None  # 404 or 405: nothing is served
    if endpoint == "static":
        return None
    function = current_app.view_functions.get(endpoint)
    level = getattr(function, "access_level", None)
    if level is None:
        current_app.logger.error("route %s declares no access level: refused", endpoint)
        abort(403)
    if level == PUBLIC:
        return None
    if not current_user.is_authenticated:
        if request.method in _SAFE_METHODS:
            return redirect(url_for("signin.sign_in", next=request.full_path.rstrip("?")))
        abort(401)
    if level == SIGNED_IN:
        return None
    screen = request.blueprint or ""
    if level == PERMISSION:
        if not current_user.may(function.permission):
            abort(403)
        g.screen = screen
        return None
    if request.method not in _SAFE_METHODS:
        level = CHANGE
    if not current_user.can(screen, level):
        abort(403)
    g.screen = screen
    return None


def visible_screens() -> list[Screen]:
    """The screens the current staff member may open, in nav order."""
    screens = current_app.extensions["pulsa.screens"].values()
    return sorted(
        (s for s in screens if current_user.can(s.name, VIEW)), key=lambda s: (s.order, s.name)
    )
