"""The audience part of the forms that write to customers (Announcements, Broadcast):
all customers, a package's users or a router's users (messaging.audiences says who they
are), with the choices of package and router and the check that one was chosen."""

from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import SelectField

from wallet.hotspot_models import InternetPackage, Router
from webadmin.forms import options

PACKAGE_USERS = _l("Users of a package")
ROUTER_USERS = _l("Users of a router")


class AudienceFields:
    """Mixed into a form: `audience` (its labels given by the form), `package`, `router`."""

    package = SelectField(_l("Package"), choices=[])
    router = SelectField(_l("Router"), choices=[])


def with_choices(form, session):
    """The form with the packages and routers to choose from."""
    packages = session.execute(select(InternetPackage).order_by(InternetPackage.name)).scalars()
    routers = session.execute(select(Router).order_by(Router.name)).scalars()
    form.package.choices = options([("", "—")] + [(str(p.id), p.name) for p in packages])
    form.router.choices = options([("", "—")] + [(str(r.id), r.name) for r in routers])
    return form


def chosen(form) -> tuple[str, int | None, int | None] | None:
    """(audience, package id, router id) as the form chose them; None, with the error on
    the field, when the audience needs a package or a router and none was chosen."""
    audience = form.audience.data
    target = target_field(form)
    value = target.data if target is not None else ""
    if target is not None and not value:
        target.errors.append(_("Choose one."))
        return None
    return (
        audience,
        int(value) if audience == "package" else None,
        int(value) if audience == "router" else None,
    )


def target_field(form):
    """The field naming the package or router of the chosen audience (None for all)."""
    return {"package": form.package, "router": form.router}.get(form.audience.data)
