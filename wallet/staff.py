"""Staff of the web admin: accounts, roles with per-screen permissions, signing in
(throttled by wallet.sign_in_throttle, sessions in wallet.web_sessions) and the audit log
of every change of money or settings.

Screens are named by the web admin (`customers`, `tariffs`, ...); this module only stores
which role may `view` or `change` which name, so a new screen needs no schema change.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from wallet import sign_in_throttle
from wallet.errors import InvalidInput, NotFound
from wallet.ledger import utcnow
from wallet.models import Base, Id
from wallet.passwords import MIN_LENGTH, check_password
from wallet.sign_in_throttle import SignInThrottled as SignInThrottled
from wallet.text import check_text
from wallet.web_sessions import (
    STAFF,
    end_all_sessions,
    end_session,
    open_session,
    session_subject,
)

LEVELS = ("view", "change")
LOCALES = ("en", "id")
MIN_PASSWORD_LENGTH = MIN_LENGTH

# Checked when the user name does not exist, so that a wrong name takes as long as a
# wrong password and the timing does not tell which names exist.
_DUMMY_HASH = generate_password_hash("pulsa-dummy-password")


@dataclass(frozen=True)
class SignInOutcome:
    """A sign-in's answer: the staff member (None: wrong name or password), and after a
    failure until when the next try must wait (None: no wait)."""

    principal: Principal | None
    retry_after: datetime | None = None


class Role(Base):
    __tablename__ = "staff_roles"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))

    permissions: Mapped[list[RolePermission]] = relationship(
        back_populates="role", cascade="all, delete-orphan"
    )

    def grants(self) -> dict[str, str]:
        return {p.screen: p.level for p in self.permissions}


class RolePermission(Base):
    __tablename__ = "staff_role_permissions"
    __table_args__ = (
        UniqueConstraint("role_id", "screen", name="uq_staff_role_permissions_role_id_screen"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    role_id: Mapped[int] = mapped_column(ForeignKey("staff_roles.id"))
    screen: Mapped[str] = mapped_column(String(40))
    level: Mapped[str] = mapped_column(String(10))  # view, change

    role: Mapped[Role] = relationship(back_populates="permissions")


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    username: Mapped[str] = mapped_column(String(60), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    role_id: Mapped[int | None] = mapped_column(ForeignKey("staff_roles.id"))
    locale: Mapped[str] = mapped_column(String(10), default="en")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=False))

    role: Mapped[Role | None] = relationship()


class AuditRecord(Base):
    """Who changed what, when, with the state before and after (JSON)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    actor: Mapped[str] = mapped_column(String(60), index=True)
    action: Mapped[str] = mapped_column(String(60), index=True)
    target: Mapped[str] = mapped_column(String(120), default="")
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)
    address: Mapped[str | None] = mapped_column(String(64))

    def before_data(self) -> dict:
        return json.loads(self.before) if self.before else {}

    def after_data(self) -> dict:
        return json.loads(self.after) if self.after else {}


@dataclass(frozen=True)
class Principal:
    """What a request needs to know about the signed-in staff member, detached from the
    database session so that it can live for the whole request."""

    id: int
    username: str
    full_name: str
    is_superuser: bool
    locale: str
    grants: dict[str, str]

    def can(self, screen: str, level: str = "view") -> bool:
        if self.is_superuser:
            return True
        granted = self.grants.get(screen)
        if granted is None:
            return False
        return level == "view" or granted == "change"


# --- audit ------------------------------------------------------------------------------


def record_audit(
    session: Session,
    actor: str,
    action: str,
    target: str = "",
    *,
    before: dict | None = None,
    after: dict | None = None,
    address: str | None = None,
) -> AuditRecord:
    """Append one audit record in the caller's transaction, so it commits with the change."""
    record = AuditRecord(
        at=utcnow(),
        actor=actor[:60],
        action=action[:60],
        target=target[:120],
        before=_json(before),
        after=_json(after),
        address=address,
    )
    session.add(record)
    session.flush()
    return record


def _json(data: dict | None) -> str | None:
    if data is None:
        return None
    return json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)


# --- staff accounts ---------------------------------------------------------------------


def hash_password(password: str) -> str:
    return generate_password_hash(password)


def check_password_rules(password: str, username: str = "", full_name: str = "") -> None:
    """Raise WeakPassword (an InvalidInput) for a password too weak for this person."""
    check_password(password, names=(username, full_name), min_length=MIN_PASSWORD_LENGTH)


def create_staff(
    session: Session,
    username: str,
    password: str,
    *,
    full_name: str = "",
    role: str | None = None,
    is_superuser: bool = False,
    locale: str = "en",
    actor: str = "system",
    address: str | None = None,
) -> StaffUser:
    username = (username or "").strip().lower()
    if (
        not username
        or len(username) > 60
        or not username.replace(".", "").replace("_", "").replace("-", "").isalnum()
    ):
        raise InvalidInput("a user name has 1 to 60 letters, digits, '.', '_' or '-'")
    if session.execute(select(StaffUser.id).where(StaffUser.username == username)).first():
        raise InvalidInput(f"user name {username!r} is taken")
    check_password_rules(password, username, full_name)
    if locale not in LOCALES:
        raise InvalidInput(f"language must be one of {', '.join(LOCALES)}")
    role_row = get_role(session, role) if role else None
    user = StaffUser(
        username=username,
        full_name=check_text((full_name or "").strip(), "a full name")[:200],
        password_hash=hash_password(password),
        is_superuser=is_superuser,
        is_active=True,
        role_id=role_row.id if role_row else None,
        locale=locale,
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    record_audit(
        session,
        actor,
        "staff.create",
        f"staff {username}",
        after={"role": role, "superuser": is_superuser, "locale": locale},
        address=address,
    )
    return user


def update_staff(
    session: Session,
    user_id: int,
    *,
    actor: str,
    full_name: str | None = None,
    role: str | None = None,
    is_active: bool | None = None,
    is_superuser: bool | None = None,
    locale: str | None = None,
    password: str | None = None,
    address: str | None = None,
) -> StaffUser:
    """Change a staff member; `role=""` removes the role. Audited, password never shown."""
    user = get_staff(session, user_id)
    before = _staff_state(user)
    if full_name is not None:
        user.full_name = check_text(full_name.strip(), "a full name")[:200]
    if role is not None:
        user.role_id = get_role(session, role).id if role else None
    if locale is not None:
        if locale not in LOCALES:
            raise InvalidInput(f"language must be one of {', '.join(LOCALES)}")
        user.locale = locale
    if is_superuser is not None:
        user.is_superuser = is_superuser
    if is_active is not None and is_active != user.is_active:
        user.is_active = is_active
        end_all_sessions(session, STAFF, user.id)
    if password:
        check_password_rules(password, user.username, user.full_name)
        user.password_hash = hash_password(password)
        end_all_sessions(session, STAFF, user.id)
    if not _has_active_superuser(session):
        raise InvalidInput("at least one active super admin must remain")
    session.flush()
    after = _staff_state(user)
    if password:
        after["password"] = "changed"
    record_audit(
        session,
        actor,
        "staff.update",
        f"staff {user.username}",
        before=before,
        after=after,
        address=address,
    )
    return user


def _staff_state(user: StaffUser) -> dict:
    return {
        "full_name": user.full_name,
        "role": user.role.name if user.role else None,
        "active": user.is_active,
        "superuser": user.is_superuser,
        "locale": user.locale,
    }


def _has_active_superuser(session: Session) -> bool:
    session.flush()
    return (
        session.execute(
            select(StaffUser.id).where(
                StaffUser.is_superuser.is_(True), StaffUser.is_active.is_(True)
            )
        ).first()
        is not None
    )


def get_staff(session: Session, user_id: int) -> StaffUser:
    user = session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(f"staff member {user_id} does not exist")
    return user


def open_staff_session(session: Session, user_id: int, *, lifetime: timedelta) -> str:
    """A signed-in session of a staff member; returns the token its cookie carries."""
    return open_session(session, STAFF, user_id, lifetime=lifetime)


def principal_for_session(session: Session, token: str) -> Principal | None:
    """The staff member of a session, or None when the session was ended (signed out,
    password changed, account disabled), has expired, or the person is gone."""
    user_id = session_subject(session, STAFF, token)
    user = session.get(StaffUser, user_id) if user_id is not None else None
    if user is None or not user.is_active:
        return None
    return _principal(user)


def principal_of_staff(session: Session, staff_id: int) -> Principal | None:
    """The staff member `staff_id` as acting now (role and grants read afresh), or None
    when the account is gone or disabled: a chat linked to them can do nothing then."""
    user = session.get(StaffUser, staff_id)
    if user is None or not user.is_active:
        return None
    return _principal(user)


def staff_actor_name(username: str, channel: str = "admin") -> str:
    """The name a staff member's action is written under in the audit log and on ledger
    entries: `web:<user>` from the admin, `<channel>:<user>` from a chat app
    (`telegram:andi`), so that the log tells where it came from."""
    return f"web:{username}" if channel == "admin" else f"{channel}:{username}"


def staff_username_of_actor(actor: str) -> str | None:
    """The staff user name in an actor name made by `staff_actor_name` (None: not staff;
    a customer's chat actor is `<channel>:customer:<id>`, which has a second colon)."""
    channel, _, username = actor.partition(":")
    if not username or ":" in username or channel not in STAFF_CHANNELS:
        return None
    return username


#: Where staff act from: the admin ("web") and the chat apps.
STAFF_CHANNELS = ("web", "telegram", "line")


def end_staff_session(session: Session, token: str) -> None:
    end_session(session, STAFF, token)


def _principal(user: StaffUser) -> Principal:
    return Principal(
        id=user.id,
        username=user.username,
        full_name=user.full_name,
        is_superuser=user.is_superuser,
        locale=user.locale,
        grants=user.role.grants() if user.role else {},
    )


def authenticate(
    session: Session, username: str, password: str, *, address: str, now: datetime | None = None
) -> SignInOutcome:
    """Check a sign-in of `username` from the client `address`, with throttling.

    A wrong name or password or a disabled account all give the same outcome without a
    principal (it tells nothing about which names exist); the failure is counted in the
    caller's transaction, which must commit. Raises SignInThrottled while this name from
    this address (or this address at all) must wait, without checking the password.
    """
    moment = now or utcnow()
    name = (username or "").strip().lower()[:60]
    sign_in_throttle.check_allowed(session, STAFF, name, address, now=moment)
    user = session.execute(select(StaffUser).where(StaffUser.username == name)).scalar_one_or_none()
    valid = check_password_hash(user.password_hash if user else _DUMMY_HASH, password or "")
    if user is None or not valid or not user.is_active:
        retry_after = sign_in_throttle.record_failure(session, STAFF, name, address, now=moment)
        return SignInOutcome(None, retry_after)
    sign_in_throttle.record_success(session, STAFF, name, address)
    user.last_sign_in_at = moment
    session.flush()
    return SignInOutcome(_principal(user))


def clear_sign_in_throttle(session: Session, username: str) -> int:
    """Let a staff member sign in at once, whatever wrong passwords were typed for them."""
    return sign_in_throttle.clear(session, STAFF, (username or "").strip().lower()[:60])


# --- roles ------------------------------------------------------------------------------


def get_role(session: Session, name: str) -> Role:
    role = session.execute(select(Role).where(Role.name == name)).scalar_one_or_none()
    if role is None:
        raise NotFound(f"role {name!r} does not exist")
    return role


def save_role(
    session: Session,
    name: str,
    grants: dict[str, str],
    *,
    actor: str,
    description: str = "",
    role_id: int | None = None,
    address: str | None = None,
) -> Role:
    """Create a role, or replace the name, description and permissions of `role_id`."""
    name = check_text((name or "").strip(), "a role name")
    check_text(description or "", "a description", multiline=True)
    if not name or len(name) > 60:
        raise InvalidInput("a role needs a name of at most 60 characters")
    for screen, level in grants.items():
        if level not in LEVELS:
            raise InvalidInput(f"permission level for {screen!r} must be view or change")
    clash = session.execute(select(Role).where(Role.name == name)).scalar_one_or_none()
    if clash is not None and clash.id != role_id:
        raise InvalidInput(f"role {name!r} exists already")
    if role_id is None:
        role = Role(name=name, created_at=utcnow())
        session.add(role)
        before = None
    else:
        role = session.get(Role, role_id)
        if role is None:
            raise NotFound(f"role {role_id} does not exist")
        before = {"name": role.name, "description": role.description, **role.grants()}
    role.name, role.description = name, (description or "").strip()[:200]
    current = {p.screen: p for p in role.permissions}
    for screen, permission in current.items():
        if screen not in grants:
            role.permissions.remove(permission)
    for screen, level in grants.items():
        if screen in current:
            current[screen].level = level
        else:
            role.permissions.append(RolePermission(screen=screen, level=level))
    session.flush()
    after = {"name": role.name, "description": role.description, **dict(grants)}
    record_audit(
        session,
        actor,
        "role.save",
        f"role {role.name}",
        before=before,
        after=after,
        address=address,
    )
    return role
