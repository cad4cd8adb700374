"""Routers: the MikroTik routers pulsa provisions. Register and edit them (the API
password is stored encrypted and never shown back), test the connection, see a router's
identity, version, load, memory, uptime, interfaces with their traffic and who is
online, and run a sync now with its drift report."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from hotspot.backoffice import read_router_page, staff_add_router, staff_update_router
from hotspot.credentials import CredentialError
from hotspot.driver import RouterAuthError, RouterError, RouterUnreachable
from hotspot.reconciler import sync_all
from hotspot.routers import access_for, default_driver, routers_query
from wallet import permissions
from wallet.errors import WalletError
from wallet.hotspot_models import Router
from webadmin.access import Screen, actor, change, client_address, database, view
from webadmin.forms import WholeNumberField
from webadmin.hotspot_ui import install, keyring, router_problem, router_timeout
from webadmin.ui import paginate
from webcommon.forms import Form

blueprint = Blueprint("routers", __name__, url_prefix="/routers")
blueprint.record_once(install)
SCREEN = Screen(
    permissions.ROUTERS,
    _l("Routers"),
    "routers.index",
    order=70,
    description=_l("MikroTik routers: status, connection test, sync and drift"),
)
SHOWN_NAMES = 200  # names per line of a drift report; the rest is counted


class RouterForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=80)])
    host = StringField(_l("Address"), validators=[DataRequired(), Length(max=255)])
    port = WholeNumberField(_l("API port"), validators=[Optional(), NumberRange(min=1, max=65535)])
    tls = BooleanField(_l("Use TLS (api-ssl)"))
    tls_verify = BooleanField(_l("Check the router's TLS certificate"), default=True)
    username = StringField(_l("API user name"), validators=[DataRequired(), Length(max=100)])
    password = PasswordField(_l("API password"), validators=[Optional(), Length(max=200)])
    hotspot_server = StringField(
        _l("Hotspot server"), default="all", validators=[Optional(), Length(max=80)]
    )
    login_url = StringField(_l("Hotspot login URL"), validators=[Optional(), Length(max=255)])
    enabled = BooleanField(_l("Enabled (synced by pulsa)"), default=True)


def _router(session, router_id: int) -> Router:
    router = session.get(Router, router_id)
    if router is None:
        abort(404)
    return router


def _no_key_message() -> str:
    return _(
        "Router passwords are stored encrypted with the key in PULSA_ROUTER_KEY, which is "
        "not set (or not a valid key). On the server, run `pulsa router keygen`, add the "
        "line PULSA_ROUTER_KEY=<the key it prints> to the file PULSA_CONFIG names (or to "
        "the environment pulsa starts with) and restart pulsa."
    )


@blueprint.get("/")
@view
def index():
    with database().transaction() as session:
        page = paginate(session, routers_query())
        return render_template("routers/index.html", page=page, key_missing=keyring() is None)


@blueprint.route("/new", methods=["GET", "POST"])
@change
def create():
    ring = keyring()
    form = RouterForm()
    del form.enabled
    if ring is None:
        flash(_no_key_message(), "error")
    elif form.validate_on_submit():
        if not form.password.data:
            form.password.errors.append(_("Enter the API password."))
        else:
            try:
                router_id = database().run(
                    lambda s: (
                        staff_add_router(
                            s,
                            ring,
                            name=form.name.data,
                            host=form.host.data,
                            username=form.username.data,
                            password=form.password.data,
                            port=form.port.data,
                            tls=form.tls.data,
                            tls_verify=form.tls_verify.data,
                            hotspot_server=form.hotspot_server.data,
                            login_url=form.login_url.data,
                            actor=actor(),
                            address=client_address(),
                        ).id
                    )
                )
            except WalletError as error:
                form.name.errors.append(str(error))
            else:
                flash(_("Router saved. Test its connection below."), "success")
                return redirect(url_for("routers.detail", router_id=router_id))
    return render_template("routers/form.html", form=form, router=None)


@blueprint.route("/<int:router_id>/edit", methods=["GET", "POST"])
@change
def edit(router_id: int):
    ring = keyring()
    with database().transaction() as session:
        router = _router(session, router_id)
        initial = {
            "name": router.name,
            "host": router.host,
            "port": router.api_port,
            "tls": router.use_tls,
            "tls_verify": router.tls_verify,
            "username": router.username,
            "hotspot_server": router.hotspot_server,
            "login_url": router.login_url or "",
            "enabled": router.enabled,
        }
    form = RouterForm(data=initial) if request.method == "GET" else RouterForm()
    if ring is None:
        flash(_no_key_message(), "error")
    elif form.validate_on_submit():
        try:
            database().run(
                lambda s: staff_update_router(
                    s,
                    ring,
                    router_id,
                    name=form.name.data,
                    host=form.host.data,
                    username=form.username.data,
                    password=form.password.data or None,
                    port=form.port.data,
                    tls=form.tls.data,
                    tls_verify=form.tls_verify.data,
                    hotspot_server=form.hotspot_server.data,
                    login_url=form.login_url.data,
                    enabled=form.enabled.data,
                    actor=actor(),
                    address=client_address(),
                )
            )
        except WalletError as error:
            form.name.errors.append(str(error))
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("routers.detail", router_id=router_id))
    return render_template("routers/form.html", form=form, router=router)


def _talk(router_id: int, work):
    """Open a connection to a router (no transaction held meanwhile), run `work` on
    the driver; returns (router, result, problem message)."""
    ring = keyring()
    with database().transaction() as session:
        router = _router(session, router_id)
        where = f"{router.host}:{router.api_port}"
        if ring is None:
            return router, None, _no_key_message()
        try:
            access = access_for(router, ring)
        except CredentialError as error:
            return router, None, router_problem(router.name, where, error)
    driver = default_driver(access, router_timeout())
    try:
        return router, work(driver), None
    except RouterError as error:
        return router, None, router_problem(router.name, where, error)
    finally:
        driver.close()


@blueprint.get("/<int:router_id>")
@view
def detail(router_id: int):
    sample = float(current_app.config.get("PULSA_ROUTER_TRAFFIC_SAMPLE_SECONDS", 1.0))
    router, live, problem = _talk(router_id, lambda driver: read_router_page(driver, sample))
    view_, traffic = live if live is not None else (None, [])
    return render_template(
        "routers/detail.html", router=router, live=view_, traffic=traffic, problem=problem
    )


@blueprint.post("/<int:router_id>/test")
@change
def test(router_id: int):
    router, status, problem = _talk(router_id, lambda driver: driver.status())
    if problem is not None:
        flash(problem, "error")
    else:
        flash(
            _(
                "Connected to %(name)s: %(identity)s, RouterOS %(version)s on %(board)s.",
                name=router.name,
                identity=status.identity,
                version=status.version,
                board=status.board_name,
            ),
            "success",
        )
    return redirect(url_for("routers.index"))


def _sync_error(text: str) -> Exception:
    """The reconciler reports a failure as text; read back which kind it was."""
    if "unreachable" in text or "did not answer" in text or "dropped the connection" in text:
        return RouterUnreachable(text)
    if text.startswith("login to"):
        return RouterAuthError(text)
    if "PULSA_ROUTER_KEY" in text:
        return CredentialError(text)
    return RouterError(text)


@blueprint.post("/<int:router_id>/sync")
@change
def sync(router_id: int):
    ring = keyring()
    with database().transaction() as session:
        router = _router(session, router_id)
    if ring is None:
        flash(_no_key_message(), "error")
        return redirect(url_for("routers.index"))
    if not router.enabled:
        flash(_("This router is disabled: enable it to sync it."), "error")
        return redirect(url_for("routers.index"))
    prune = request.form.get("prune") == "1"
    result = sync_all(
        database(), ring, router_ids=[router.id], prune=prune, timeout=router_timeout()
    )
    report = result.routers[0] if result.routers else None
    problem = None
    if report is not None and not report.ok:
        problem = router_problem(
            router.name, f"{router.host}:{router.api_port}", _sync_error(report.error or "")
        )
    return render_template(
        "routers/sync.html",
        router=router,
        report=report,
        due=result.due,
        prune=prune,
        problem=problem,
        shown=SHOWN_NAMES,
    )
