"""What choosing a country sets: the country code of telephone numbers, the currency,
the time zone and the default language. Used by PULSA_COUNTRY and by the admin's
first-run setup; anything not listed is "other", where each value is given by hand.

Facts only (ITU country codes, ISO 4217 currencies, IANA zones). Indonesia spans three
time zones, so it is offered three times.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Country:
    key: str  # what PULSA_COUNTRY and the setup form say
    name: str  # English; the admin translates it
    country_code: str
    currency: str
    timezone: str
    language: str  # en or id: the languages pulsa speaks


COUNTRIES: dict[str, Country] = {
    c.key: c
    for c in (
        Country("ID", "Indonesia (WIB, Jakarta)", "62", "IDR", "Asia/Jakarta", "id"),
        Country("ID-WITA", "Indonesia (WITA, Makassar)", "62", "IDR", "Asia/Makassar", "id"),
        Country("ID-WIT", "Indonesia (WIT, Jayapura)", "62", "IDR", "Asia/Jayapura", "id"),
        Country("MY", "Malaysia", "60", "MYR", "Asia/Kuala_Lumpur", "en"),
        Country("SG", "Singapore", "65", "SGD", "Asia/Singapore", "en"),
        Country("PH", "Philippines", "63", "PHP", "Asia/Manila", "en"),
        Country("TL", "Timor-Leste", "670", "USD", "Asia/Dili", "en"),
    )
}


def country(key: str) -> Country | None:
    return COUNTRIES.get(key.strip().upper())


def country_of(country_code: str, currency: str, timezone: str) -> Country | None:
    """The country whose values these are, if any (to show a site's choice again)."""
    for candidate in COUNTRIES.values():
        if (candidate.country_code, candidate.currency, candidate.timezone) == (
            country_code,
            currency,
            timezone,
        ):
            return candidate
    return None
