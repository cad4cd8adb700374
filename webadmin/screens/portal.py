"""The old addresses of the registration page, which moved into the customer portal
(portal/pages/register.py): `/portal/register` is printed on hotspot login pages and
vouchers and sits in walled gardens, so it keeps working by sending its visitors to the
portal's address (PULSA_PORTAL_URL, else where `pulsa portal` listens)."""

from __future__ import annotations

from flask import Blueprint, current_app, redirect, request

from webadmin.access import public

blueprint = Blueprint("portal", __name__, url_prefix="/portal")
SCREEN = None  # public pages: no nav entry, no permission


def _to_portal(path: str):
    address = current_app.extensions["pulsa.settings"].portal_address
    query = request.query_string.decode("ascii", "replace")
    return redirect(f"{address}{path}" + (f"?{query}" if query else ""), code=301)


@blueprint.get("/")
@public
def index():
    return _to_portal("/register/")


@blueprint.get("/register")
@public
def register():
    return _to_portal("/register/")


@blueprint.get("/register/<token>")
@public
def registered(token: str):
    return _to_portal(f"/register/{token}")


@blueprint.get("/help")
@public
def help():
    return _to_portal("/register/help")
