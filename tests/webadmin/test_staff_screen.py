"""Staff and roles: the super admin creates admins and edits what each role may do."""

from __future__ import annotations

from sqlalchemy import select

from tests.webadmin.conftest import PASSWORD, field_errors, make_client, make_staff, unique_name
from wallet.staff import AuditRecord, Role, StaffUser


def test_the_super_admin_creates_a_role_and_a_staff_member_who_then_signs_in(app, db, admin):
    role = unique_name("cashier")
    response = admin.post(
        "/staff/roles/new",
        data={"name": role, "description": "Front desk", "perm_dashboard": "view"},
    )
    assert response.status_code == 302
    username = unique_name("kasir")
    response = admin.post(
        "/staff/new",
        data={
            "username": username,
            "full_name": "Siti",
            "role": role,
            "locale": "id",
            "password": PASSWORD,
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    with db.transaction() as session:
        user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one()
        assert user.role.name == role and user.role.grants() == {"dashboard": "view"}
        assert user.password_hash != PASSWORD and "scrypt" in user.password_hash
    client = make_client(app)
    assert client.sign_in(username).status_code == 302
    assert client.get("/staff/").status_code == 403


def test_editing_a_role_replaces_its_permissions_and_is_audited(app, db, admin):
    role = unique_name("role")
    admin.post("/staff/roles/new", data={"name": role, "perm_dashboard": "change"})
    with db.transaction() as session:
        role_id = session.execute(select(Role.id).where(Role.name == role)).scalar_one()
    admin.post(f"/staff/roles/{role_id}", data={"name": role, "perm_dashboard": "view"})
    with db.transaction() as session:
        assert session.get(Role, role_id).grants() == {"dashboard": "view"}
        records = (
            session.execute(
                select(AuditRecord)
                .where(AuditRecord.target == f"role {role}")
                .order_by(AuditRecord.id)
            )
            .scalars()
            .all()
        )
    assert [r.action for r in records] == ["role.save", "role.save"]
    assert records[1].before_data()["dashboard"] == "change"
    assert records[1].after_data()["dashboard"] == "view"


def test_a_short_password_is_refused_next_to_the_field(admin):
    response = admin.post(
        "/staff/new",
        data={"username": unique_name(), "role": "", "locale": "en", "password": "short"},
    )
    assert response.status_code == 200
    assert "A password needs at least 10 characters." in response.get_data(as_text=True)


def test_the_last_super_admin_cannot_be_demoted(app, db, admin, superuser):
    with db.transaction() as session:
        others = (
            session.execute(select(StaffUser).where(StaffUser.is_superuser.is_(True)))
            .scalars()
            .all()
        )
        me = next(u for u in others if u.username == superuser)
        for user in others:
            if user.id != me.id:
                user.is_superuser = False
    response = admin.post(
        f"/staff/{me.id}",
        data={"username": superuser, "role": "", "locale": "en", "is_active": "y"},
    )
    page = response.get_data(as_text=True)
    assert field_errors(page, "is_superuser") == ["at least one active super admin must remain"]
    assert "flash-error" not in page


def test_a_password_equal_to_the_user_name_is_refused_beside_the_password_field(db, admin):
    username = make_staff(db)
    with db.transaction() as session:
        user_id = session.execute(
            select(StaffUser.id).where(StaffUser.username == username)
        ).scalar_one()
    response = admin.post(
        f"/staff/{user_id}",
        data={"username": username, "role": "", "locale": "en", "password": username},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert field_errors(page, "password") == [
        "A password must not be made of the user name or the full name."
    ]
    assert field_errors(page, "username") == []


def test_the_audit_log_filters_by_who_and_what(app, db, admin, superuser):
    role = unique_name("audited")
    admin.post("/staff/roles/new", data={"name": role, "perm_dashboard": "view"})
    page = admin.get(f"/audit/?action=role.&target={role}").get_data(as_text=True)
    assert f"role {role}" in page
    page = admin.get(f"/audit/?action=wallet.&target={role}").get_data(as_text=True)
    assert f"role {role}" not in page


def test_common_passwords_are_refused_beside_the_password_field(admin):
    response = admin.post(
        "/staff/new",
        data={"username": unique_name(), "role": "", "locale": "en", "password": "password12"},
    )
    assert response.status_code == 200
    assert field_errors(response.get_data(as_text=True), "password") == [
        "This password is one of the most common ones. Choose one that is harder to guess."
    ]


def test_the_staff_list_names_each_members_language(db, admin):
    username = make_staff(db, locale="id")
    # The list is paged by user name, and the tests' database holds many staff members.
    for number in range(1, 200):
        page = admin.get(f"/staff/?page={number}").get_data(as_text=True)
        if f">{username}</a>" in page:
            break
    row = page.split(f">{username}</a>")[1].split("</tr>")[0]
    assert "<td>Bahasa Indonesia</td>" in row
    assert "<td>id</td>" not in page and "<td>en</td>" not in page
