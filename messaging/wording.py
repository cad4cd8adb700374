"""How pulsa words things for customers, shared by the portal and the chat bots: amounts
in the operator's currency, durations, dialled numbers, and the ledger entries of a
wallet in plain words.

No web framework and no catalogue of its own: each function takes the reader's
`gettext` (`_(text, **values)`: Flask-Babel's in the portal, `bots.i18n.gettext_for` in a
chat) and locale, and its texts are extracted into both catalogues (portal/README.md,
bots/README.md).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_datetime
from babel.numbers import format_decimal
from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet import display, references
from wallet.hotspot_models import InternetPackage
from wallet.models import Call, CallRecord, LedgerEntry

Gettext = Callable[..., str]
MICRO = Decimal(1_000_000)


def N_(text: str) -> str:
    """Marks a text for the catalogues; translated where it is used."""
    return text


METHOD_LABELS = {
    "cash": N_("Top-up, cash"),
    "bank_transfer": N_("Top-up, bank transfer"),
    "e_wallet": N_("Top-up, e-wallet"),
    "other": N_("Top-up"),
}


def money_text(micro: int, *, currency: str, precision: int, locale: str | Locale) -> str:
    """An amount in the operator's currency and precision, the reader's way ("Rp12.500"
    in Indonesian, "IDR 12,500" in English; without a currency, "12.500"): the one money
    formatting of pulsa, wallet.display.money_text, as in the admin."""
    return display.money_text(
        int(micro),
        precision=precision,
        currency=currency,
        locale=locale,
        with_currency=bool(currency),
    )


def when_text(moment: datetime, *, timezone: str, locale: str, style: str = "medium") -> str:
    """A stored naive-UTC moment in the operator's time zone, in the reader's language."""
    local = moment.replace(tzinfo=UTC).astimezone(ZoneInfo(timezone))
    return format_datetime(local, style, locale=locale)


def data_size_text(size: int, *, locale: str) -> str:
    """1.5 GB, 200 MB (binary units, one decimal)."""
    for suffix, power in (("GB", 3), ("MB", 2), ("KB", 1)):
        if size >= 1024**power:
            value = Decimal(size) / Decimal(1024**power)
            return f"{format_decimal(value.quantize(Decimal('0.1')), locale=locale)} {suffix}"
    return f"{size} B"


VALIDITY_UNITS = {
    "minutes": (N_("1 minute"), N_("%(n)s minutes")),
    "hours": (N_("1 hour"), N_("%(n)s hours")),
    "days": (N_("1 day"), N_("%(n)s days")),
    "months": (N_("1 month"), N_("%(n)s months")),
}


def package_text(
    package: InternetPackage,
    _: Gettext,
    *,
    locale: str,
    duration: Callable[[int], str] | None = None,
) -> str:
    """What a package gives, in words: "7 days, 5.0 GB, 10 h 0 min online" (`duration`
    words the time online, when the caller has its own way: the portal's "10 h")."""
    one, many = VALIDITY_UNITS.get(package.validity_unit, (None, None))
    if one is None:
        parts = [f"{package.validity_value} {package.validity_unit}"]
    elif package.validity_value == 1:
        parts = [_(one)]
    else:
        parts = [_(many, n=package.validity_value)]
    if package.limit_bytes_total:
        parts.append(data_size_text(package.limit_bytes_total, locale=locale))
    if package.limit_uptime:
        time = (duration or (lambda seconds: duration_text(seconds, _)))(package.limit_uptime)
        parts.append(_("%(time)s online", time=time))
    return ", ".join(parts)


def calls_of_entries(
    session: Session, entries: list[LedgerEntry]
) -> list[tuple[LedgerEntry, str | None, int | None]]:
    """Each entry with the number its call dialled and the call's billed seconds (None
    for entries that are not calls, or calls not finished yet): what `describe_entry`
    needs, in two small IN queries per 500 entries."""
    holds = sorted({entry.hold_id for entry in entries if entry.hold_id is not None})
    dialled: dict[int, str] = {}
    billed: dict[int, int] = {}
    for start in range(0, len(holds), 500):
        chunk = holds[start : start + 500]
        calls = select(Call.hold_id, Call.dialled).where(Call.hold_id.in_(chunk))
        dialled.update((hold, number) for hold, number in session.execute(calls))
        records = select(CallRecord.hold_id, CallRecord.billsec).where(
            CallRecord.hold_id.in_(chunk)
        )
        billed.update((hold, seconds) for hold, seconds in session.execute(records))
    return [(entry, dialled.get(entry.hold_id), billed.get(entry.hold_id)) for entry in entries]


def duration_text(seconds: int, _: Gettext) -> str:
    """`3 min 12 s`, `2 h 5 min`, `45 s`."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("%(h)s h %(m)s min", h=hours, m=minutes)
    if minutes:
        return _("%(m)s min %(s)s s", m=minutes, s=secs)
    return _("%(s)s s", s=secs)


def display_number(number: str, *, country_code: str = "", trunk_prefix: str = "0") -> str:
    """A dialled number as people write it at home: 6281234567890 -> 0812-3456-7890 (for
    the operator's country code), grouped by four."""
    digits = number or ""
    if country_code and digits.startswith(country_code) and len(digits) > 8:
        digits = trunk_prefix + digits[len(country_code) :]
    if not digits.isdigit() or len(digits) < 8:
        return number
    return "-".join(digits[i : i + 4] for i in range(0, len(digits), 4))


def describe_entry(
    entry: LedgerEntry,
    dialled: str | None,
    billsec: int | None,
    _: Gettext,
    *,
    country_code: str = "",
    trunk_prefix: str = "0",
) -> str:
    """One ledger entry in plain words: "Call to 0812-3456-7890, 3 min 12 s",
    "Internet package Weekly", "Top-up, bank transfer, ref 123". `dialled` and
    `billsec` are those of the entry's call, when it is one."""
    kind = entry.kind
    if kind == "topup":
        if entry.method == "voucher":
            return _("Voucher")
        text = _(METHOD_LABELS.get(entry.method or "other", METHOD_LABELS["other"]))
        fact = references.read_reference(kind, entry.reference)
        if fact is None or fact.what != references.TYPED:
            # No reference, or the number of the top-up request pulsa wrote itself.
            return text
        return _("%(what)s, ref %(ref)s", what=text, ref=entry.reference)
    if kind == "call":
        number = display_number(
            dialled or "", country_code=country_code, trunk_prefix=trunk_prefix
        ) or _("unknown number")
        if billsec is None:
            return _("Call to %(number)s", number=number)
        return _(
            "Call to %(number)s, %(duration)s", number=number, duration=duration_text(billsec, _)
        )
    if kind == "package":
        fact = references.read_reference(kind, entry.reference)
        if fact is not None and fact.what == references.EXTENSION:
            days = fact.values["days"]
            if days == 1:
                return _("Internet package extended by 1 day")
            return _("Internet package extended by %(n)s days", n=days)
        # "<package> for <login>": the customer knows their login.
        name = fact.values.get("package", fact.values.get("text", "")) if fact else ""
        return _("Internet package %(name)s", name=name)
    if kind == "voucher":
        return _("Voucher")
    if kind == "refund":
        return _("Refund")
    if kind == "adjustment":
        if references.read_note(kind, entry.note) == references.Fact(references.DEMO_OPENING):
            return _("Demo opening balance")
        return _("Correction: %(reason)s", reason=entry.note or "")
    if kind == "transfer":
        return _("Transfer received") if entry.amount > 0 else _("Transfer sent")
    return kind
