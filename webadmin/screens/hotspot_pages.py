"""Hotspot pages: the branded login, status, logout and error pages to upload to each
router's hotspot/ folder, as one zip, and the walled-garden entries that let people
reach the registration page before they log in."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, StringField
from wtforms.validators import Length, Optional

from hotspot.pages import (
    Branding,
    PortalUrlError,
    check_portal_url,
    load_logo,
    render_bundle,
    walled_garden_commands,
)
from webadmin.access import Screen, view
from webadmin.forms import Form
from webadmin.hotspot_ui import install
from webadmin.ui import site

blueprint = Blueprint("hotspot_pages", __name__, url_prefix="/hotspot-pages")
blueprint.record_once(install)
SCREEN = Screen(
    "hotspot_pages",
    _l("Hotspot pages"),
    "hotspot_pages.index",
    order=80,
    description=_l("Login pages for the routers and the walled garden"),
)


class BrandingForm(Form):
    class Meta:
        csrf = False  # a GET form that changes nothing

    brand = StringField(_l("Name on the pages"), validators=[Optional(), Length(max=100)])
    portal_url = StringField(_l("Portal address"), validators=[Optional(), Length(max=255)])
    color = StringField(_l("Accent colour"), validators=[Optional(), Length(max=7)])
    logo = BooleanField(_l("Put the operator's logo on the pages"))


def _defaults() -> dict:
    settings = current_app.extensions["pulsa.settings"]
    portal = settings.portal_url or url_for("portal.index", _external=True).rstrip("/")
    return {
        "brand": settings.hotspot_brand_name,
        "portal_url": portal,
        "color": "#0b6e4f",
        "logo": bool(site().logo_path),
    }


def _branding(form: BrandingForm) -> tuple[Branding, str | None]:
    """The branding the form asks for, and a problem with the logo if it has one."""
    defaults = _defaults()
    logo, logo_type, problem = None, "image/png", None
    if form.logo.data and site().logo_path:
        path = Path(current_app.config["UPLOAD_FOLDER"]) / site().logo_path
        try:
            logo, logo_type = load_logo(path)
        except OSError:
            # Never the error itself: it names the server's folders.
            problem = _("The logo was left out: its file cannot be read.")
        except ValueError as error:
            problem = _("The logo was left out: %(error)s", error=str(error))
    branding = Branding(
        brand=(form.brand.data or "").strip() or defaults["brand"],
        portal_url=(form.portal_url.data or "").strip(),
        logo=logo,
        logo_type=logo_type,
        color=(form.color.data or "").strip() or defaults["color"],
    )
    return branding, problem


def _form() -> BrandingForm:
    if request.args:
        return BrandingForm(formdata=request.args)
    return BrandingForm(data=_defaults())


@blueprint.get("/")
@view
def index():
    form = _form()
    branding, problem = _branding(form)
    commands, url_problem, register_url = [], None, ""
    if branding.portal_url:
        try:
            commands = walled_garden_commands(branding.portal_url)
        except PortalUrlError:
            url_problem = _(
                "The portal address starts with http:// or https:// and has a host name or IP"
                " address, then at most a port and a path: %(url)s",
                url=branding.portal_url,
            )
            form.portal_url.errors = [*form.portal_url.errors, url_problem]
        else:
            register_url = check_portal_url(branding.portal_url) + "/register"
    return render_template(
        "hotspot_pages/index.html",
        form=form,
        branding=branding,
        commands=commands,
        logo_problem=problem,
        url_problem=url_problem,
        register_url=register_url,
    )


@blueprint.get("/hotspot-pages.zip")
@view
def bundle():
    form = _form()
    branding, _problem = _branding(form)
    try:
        files = render_bundle(branding)
    except PortalUrlError:  # the screen explains it; the pages go without portal links
        files = render_bundle(
            Branding(branding.brand, "", branding.logo, branding.logo_type, branding.color)
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(f"hotspot/{name}", content)
        archive.writestr(
            "hotspot/README.txt",
            "Upload the .html files to the router's hotspot/ folder (Files in Winbox), keeping"
            " the md5.js that is already there.\n"
            + (
                "Then let people reach the portal before they log in: upload"
                " walled-garden.rsc and run /import walled-garden.rsc in a terminal.\n"
                if "walled-garden.rsc" in files
                else ""
            ),
        )
    response = Response(buffer.getvalue(), mimetype="application/zip")
    response.headers["Content-Disposition"] = 'attachment; filename="hotspot-pages.zip"'
    return response
