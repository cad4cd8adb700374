"""All configuration of pulsa, read in one place.

Values come from `PULSA_*` environment variables, over an optional file named by
`PULSA_CONFIG` (lines of `PULSA_NAME=value`, `#` comments). Nothing is read at import
time: call `load_settings()`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Currencies usually shown without decimals; others default to 2.
_ZERO_DECIMAL_CURRENCIES = {"IDR", "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF"}


class SettingsError(ValueError):
    pass


@dataclass(frozen=True)
class Settings:
    """Each field is the variable PULSA_<FIELD NAME IN CAPITALS>."""

    database_url: str = "sqlite:///pulsa.db"
    currency: str = "IDR"
    display_precision: int = -1  # -1: from the currency (IDR 0, USD 2)
    timezone: str = "UTC"
    # A country (pulsa.countries: ID, MY, PH, TL, ...) sets the defaults of country_code,
    # currency, timezone and language; each of those set by itself wins.
    country: str = ""
    language: str = "en"  # en or id: the admin's and the portal's language by default
    call_slice_seconds: int = 60
    # live (the AMI listener moves the limit), static (Dial L(): the first hold pays the
    # whole call) or auto: live only where PULSA_AMI_SERVERS names Asterisk servers to
    # follow, so that a site without a listener never cuts its calls after a slice.
    call_mode: str = "auto"
    call_min_seconds: int = 0  # a call gets in when this much is payable; 0: first block
    call_limit_ahead_seconds: int = 2  # live, small wallets: how far ahead Asterisk is told
    hold_expiry_seconds: int = 4 * 3600
    default_tariff_plan: str = "default"
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    fastagi_host: str = "127.0.0.1"
    fastagi_port: int = 4573
    agi_timeout_ms: int = 2000  # answer ERROR rather than keep a channel waiting longer
    agi_workers: int = 1  # FastAGI processes sharing the port; 0: one per CPU core
    identify_by: str = "accountcode,peer,callerid"  # order in which callers are identified
    outbound_prefix: str = ""  # e.g. "9": stripped from dialled numbers that start with it
    country_code: str = ""  # e.g. "62": a national number 0812... becomes 62812...
    trunk_prefix: str = "0"
    free_destinations: str = ""  # prefixes called without credit, e.g. "112,110,113"
    free_call_seconds: int = 3600
    min_credit: str = "0"  # currency units an account needs to start a call
    max_concurrent_calls: int = 0  # per account, unless the account sets its own; 0: no limit
    secret_key: str = ""
    # Address(es) of the reverse proxy whose X-Forwarded-For/-Proto/-Host are believed
    # (comma-separated); empty: the web apps are reached directly.
    trusted_proxy: str = ""
    log_level: str = "INFO"
    # Payment proofs and the operator's logo; relative paths are from the working folder.
    upload_folder: str = "uploads"
    # Internet (MikroTik hotspot).
    router_key: str = ""  # Fernet key(s) encrypting router passwords; first one encrypts
    hotspot_sync_seconds: int = 60  # reconciler pass interval inside `pulsa serve`
    router_timeout_seconds: int = 5  # RouterOS API connect/read timeout
    hotspot_login_url: str = "http://10.5.50.1/login"  # where voucher QR codes log in
    portal_url: str = ""  # the customer portal's address as customers see it (links, QR)
    portal_host: str = "127.0.0.1"  # where the customer portal listens (`pulsa portal`)
    portal_port: int = 8081
    hotspot_brand_name: str = "Hotspot"  # operator name on hotspot pages and vouchers
    # Chat bots. Telegram: the bot's token from @BotFather (empty: no Telegram bot), the Bot
    # API's base URL (methods are <base>/bot<token>/<method>), and, for a webhook instead of
    # long polling, the public HTTPS address Telegram posts to and where it is served.
    telegram_token: str = ""
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_url: str = ""
    telegram_webhook_host: str = "127.0.0.1"
    telegram_webhook_port: int = 8443
    # LINE (Messaging API): the webhook is served by the customer portal's web server.
    line_channel_secret: str = ""  # checks the X-Line-Signature of every webhook request
    line_access_token: str = ""  # the channel access token: replies, pushes, content
    line_api_url: str = "https://api.line.me"  # the Messaging API's base URL
    # AMI listener (`pulsa ami`): follows live calls, debits them, moves their limit.
    ami_servers: str = ""  # name=user:secret@host:port, comma-separated (secret %-encoded)
    ami_renew_margin_seconds: int = 10  # renew a call this long before its paid time ends
    # A limit sent to Asterisk ends this much before the paid end; -1: measured.
    ami_safety_ms: int = -1
    # Limits sent in whole seconds (1000) or finer (1); -1: from the Asterisk version.
    ami_limit_precision_ms: int = -1
    ami_cdr_wait_ms: int = 3000  # after a hangup, wait this long for Asterisk's Cdr
    ami_recheck_seconds: int = 5  # a call its wallet could not lengthen asks again this often
    ami_reconnect_max_seconds: int = 30  # longest wait between two connection attempts
    ami_action_timeout_ms: int = 5000  # an AMI action unanswered this long has failed
    ami_db_workers: int = 8  # threads doing the listener's database work
    ami_hangup_poll_ms: int = 1000  # the listener reads the admin's hang-up requests this often
    unknown: tuple[str, ...] = field(default=(), compare=False)

    @property
    def precision(self) -> int:
        if self.display_precision >= 0:
            return self.display_precision
        return 0 if self.currency in _ZERO_DECIMAL_CURRENCIES else 2

    @property
    def call_mode_in_effect(self) -> str:
        """live or static: PULSA_CALL_MODE, with auto resolved."""
        if self.call_mode != "auto":
            return self.call_mode
        return "live" if self.ami_servers.strip() else "static"

    @property
    def fastagi_processes(self) -> int:
        """How many FastAGI worker processes to run (PULSA_AGI_WORKERS, 0 resolved)."""
        if self.agi_workers:
            return self.agi_workers
        return (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else os.cpu_count() or 1
        )

    @property
    def portal_address(self) -> str:
        """The portal's address for links and QR codes given to customers: PULSA_PORTAL_URL,
        else where `pulsa portal` listens."""
        if self.portal_url:
            return self.portal_url.rstrip("/")
        return f"http://{self.portal_host}:{self.portal_port}"

    @property
    def trusted_proxies(self) -> frozenset[str]:
        return frozenset(p.strip() for p in self.trusted_proxy.split(",") if p.strip())

    @property
    def line_configured(self) -> bool:
        """Whether the LINE bot runs (its webhook is mounted, its sender sends)."""
        return bool(self.line_channel_secret and self.line_access_token)

    @property
    def line_data_api_url(self) -> str:
        """Where message content (a customer's photo) is downloaded: LINE serves it from
        api-data.line.me; any other PULSA_LINE_API_URL (a proxy, a test server) serves both."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.line_api_url)
        if parts.hostname == "api.line.me":
            netloc = parts.netloc.replace("api.line.me", "api-data.line.me", 1)
            return urlunsplit(parts._replace(netloc=netloc))
        return self.line_api_url

    @property
    def identity_order(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.identify_by.split(",") if part.strip())

    @property
    def free_prefixes(self) -> tuple[str, ...]:
        return tuple(p.strip() for p in self.free_destinations.split(",") if p.strip())

    @property
    def min_credit_micro(self) -> int:
        from rating.money import parse_amount

        return parse_amount(self.min_credit, precision=self.precision, currency=self.currency)

    def with_overrides(self, **values: object) -> Settings:
        return _validated(replace(self, **values))


_PREFIX = "PULSA_"
_FIELDS = {f.name: f for f in fields(Settings) if f.name != "unknown"}
# Variables that are not settings but are read elsewhere on purpose.
_NOT_SETTINGS = {"PULSA_CONFIG"}


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment (and the PULSA_CONFIG file), checked."""
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    config_path = environ.get("PULSA_CONFIG")
    if config_path:
        values.update(_read_config_file(Path(config_path)))
    values.update({k: v for k, v in environ.items() if k.startswith(_PREFIX)})
    values = _with_country_defaults(values)
    kwargs: dict[str, object] = {}
    unknown = []
    for key, raw in values.items():
        if key in _NOT_SETTINGS or key.startswith("PULSA_TEST_"):
            continue
        name = key[len(_PREFIX) :].lower()
        spec = _FIELDS.get(name)
        if spec is None:
            unknown.append(key)
            continue
        kwargs[name] = _convert(key, raw, spec.type)
    return _validated(Settings(**kwargs, unknown=tuple(sorted(unknown))))


def _with_country_defaults(values: dict[str, str]) -> dict[str, str]:
    """PULSA_COUNTRY fills the country code, currency, time zone and language that are
    not set by their own variables."""
    key = values.get("PULSA_COUNTRY", "").strip()
    if not key:
        return values
    from pulsa.countries import COUNTRIES, country

    chosen = country(key)
    if chosen is None:
        raise SettingsError(
            f"PULSA_COUNTRY: {key!r} is not one of {', '.join(COUNTRIES)} (elsewhere, set "
            "PULSA_COUNTRY_CODE, PULSA_CURRENCY, PULSA_TIMEZONE and PULSA_LANGUAGE instead)"
        )
    defaults = {
        "PULSA_COUNTRY": chosen.key,
        "PULSA_COUNTRY_CODE": chosen.country_code,
        "PULSA_CURRENCY": chosen.currency,
        "PULSA_TIMEZONE": chosen.timezone,
        "PULSA_LANGUAGE": chosen.language,
    }
    return {**defaults, **{k: v for k, v in values.items() if k != "PULSA_COUNTRY"}}


def _read_config_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise SettingsError(f"cannot read config file {path}: {error.strerror}") from None
    values = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.startswith(_PREFIX):
            raise SettingsError(f"{path}:{number}: expected PULSA_NAME=value")
        values[key] = value.strip().strip('"').strip("'")
    return values


def _convert(key: str, raw: str, kind: object) -> object:
    if kind in (int, "int"):
        try:
            return int(raw.strip())
        except ValueError:
            raise SettingsError(f"{key} must be a whole number, not {raw!r}") from None
    return raw.strip()


def _validated(settings: Settings) -> Settings:
    if not settings.database_url:
        raise SettingsError("PULSA_DATABASE_URL is empty")
    currency = settings.currency.upper()
    if len(currency) != 3 or not currency.isalpha():
        raise SettingsError(f"PULSA_CURRENCY must be a 3-letter code, not {settings.currency!r}")
    if not -1 <= settings.display_precision <= 6:
        raise SettingsError("PULSA_DISPLAY_PRECISION must be between 0 and 6")
    try:
        ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"PULSA_TIMEZONE: unknown time zone {settings.timezone!r}") from None
    if settings.call_slice_seconds < 1:
        raise SettingsError("PULSA_CALL_SLICE_SECONDS must be at least 1")
    if settings.call_min_seconds < 0:
        raise SettingsError("PULSA_CALL_MIN_SECONDS must be zero or more")
    if settings.call_limit_ahead_seconds < 1:
        raise SettingsError("PULSA_CALL_LIMIT_AHEAD_SECONDS must be at least 1")
    if settings.call_mode not in ("auto", "live", "static"):
        raise SettingsError("PULSA_CALL_MODE must be 'auto', 'live' or 'static'")
    if settings.language not in ("en", "id"):
        raise SettingsError("PULSA_LANGUAGE must be 'en' or 'id'")
    if settings.hold_expiry_seconds < 60:
        raise SettingsError("PULSA_HOLD_EXPIRY_SECONDS must be at least 60")
    for name in ("web_port", "fastagi_port", "portal_port"):
        if not 0 <= getattr(settings, name) <= 65535:
            raise SettingsError(f"PULSA_{name.upper()} must be a TCP port")
    order = settings.identity_order
    if not order or set(order) - {"accountcode", "peer", "callerid"}:
        raise SettingsError(
            "PULSA_IDENTIFY_BY must list accountcode, peer and/or callerid, comma-separated"
        )
    for prefix in settings.free_prefixes:
        if not (prefix.isascii() and prefix.isdigit()):
            raise SettingsError(f"PULSA_FREE_DESTINATIONS: {prefix!r} is not a digit prefix")
    for name in ("outbound_prefix", "country_code", "trunk_prefix"):
        value = getattr(settings, name)
        if value and not (value.isascii() and value.isdigit()):
            raise SettingsError(f"PULSA_{name.upper()} must be digits, not {value!r}")
    try:
        if settings.min_credit_micro < 0:
            raise ValueError("it cannot be negative")
    except ValueError as error:
        raise SettingsError(f"PULSA_MIN_CREDIT: {error}") from None
    if not settings.upload_folder.strip():
        raise SettingsError("PULSA_UPLOAD_FOLDER is empty")
    if settings.agi_timeout_ms < 100:
        raise SettingsError("PULSA_AGI_TIMEOUT_MS must be at least 100")
    if not 0 <= settings.agi_workers <= 64:
        raise SettingsError(
            "PULSA_AGI_WORKERS must be between 1 and 64 FastAGI processes (0: one per CPU core)"
        )
    if settings.free_call_seconds < 1 or settings.max_concurrent_calls < 0:
        raise SettingsError(
            "PULSA_FREE_CALL_SECONDS must be positive, PULSA_MAX_CONCURRENT_CALLS zero or more"
        )
    _validate_hotspot(settings)
    _validate_ami(settings)
    settings = _with_line_checked(settings)
    if settings.trusted_proxy.strip():
        settings = _with_trusted_proxies_checked(settings)
    # An unset secret key stays empty: the web apps then use the one kept in the database
    # (wallet.site_secrets), so that a restart keeps staff signed in.
    return replace(settings, currency=currency)


def _with_trusted_proxies_checked(settings: Settings) -> Settings:
    """PULSA_TRUSTED_PROXY as addresses written the way the server reports peers."""
    # Imported here: only a site behind a proxy pays for it (the AGI script starts fast).
    import ipaddress

    written = []
    for part in sorted(settings.trusted_proxies):
        try:
            written.append(ipaddress.ip_address(part).compressed)
        except ValueError:
            raise SettingsError(
                f"PULSA_TRUSTED_PROXY: {part!r} is not an IP address (the proxy's address as "
                "this server sees it, e.g. 127.0.0.1; several comma-separated)"
            ) from None
    return replace(settings, trusted_proxy=",".join(written))


def _with_line_checked(settings: Settings) -> Settings:
    secret, token = settings.line_channel_secret, settings.line_access_token
    if bool(secret) != bool(token):
        raise SettingsError(
            "PULSA_LINE_CHANNEL_SECRET and PULSA_LINE_ACCESS_TOKEN go together (both from the "
            "channel's page in the LINE Developers console), or neither: LINE off"
        )
    url = settings.line_api_url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        raise SettingsError("PULSA_LINE_API_URL must start with http:// or https://")
    return replace(settings, line_api_url=url)


def _validate_hotspot(settings: Settings) -> None:
    if settings.router_key:
        # Imported here: settings must load (and fail clearly) without touching crypto.
        from cryptography.fernet import Fernet

        for part in settings.router_key.split(","):
            try:
                Fernet(part.strip())
            except ValueError:
                raise SettingsError(
                    "PULSA_ROUTER_KEY must be Fernet keys (32 url-safe base64 bytes), "
                    "comma-separated; `pulsa router keygen` prints a new one"
                ) from None
    if settings.hotspot_sync_seconds < 5:
        raise SettingsError("PULSA_HOTSPOT_SYNC_SECONDS must be at least 5")
    if not 1 <= settings.router_timeout_seconds <= 300:
        raise SettingsError("PULSA_ROUTER_TIMEOUT_SECONDS must be between 1 and 300")
    for name in ("hotspot_login_url", "portal_url", "telegram_api_url", "telegram_webhook_url"):
        value = getattr(settings, name)
        if value and not value.startswith(("http://", "https://")):
            raise SettingsError(f"PULSA_{name.upper()} must start with http:// or https://")
    if not settings.hotspot_login_url:
        raise SettingsError("PULSA_HOTSPOT_LOGIN_URL is empty")
    if not settings.telegram_api_url:
        raise SettingsError("PULSA_TELEGRAM_API_URL is empty")
    if settings.telegram_webhook_url and not settings.telegram_webhook_url.startswith("https://"):
        raise SettingsError("PULSA_TELEGRAM_WEBHOOK_URL must start with https://")


def _validate_ami(settings: Settings) -> None:
    if settings.ami_servers.strip():
        # Imported here: parsing lives with the listener, which pulsa may import.
        from ami_listener.config import parse_ami_servers

        try:
            parse_ami_servers(settings.ami_servers)
        except ValueError as error:
            raise SettingsError(f"PULSA_AMI_SERVERS: {error}") from None
    if not 2 <= settings.ami_renew_margin_seconds <= 3600:
        raise SettingsError("PULSA_AMI_RENEW_MARGIN_SECONDS must be between 2 and 3600")
    if not -1 <= settings.ami_safety_ms <= 10_000:
        raise SettingsError("PULSA_AMI_SAFETY_MS must be -1 (measured) or between 0 and 10000")
    if settings.ami_safety_ms + 1000 > settings.ami_renew_margin_seconds * 1000:
        raise SettingsError(
            "PULSA_AMI_RENEW_MARGIN_SECONDS must leave at least a second after PULSA_AMI_SAFETY_MS"
        )
    if settings.ami_limit_precision_ms not in (-1, 1, 10, 100, 1000):
        raise SettingsError(
            "PULSA_AMI_LIMIT_PRECISION_MS must be -1 (from the Asterisk version), 1, 10, 100 "
            "or 1000"
        )
    if not 0 <= settings.ami_cdr_wait_ms <= 60_000:
        raise SettingsError("PULSA_AMI_CDR_WAIT_MS must be between 0 and 60000")
    if settings.ami_recheck_seconds < 1:
        raise SettingsError("PULSA_AMI_RECHECK_SECONDS must be at least 1")
    if not 1 <= settings.ami_reconnect_max_seconds <= 3600:
        raise SettingsError("PULSA_AMI_RECONNECT_MAX_SECONDS must be between 1 and 3600")
    if settings.ami_action_timeout_ms < 100:
        raise SettingsError("PULSA_AMI_ACTION_TIMEOUT_MS must be at least 100")
    if not 1 <= settings.ami_db_workers <= 64:
        raise SettingsError("PULSA_AMI_DB_WORKERS must be between 1 and 64")
    if not 100 <= settings.ami_hangup_poll_ms <= 60_000:
        raise SettingsError("PULSA_AMI_HANGUP_POLL_MS must be between 100 and 60000")
