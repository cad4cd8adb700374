"""Settings the operator edits at run time in the admin's Settings screen.

They are stored as key/value rows and layered over pulsa's settings (environment and
config file): a value saved here wins, an absent one falls back. Processes that read
`effective_settings` (the web admin does) see a change on their next request.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import DateTime, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from rating.money import parse_money
from wallet.errors import InvalidInput
from wallet.ledger import utcnow
from wallet.models import Base
from wallet.staff import record_audit


class SiteSetting(Base):
    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    updated_by: Mapped[str] = mapped_column(String(60))


@dataclass(frozen=True)
class SiteConfig:
    """Every runtime setting with its effective value (stored, else from `Settings`)."""

    operator_name: str = "pulsa"
    logo_path: str = ""  # relative to the upload folder
    sign_in_banner: str = ""
    display_precision: int = 0
    timezone: str = "UTC"
    call_slice_seconds: int = 60
    call_mode: str = "live"
    low_balance_threshold: int = 0  # micro-units

    @classmethod
    def defaults_from(cls, settings) -> SiteConfig:
        return cls(
            display_precision=settings.precision,
            timezone=settings.timezone,
            call_slice_seconds=settings.call_slice_seconds,
            call_mode=settings.call_mode,
        )


_TYPES = {f.name: f.type for f in fields(SiteConfig)}


def load_site_config(session: Session, settings) -> SiteConfig:
    config = SiteConfig.defaults_from(settings)
    stored = {row.key: row.value for row in session.execute(select(SiteSetting)).scalars()}
    values = {}
    for key, raw in stored.items():
        if key not in _TYPES:
            continue  # a setting of a newer or older version: ignore, do not fail
        try:
            values[key] = int(raw) if _TYPES[key] in (int, "int") else raw
        except ValueError:
            continue
    return replace(config, **values)


def effective_settings(session: Session, settings):
    """pulsa's settings with the operator's runtime choices applied (time zone, call
    slice and mode, display precision), for processes that honour them."""
    config = load_site_config(session, settings)
    return settings.with_overrides(
        timezone=config.timezone,
        call_slice_seconds=config.call_slice_seconds,
        call_mode=config.call_mode,
        display_precision=config.display_precision,
    )


def validate(values: dict[str, object]) -> dict[str, object]:
    """Check typed values; raises InvalidInput naming the first bad one."""
    checked: dict[str, object] = {}
    for key, value in values.items():
        if key not in _TYPES:
            raise InvalidInput(f"unknown setting {key!r}")
        checked[key] = value
    if "display_precision" in checked and not 0 <= int(checked["display_precision"]) <= 6:
        raise InvalidInput("display precision must be between 0 and 6")
    if "timezone" in checked:
        try:
            ZoneInfo(str(checked["timezone"]))
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidInput(f"unknown time zone {checked['timezone']!r}") from None
    if "call_slice_seconds" in checked and not 10 <= int(checked["call_slice_seconds"]) <= 3600:
        raise InvalidInput("the call slice must be between 10 and 3600 seconds")
    if "call_mode" in checked and checked["call_mode"] not in ("live", "static"):
        raise InvalidInput("call mode must be live or static")
    if "low_balance_threshold" in checked and int(checked["low_balance_threshold"]) < 0:
        raise InvalidInput("the low-balance threshold cannot be negative")
    if "operator_name" in checked and not str(checked["operator_name"]).strip():
        raise InvalidInput("the operator needs a name")
    return checked


def save_site_config(
    session: Session,
    settings,
    values: dict[str, object],
    *,
    actor: str,
    address: str | None = None,
) -> SiteConfig:
    """Store the given settings (others unchanged), audited with before and after."""
    checked = validate(values)
    current = load_site_config(session, settings)
    before = asdict(current)
    rows = {row.key: row for row in session.execute(select(SiteSetting)).scalars()}
    now = utcnow()
    for key, value in checked.items():
        text = str(value)
        row = rows.get(key)
        if row is None:
            session.add(SiteSetting(key=key, value=text, updated_at=now, updated_by=actor))
        elif row.value != text:
            row.value, row.updated_at, row.updated_by = text, now, actor
    session.flush()
    updated = load_site_config(session, settings)
    after = asdict(updated)
    changed = {k for k in after if after[k] != before[k]}
    if changed:
        record_audit(
            session,
            actor,
            "settings.save",
            "site settings",
            before={k: before[k] for k in sorted(changed)},
            after={k: after[k] for k in sorted(changed)},
            address=address,
        )
    return updated


def parse_threshold(text: str) -> int:
    """A threshold typed in currency units, as micro-units."""
    try:
        return parse_money(text or "0")
    except ValueError as error:
        raise InvalidInput(str(error)) from None
