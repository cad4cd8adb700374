"""Settings the operator edits at run time in the admin's Settings screen.

They are stored as key/value rows and layered over pulsa's settings (environment and
config file): a value saved here wins, an absent one falls back. A value is stored only
once an admin changes it from what the environment gives, so until then the PULSA_*
variable stays in charge. The web admin reads them on every request; the call services
(FastAGI server, AMI listener) through `RuntimeSettings`, at most every
`REFRESH_SECONDS`; the classic AGI script once per run.

This module is imported by the classic AGI script, which must start fast: it imports no
web framework (the audit helper is imported where a save needs it).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import DateTime, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from rating.money import parse_amount
from wallet.errors import InvalidInput
from wallet.ledger import utcnow
from wallet.models import Base

log = logging.getLogger("pulsa.settings")

#: How long a long-running service may keep using what it last read: the Settings screen
#: promises that changes reach new calls within this time.
REFRESH_SECONDS = 5.0


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
    # Chosen with the country on the first-run setup (or PULSA_COUNTRY_CODE, PULSA_CURRENCY,
    # PULSA_LANGUAGE): numbers' country code, the currency of new wallets, the language of
    # people who have not chosen one.
    country_code: str = ""
    currency: str = "IDR"
    language: str = "en"
    #: The first-run setup: "" until a super admin finishes it ("done") or skips it.
    setup: str = ""
    # When an internet package's validity starts: "router" (a router first holds it) or
    # "first_login" (the first login seen); see wallet.internet.START_MODES.
    internet_start: str = "router"

    @classmethod
    def defaults_from(cls, settings) -> SiteConfig:
        return cls(
            display_precision=settings.precision,
            timezone=settings.timezone,
            call_slice_seconds=settings.call_slice_seconds,
            call_mode=settings.call_mode_in_effect,
            country_code=settings.country_code,
            currency=settings.currency,
            language=settings.language,
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
    slice and mode, display precision, country code, currency, language), for processes
    that honour them."""
    return settings_with(load_site_config(session, settings), settings)


def settings_with(config: SiteConfig, settings):
    """`settings` with the runtime choices of `config` applied."""
    return settings.with_overrides(
        timezone=config.timezone,
        call_slice_seconds=config.call_slice_seconds,
        call_mode=config.call_mode,
        display_precision=config.display_precision,
        country_code=config.country_code,
        currency=config.currency,
        language=config.language,
    )


class RuntimeSettings:
    """`effective_settings` for a long-running service, read from the database at most
    once every `refresh_seconds`: a change made in the admin reaches it within that time,
    and the hot path (a call's authorization) does not pay a query for it each time.

    Thread-safe; one per process, like TariffCache. While one thread re-reads, the others
    go on with the last value rather than queue behind the same query.
    """

    def __init__(
        self,
        settings,
        refresh_seconds: float = REFRESH_SECONDS,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base = settings
        self.refresh_seconds = refresh_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._current = settings
        self._read_at: float | None = None
        self._reading = False

    @property
    def current(self):
        """What was last read (the environment's settings before the first read)."""
        return self._current

    def get(self, session: Session):
        """The effective settings, re-read in `session` when the last read is too old."""
        now = self._monotonic()
        with self._lock:
            fresh_enough = self._read_at is not None and now - self._read_at < self.refresh_seconds
            if fresh_enough or (self._reading and self._read_at is not None):
                return self._current
            self._reading = True
        try:
            try:
                value = effective_settings(session, self.base)
            except ValueError as error:
                # A stored value the settings refuse (edited by hand in the database):
                # calls go on with the last good settings rather than all fail.
                log.error("site settings ignored, keeping the previous ones: %s", error)
                value = self._current
            with self._lock:
                self._current, self._read_at = value, now
            return value
        finally:
            with self._lock:
                self._reading = False


# Saves of the settings made in this process (the admin's Settings screen, `pulsa`
# commands): a cached value re-reads at once after one, instead of after its time.
_saved_here = 0


def note_saved() -> None:
    """The site settings were changed in this process (a cached value is read again)."""
    global _saved_here
    _saved_here += 1


class CachedSetting:
    """One site setting read on a hot path (the low-balance threshold, checked at each
    debit's commit), read from the database at most every `refresh_seconds`, like
    `RuntimeSettings`: a change made in the admin applies within that time in every
    process, and at once in the process that saved it. In between, reading it costs no
    query. Thread-safe: the state is one tuple, replaced whole."""

    def __init__(
        self,
        key: str,
        default: int = 0,
        refresh_seconds: float = REFRESH_SECONDS,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.key = key
        self.default = default
        self.refresh_seconds = refresh_seconds
        self._monotonic = monotonic
        # (value, monotonic time read, saves in this process then)
        self._state: tuple[int, float, int] | None = None

    def get(self, session: Session) -> int:
        state, now = self._state, self._monotonic()
        if state is not None and now - state[1] < self.refresh_seconds and state[2] == _saved_here:
            return state[0]
        saves = _saved_here
        row = session.get(SiteSetting, self.key)
        try:
            value = int(row.value) if row is not None else self.default
        except ValueError:  # edited by hand in the database
            value = self.default
        self._state = (value, now, saves)
        return value


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
    if "country_code" in checked:
        code = str(checked["country_code"])
        if code and not (code.isascii() and code.isdigit() and len(code) <= 3):
            raise InvalidInput("a country code is one to three digits, e.g. 62")
    if "currency" in checked:
        currency = str(checked["currency"])
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
            raise InvalidInput("a currency is a 3-letter code, e.g. IDR")
        checked["currency"] = currency.upper()
    if "language" in checked and checked["language"] not in ("en", "id"):
        raise InvalidInput("the language must be en or id")
    if "setup" in checked and checked["setup"] not in ("", "done", "skipped"):
        raise InvalidInput("the setup is done or skipped")
    if "internet_start" in checked and checked["internet_start"] not in ("router", "first_login"):
        raise InvalidInput("a package starts on the router or at the first login")
    if "low_balance_threshold" in checked and int(checked["low_balance_threshold"]) < 0:
        raise InvalidInput("the low-balance threshold cannot be negative")
    if "operator_name" in checked and not str(checked["operator_name"]).strip():
        raise InvalidInput("the operator needs a name")
    return checked


def stored_keys(session: Session) -> set[str]:
    """The settings an admin saved, which win over the environment's values."""
    return set(session.execute(select(SiteSetting.key)).scalars())


def save_site_config(
    session: Session,
    settings,
    values: dict[str, object],
    *,
    actor: str,
    address: str | None = None,
    from_environment: Collection[str] = (),
    pin: bool = False,
) -> SiteConfig:
    """Store the given settings (others unchanged), audited with before and after.

    A setting that has no stored value and is saved unchanged stays unstored: saving the
    screen for the logo must not pin the call slice the environment gives today; unless
    `pin`, for answers the operator gave on purpose (the first-run setup), which then
    win over a later change of the environment. The
    settings named in `from_environment` lose their stored value (whatever `values` says
    of them), so that the environment's value applies again; the audit record names them.
    """
    # Imported here: the AGI script imports this module and must not load werkzeug.
    from wallet.staff import record_audit

    unknown = sorted(set(from_environment) - set(_TYPES))
    if unknown:
        raise InvalidInput(f"unknown setting {unknown[0]!r}")
    checked = validate({k: v for k, v in values.items() if k not in from_environment})
    current = load_site_config(session, settings)
    before = asdict(current)
    rows = {row.key: row for row in session.execute(select(SiteSetting)).scalars()}
    dropped = sorted(key for key in set(from_environment) if key in rows)
    for key in dropped:
        session.delete(rows.pop(key))
    now = utcnow()
    for key, value in checked.items():
        text = str(value)
        row = rows.get(key)
        if row is None:
            if text == str(before[key]) and not pin:
                continue
            session.add(SiteSetting(key=key, value=text, updated_at=now, updated_by=actor))
        elif row.value != text:
            row.value, row.updated_at, row.updated_by = text, now, actor
    session.flush()
    updated = load_site_config(session, settings)
    after = asdict(updated)
    # A setting given back to the environment is recorded even when the environment
    # has the same value: from then on a change of the PULSA_* variable applies.
    changed = {k for k in after if after[k] != before[k]} | set(dropped)
    if pin:
        changed |= set(checked)
    note_saved()
    if changed:
        record_audit(
            session,
            actor,
            "settings.save",
            "site settings",
            before={k: before[k] for k in sorted(changed)},
            after={
                **{k: after[k] for k in sorted(changed)},
                **({"from_environment": dropped} if dropped else {}),
            },
            address=address,
        )
    return updated


def parse_threshold(text: str, *, precision: int, currency: str = "") -> int:
    """A threshold typed in currency units, as micro-units (read like every amount)."""
    try:
        return parse_amount(text or "0", precision=precision, currency=currency)
    except ValueError as error:
        raise InvalidInput(str(error)) from None


def wallets_in_other_currencies(session: Session, currency: str) -> int:
    """How many of the operator's wallets (the demo's left out: they go before going
    live) are in another currency than `currency`: every wallet of a site is in one."""
    # Imported here: the AGI script imports this module.
    from sqlalchemy import func

    from wallet.demo import DemoRow
    from wallet.models import Account

    demo_customers = select(DemoRow.row_id).where(DemoRow.table_name == "customers")
    return session.execute(
        select(func.count(Account.id)).where(
            Account.currency != currency.upper(), Account.customer_id.not_in(demo_customers)
        )
    ).scalar_one()
