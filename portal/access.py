"""Who is signed in to the portal, and the rule that a customer reaches only their own
rows.

Every route declares its access with `@customer` (a signed-in customer) or `@public`
(sign-in, first access, health check); a guard before every request refuses a route
that declares nothing, so a forgotten decorator fails closed.

Every query of a customer's data starts from `mine()`: the signed-in customer's ids,
never an id taken from the URL or a form on its own. A row that is not theirs is
"not found" (404), never "forbidden", so that ids tell nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from flask import Flask, abort, current_app, redirect, request, url_for
from flask_login import AnonymousUserMixin, LoginManager, UserMixin, current_user
from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.actors import Actor as MessagingActor
from messaging.conversations import get_conversation
from messaging.models import Conversation
from wallet.customer_access import CustomerPrincipal, customer_actor, principal_for_session
from wallet.db import Database
from wallet.errors import NotFound
from wallet.hotspot_models import HotspotLogin, Subscription
from wallet.models import Account, Customer
from wallet.payments import PaymentRequest

F = TypeVar("F", bound=Callable)
PUBLIC, CUSTOMER = "public", "customer"
LOCALES = ("en", "id")


def _mark(level: str) -> Callable[[F], F]:
    def decorate(function: F) -> F:
        function.access_level = level  # type: ignore[attr-defined]
        return function

    return decorate


public = _mark(PUBLIC)
customer = _mark(CUSTOMER)


@dataclass(frozen=True)
class MenuEntry:
    """A page's entry in the portal's menu."""

    order: int
    label: object  # a lazy translation
    endpoint: str


class SignedInCustomer(UserMixin):
    """Flask-Login's user: the principal and the token of its server-side session
    (wallet.web_sessions, realm customer), which is what the cookie carries as the "user
    id". A staff session's token is of another realm and opens nothing here."""

    def __init__(self, principal: CustomerPrincipal, session_token: str) -> None:
        self.principal = principal
        self.session_token = session_token

    def get_id(self) -> str:
        return self.session_token

    @property
    def name(self) -> str:
        return self.principal.name


def database() -> Database:
    return current_app.extensions["pulsa.db"]


def settings():
    """pulsa's settings with the operator's choices in the admin applied (country code,
    currency, time zone...), read once per request."""
    from flask import g

    if "settings_in_effect" not in g:
        from portal.ui import site
        from wallet.site_settings import settings_with

        g.settings_in_effect = settings_with(site(), current_app.extensions["pulsa.settings"])
    return g.settings_in_effect


def me() -> CustomerPrincipal:
    """The signed-in customer (only on `@customer` routes)."""
    return current_user.principal


def actor() -> str:
    """The actor of this request's changes: the customer, through the portal."""
    return customer_actor(me().customer_id)


def client_address() -> str:
    """The customer's address for throttling and the audit log. Behind a proxy, the
    trusted-proxy wrapper in front of the app has already put the real one here."""
    return (request.remote_addr or "unknown")[:64]


class Mine:
    """The signed-in customer's rows, in one database session. Each getter takes an id
    from the request and answers 404 unless the row is this customer's."""

    def __init__(self, session: Session, principal: CustomerPrincipal) -> None:
        self.session = session
        self.customer_id = principal.customer_id
        self.account_id = principal.account_id

    def customer(self) -> Customer:
        return self.session.get(Customer, self.customer_id)

    def account(self) -> Account:
        return self.session.get(Account, self.account_id)

    def logins_query(self):
        return (
            select(HotspotLogin)
            .where(HotspotLogin.customer_id == self.customer_id, HotspotLogin.kind == "customer")
            .order_by(HotspotLogin.id)
        )

    def logins(self) -> list[HotspotLogin]:
        return list(self.session.execute(self.logins_query()).scalars())

    def login(self, login_id: int) -> HotspotLogin:
        found = self.session.execute(
            self.logins_query().where(HotspotLogin.id == login_id)
        ).scalar_one_or_none()
        if found is None:
            abort(404)
        return found

    def subscription(self, subscription_id: int) -> Subscription:
        found = self.session.execute(
            select(Subscription)
            .join(HotspotLogin, HotspotLogin.id == Subscription.login_id)
            .where(
                Subscription.id == subscription_id,
                HotspotLogin.customer_id == self.customer_id,
            )
        ).scalar_one_or_none()
        if found is None:
            abort(404)
        return found

    def payment_request(self, request_id: int) -> PaymentRequest:
        found = self.session.execute(
            select(PaymentRequest).where(
                PaymentRequest.id == request_id, PaymentRequest.account_id == self.account_id
            )
        ).scalar_one_or_none()
        if found is None:
            abort(404)
        return found

    def conversation(self, conversation_id: int) -> Conversation:
        try:
            return get_conversation(
                self.session, MessagingActor.customer(self.customer_id), conversation_id
            )
        except NotFound:
            abort(404)


@contextmanager
def mine() -> Iterator[Mine]:
    """A read transaction over the signed-in customer's rows: `with mine() as my: ...`."""
    with database().transaction() as session:
        yield Mine(session, me())


def run_as_me(work: Callable[[Mine], object]):
    """A write transaction (retried on deadlock) over the signed-in customer's rows."""
    principal = me()
    return database().run(lambda session: work(Mine(session, principal)))


def init_access(app: Flask) -> None:
    manager = LoginManager(app)
    manager.login_view = "signin.sign_in"
    manager.login_message = None
    manager.session_protection = "basic"
    manager.anonymous_user = AnonymousUserMixin

    @manager.user_loader
    def load(token: str) -> SignedInCustomer | None:
        # One transaction for what every page of a signed-in customer reads first: who
        # they are, and whatever the request reads registered (the operator's settings,
        # unread replies...), instead of one transaction each (bench/portal.py).
        with database().transaction() as session:
            principal = principal_for_session(session, token)
            if principal is not None:
                for read in current_app.extensions["pulsa.portal_request_reads"]:
                    read(session, principal)
        return SignedInCustomer(principal, token) if principal else None

    app.before_request(_guard)


def _guard():
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static":
        return None
    function = current_app.view_functions.get(endpoint)
    level = getattr(function, "access_level", None)
    if level is None:
        current_app.logger.error("portal route %s declares no access level: refused", endpoint)
        abort(403)
    if level == PUBLIC or current_user.is_authenticated:
        return None
    if request.method in ("GET", "HEAD"):
        return redirect(url_for("signin.sign_in", next=request.full_path.rstrip("?")))
    abort(401)
