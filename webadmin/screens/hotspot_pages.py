"""Hotspot pages: the branded login, status, logout and error pages to upload to each
router's hotspot/ folder, as one zip, and the walled-garden entries that let people
reach the registration page before they log in."""

from __future__ import annotations

import io
import ipaddress
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

from flask import Blueprint, Response, current_app, render_template, request
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
from webadmin.hotspot_ui import install
from webadmin.ui import site
from webcommon.forms import Form

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
    # No guess from the admin's own address: it is often 127.0.0.1 or a LAN name that the
    # phones behind the hotspot cannot reach; the page says to set PULSA_PORTAL_URL.
    return {
        "brand": settings.hotspot_brand_name,
        "portal_url": settings.portal_url,
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
    commands, url_problem, register_url, url_warning = [], None, "", None
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
            if _loopback(branding.portal_url):
                url_warning = _(
                    "%(url)s is this server as seen from itself: only this server reaches "
                    "it, not the phones on the hotspot. Use the address they reach it at, "
                    "and set it as PULSA_PORTAL_URL.",
                    url=branding.portal_url,
                )
    return render_template(
        "hotspot_pages/index.html",
        form=form,
        branding=branding,
        commands=commands,
        logo_problem=problem,
        url_problem=url_problem,
        url_warning=url_warning,
        register_url=register_url,
    )


def _loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
