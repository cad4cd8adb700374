"""Staff and roles (super admins only): accounts, who has which role, what each role may
view or change on each screen, and which jobs it may do (top up, adjust, transfer, change
credit limits, see revenue)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from wallet.errors import WalletError
from wallet.passwords import WeakPassword
from wallet.staff import MIN_PASSWORD_LENGTH, Role, StaffUser, create_staff, save_role, update_staff
from webadmin.access import Screen, actor, change, client_address, database, view
from webadmin.forms import options
from webadmin.passwords import weak_password_message
from webadmin.ui import paginate, site
from webcommon.forms import Form

PASSWORD_RULE = Length(
    min=MIN_PASSWORD_LENGTH, max=200, message=_l("A password needs at least %(min)d characters.")
)
blueprint = Blueprint("staff", __name__, url_prefix="/staff")
SCREEN = Screen(
    "staff",
    _l("Staff"),
    "staff.index",
    order=90,
    superuser_only=True,
    description=_l("Staff accounts and roles"),
)
LANGUAGES = [("en", "English"), ("id", "Bahasa Indonesia")]


class StaffForm(Form):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=60)])
    full_name = StringField(_l("Full name"), validators=[Optional(), Length(max=200)])
    role = SelectField(_l("Role"), choices=[])
    locale = SelectField(_l("Language"), choices=options(LANGUAGES))
    is_superuser = BooleanField(_l("Super admin (may do everything, manages staff)"))
    is_active = BooleanField(_l("Active"), default=True)
    password = PasswordField(
        _l("Password"),
        validators=[Optional(), PASSWORD_RULE],
    )


class RoleForm(Form):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=60)])
    description = StringField(_l("Description"), validators=[Optional(), Length(max=200)])


def _role_choices(session) -> list[tuple[str, str]]:
    names = session.execute(select(Role.name).order_by(Role.name)).scalars()
    return options([("", _("(no role)"))] + [(n, n) for n in names])


def _grantable_screens():
    screens = current_app.extensions["pulsa.screens"].values()
    return sorted((s for s in screens if not s.superuser_only), key=lambda s: s.order)


def _permissions():
    """The jobs granted apart from screens (top up, adjust, ...), in the editor's order."""
    permissions = current_app.extensions["pulsa.permissions"].values()
    return sorted(permissions, key=lambda p: (p.order, p.name))


@blueprint.get("/")
@view
def index():
    with database().transaction() as session:
        users = paginate(session, select(StaffUser).order_by(StaffUser.username))
        roles = paginate(session, select(Role).order_by(Role.name), arg="roles_page")
        return render_template(
            "staff/index.html",
            users=users,
            roles=roles,
            screens=_grantable_screens(),
            permissions=_permissions(),
        )


def _field_for(form: StaffForm, message: str):
    """The field a refusal of the staff services is about, so it shows beside it."""
    text = message.lower()
    for words, field in (
        (("password",), form.password),
        (("super admin",), form.is_superuser),
        (("language",), form.locale),
        (("role",), form.role),
    ):
        if any(word in text for word in words):
            return field
    return form.username


@blueprint.route("/new", methods=["GET", "POST"])
@change
def create():
    return _edit(None)


@blueprint.route("/<int:staff_id>", methods=["GET", "POST"])
@change
def edit(staff_id: int):
    return _edit(staff_id)


def _edit(staff_id: int | None):
    db = database()
    with db.transaction() as session:
        user = session.get(StaffUser, staff_id) if staff_id else None
        if staff_id and user is None:
            abort(404)
        choices = _role_choices(session)
        initial = (
            {
                "username": user.username,
                "full_name": user.full_name,
                "role": user.role.name if user.role else "",
                "locale": user.locale,
                "is_superuser": user.is_superuser,
                "is_active": user.is_active,
            }
            if user
            else {"locale": site().language}  # a new colleague speaks the site's language
        )
    form = StaffForm(data=initial) if request.method == "GET" else StaffForm()
    form.role.choices = choices
    if user is None:
        form.password.validators = [
            DataRequired(),
            PASSWORD_RULE,
        ]
    if form.validate_on_submit():
        try:
            if user is None:
                db.run(
                    lambda s: create_staff(
                        s,
                        form.username.data,
                        form.password.data,
                        full_name=form.full_name.data,
                        role=form.role.data or None,
                        is_superuser=form.is_superuser.data,
                        locale=form.locale.data,
                        actor=actor(),
                        address=client_address(),
                    )
                )
            else:
                db.run(
                    lambda s: update_staff(
                        s,
                        staff_id,
                        actor=actor(),
                        full_name=form.full_name.data,
                        role=form.role.data,
                        is_active=form.is_active.data,
                        is_superuser=form.is_superuser.data,
                        locale=form.locale.data,
                        password=form.password.data or None,
                        address=client_address(),
                    )
                )
        except WeakPassword as error:
            form.password.errors = [*form.password.errors, weak_password_message(error)]
        except WalletError as error:
            field = _field_for(form, str(error))
            field.errors = [*field.errors, str(error)]
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("staff.index"))
    return render_template("staff/edit.html", form=form, user=user)


@blueprint.route("/roles/new", methods=["GET", "POST"])
@change
def role_create():
    return _edit_role(None)


@blueprint.route("/roles/<int:role_id>", methods=["GET", "POST"])
@change
def role_edit(role_id: int):
    return _edit_role(role_id)


def _edit_role(role_id: int | None):
    db = database()
    screens = _grantable_screens()
    permissions = _permissions()
    with db.transaction() as session:
        role = session.get(Role, role_id) if role_id else None
        if role_id and role is None:
            abort(404)
        grants = role.grants() if role else {}
        initial = {"name": role.name, "description": role.description} if role else {}
    form = RoleForm(data=initial) if request.method == "GET" else RoleForm()
    if request.method == "POST":
        grants = {
            s.name: request.form.get(f"perm_{s.name}")
            for s in screens
            if request.form.get(f"perm_{s.name}") in ("view", "change")
        }
        # A job is stored like a screen's "change"; granted or not.
        grants.update({p.name: "change" for p in permissions if request.form.get(f"may_{p.name}")})
    if form.validate_on_submit():
        try:
            db.run(
                lambda s: save_role(
                    s,
                    form.name.data,
                    grants,
                    actor=actor(),
                    description=form.description.data,
                    role_id=role_id,
                    address=client_address(),
                )
            )
        except WalletError as error:
            form.name.errors.append(str(error))
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("staff.index"))
    return render_template(
        "staff/role.html",
        form=form,
        role_id=role_id,
        screens=screens,
        permissions=permissions,
        grants=grants,
    )
