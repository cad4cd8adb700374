"""Reading the AMI events the listener cares about (as panoramisk delivers them: a
case-insensitive mapping whose repeated headers, such as `ChanVariable`, are lists).

Facts relied on, from the Asterisk 20 recordings in ../shared/fixtures/asterisk-20:

- `ChanVariable` headers appear only when manager.conf has `channelvars`, are repeated
  (a list) when it names several variables, and are not on every event of a channel that
  existed before a reload; `VarSet` is always sent when the dialplan sets a variable.
- `DialBegin`/`DialEnd` carry the calling channel (`Channel`, `Uniqueid`) and the dialled
  one (`DestChannel`, `DestUniqueid`); those of an Originate have no calling channel.
- A call through Local channels has several `Cdr` records; only the one whose `UniqueID` is
  the dialling channel (the caller's `;2` half) and whose `LastApplication` is `Dial` is
  billable. After a busy Dial the same channel gets a second record (`Hangup`, NO ANSWER).
- panoramisk drops a last header whose value is empty (`UserField: ` on every Cdr).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PULSA_CALL = "PULSA_CALL"
PULSA_STATUS = "PULSA_STATUS"

#: Dial's DIALSTATUS -> the CDR disposition an unanswered call is recorded with.
DIAL_DISPOSITIONS = {
    "ANSWER": "ANSWERED",
    "BUSY": "BUSY",
    "NOANSWER": "NO ANSWER",
    "CANCEL": "NO ANSWER",
    "CONGESTION": "FAILED",
    "CHANUNAVAIL": "FAILED",
    "DONTCALL": "FAILED",
    "TORTURE": "FAILED",
    "INVALIDARGS": "FAILED",
}


class AmiEvent(dict):
    """An event as the listener parses it: headers by lower-cased name, a repeated header
    as a list (as panoramisk does), looked up in any case. Parsing only this, for the few
    events the listener reads, costs a fraction of panoramisk's Message."""

    __slots__ = ()

    @classmethod
    def parse(cls, raw: str) -> AmiEvent:
        event = cls()
        for line in raw.split("\r\n"):
            key, sep, value = line.partition(": ")
            if not sep:
                if not line.endswith(":"):
                    continue
                key, value = line[:-1], ""
            name = key.lower()
            old = dict.get(event, name)
            if old is None:
                dict.__setitem__(event, name, value)
            elif isinstance(old, list):
                old.append(value)
            else:
                dict.__setitem__(event, name, [old, value])
        return event

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return dict.get(self, key.lower(), default)

    def __getitem__(self, key: str) -> Any:
        return dict.__getitem__(self, key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and dict.__contains__(self, key.lower())


def text(event: Mapping[str, Any], key: str) -> str:
    """A header as one string ("" when absent; the first value of a repeated header)."""
    value = event.get(key)
    if value is None:
        return ""
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return str(value)


def chanvars(event: Mapping[str, Any], key: str = "ChanVariable") -> dict[str, str]:
    """`ChanVariable: NAME=value` headers (one or several) as a dict."""
    value = event.get(key)
    if not value:
        return {}
    items = value if isinstance(value, list) else [value]
    found: dict[str, str] = {}
    for item in items:
        name, _, content = str(item).partition("=")
        found[name.strip()] = content.strip()
    return found


def _digits(value: str, most: int) -> int | None:
    """`value` as a whole number when it is 1 to `most` digits 0 to 9 ("²".isdigit() is
    true and int() reads "٥"), else None."""
    value = value.strip()
    if value.isascii() and value.isdigit() and len(value) <= most:
        return int(value)
    return None


def call_id_of(value: str) -> int | None:
    """A PULSA_CALL value as a call id (None when empty, not a number or beyond BIGINT)."""
    number = _digits(value or "", 18)
    return number if number else None


def hms_seconds(value: str) -> int:
    """`Duration: 00:01:05` of CoreShowChannel -> 65 (0 when unreadable)."""
    parts = (value or "").strip().split(":")
    numbers = [_digits(p, 9) for p in parts]
    if len(numbers) > 3 or None in numbers:
        return 0
    seconds = 0
    for number in numbers:
        seconds = seconds * 60 + number
    return max(seconds, 0)


@dataclass(frozen=True, slots=True)
class CdrRecord:
    """One `Cdr` event."""

    uniqueid: str
    channel: str
    dst_channel: str
    last_application: str
    disposition: str
    billsec: int
    duration: int

    @classmethod
    def from_event(cls, event: Mapping[str, Any]) -> CdrRecord:
        return cls(
            uniqueid=text(event, "UniqueID"),
            channel=text(event, "Channel"),
            dst_channel=text(event, "DestinationChannel"),
            last_application=text(event, "LastApplication"),
            disposition=text(event, "Disposition").upper(),
            billsec=_whole(text(event, "BillableSeconds")),
            duration=_whole(text(event, "Duration")),
        )

    @property
    def of_dial(self) -> bool:
        return self.last_application.lower() == "dial"

    @property
    def answered(self) -> bool:
        return self.disposition == "ANSWERED"


def _whole(value: str) -> int:
    return _digits(value, 9) or 0
