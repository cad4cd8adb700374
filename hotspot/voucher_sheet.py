"""Printable voucher sheets: one HTML page, A4 (a grid of cut-out cards) or a thermal
receipt roll (58 or 80 mm, one card under the other), each card with a QR code that
logs in through the hotspot's login URL.

The QR holds ``<login-url>?username=CODE&password=PASSWORD``: RouterOS's hotspot
accepts a login by GET on its ``/login`` page, and the login page pulsa generates
(`hotspot.pages`) finishes the login itself when the router only shows the form.
The page is static HTML with inline SVG (and the operator's logo inline as a data URI,
when there is one), so it prints from any browser offline. Its words come from the
caller (`SheetWords`, English by default) so that the admin prints it in the reader's
language, money already formatted in that locale.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.errors import NotFound
from wallet.hotspot_models import InternetPackage, Voucher, VoucherBatch
from wallet.internet import describe_package

LAYOUTS = ("a4", "thermal-58", "thermal-80")
# Vouchers on one printable sheet: each QR code takes some milliseconds to draw, so a
# big batch prints in parts (160 is ten A4 pages of 16 cards).
SHEET_SIZE = 160


@dataclass(frozen=True)
class VoucherCard:
    code: str
    password: str
    same_password: bool


@dataclass(frozen=True)
class SheetWords:
    """The sheet's words in the reader's language (`%s` in `scan`: the login address)."""

    language: str = "en"
    title: str = "Vouchers"
    cut: str = "Cut along the dashed lines."
    voucher_code: str = "voucher code"
    username: str = "username"
    password: str = "password"
    scan: str = "scan, or open %s"


@dataclass(frozen=True)
class SheetInfo:
    brand: str
    package: str
    price: str  # already formatted in the operator's currency
    validity: str  # "1 day", "30 days", "5 GB" ...
    login_url: str
    logo: str = ""  # a data: URI of the operator's logo; empty: none
    words: SheetWords = field(default_factory=SheetWords)


_LOGO_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


def logo_data_uri(data: bytes | None) -> str:
    """The operator's logo (PNG, JPEG or GIF, the types Settings takes) for the sheet;
    empty for anything else, so that a missing or odd logo never stops the printing."""
    for magic, kind in _LOGO_TYPES.items():
        if data and data.startswith(magic):
            return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"
    return ""


def login_link(login_url: str, code: str, password: str) -> str:
    """The URL a voucher's QR code opens: a one-tap login on the hotspot."""
    separator = "&" if "?" in login_url else "?"
    return f"{login_url}{separator}{urlencode({'username': code, 'password': password})}"


def qr_svg(data: str) -> str:
    """An inline SVG QR code. Always a full QR code: segno would pick a Micro QR for
    short data, which phone cameras do not read."""
    return segno.make_qr(data, error="m").svg_inline(scale=4, border=2, omitsize=True)


_STYLE = {
    "a4": """
@page { size: A4; margin: 8mm }
.sheet { display: grid; grid-template-columns: repeat(4, 1fr); gap: 0 }
.card { border: 1px dashed #777; padding: 2mm 2.5mm; height: 64mm; box-sizing: border-box;
        overflow: hidden }
.qr svg { width: 25mm; height: 25mm }
""",
    "thermal-58": """
@page { size: 58mm auto; margin: 1mm }
body { width: 56mm }
.card { border-bottom: 1px dashed #000; padding: 3mm 0 4mm }
.qr svg { width: 36mm; height: 36mm }
""",
    "thermal-80": """
@page { size: 80mm auto; margin: 2mm }
body { width: 76mm }
.card { border-bottom: 1px dashed #000; padding: 3mm 0 4mm }
.qr svg { width: 44mm; height: 44mm }
""",
}

_COMMON = """
* { -webkit-print-color-adjust: exact; print-color-adjust: exact }
body { font-family: "DejaVu Sans", Arial, sans-serif; color: #000; margin: 0 }
.card { break-inside: avoid; page-break-inside: avoid; text-align: center }
.head { font-size: 8pt; margin: 0 0 2mm; display: flex; justify-content: space-between }
.brand { font-weight: bold; font-size: 10pt; overflow-wrap: anywhere }
.brand img { max-height: 7mm; max-width: 30mm; vertical-align: middle; margin-right: 1mm }
.package { font-size: 8pt; overflow-wrap: anywhere }
.price { font-weight: bold; font-size: 11pt }
.label { font-size: 7pt; text-transform: uppercase; color: #333 }
.code { font-family: "DejaVu Sans Mono", monospace; font-weight: bold; font-size: 13pt;
        letter-spacing: .08em }
.qr { margin: 1mm 0 }
.url { font-size: 6.5pt; word-break: break-all }
"""


def _brand(info: SheetInfo) -> str:
    logo = f'<img src="{html.escape(info.logo)}" alt="">' if info.logo else ""
    return f'<div class="brand">{logo}{html.escape(info.brand)}</div>'


def _card(card: VoucherCard, info: SheetInfo) -> str:
    e, words = html.escape, info.words
    if card.same_password:
        credentials = (
            f'<div class="label">{e(words.voucher_code)}</div>'
            f'<div class="code">{e(card.code)}</div>'
        )
    else:
        credentials = (
            f'<div class="label">{e(words.username)}</div><div class="code">{e(card.code)}</div>'
            f'<div class="label">{e(words.password)}</div>'
            f'<div class="code">{e(card.password)}</div>'
        )
    return (
        '<div class="card">'
        f"{_brand(info)}"
        f'<div class="package">{e(info.package)} &middot; {e(info.validity)}</div>'
        f'<div class="price">{e(info.price)}</div>'
        f'<div class="qr">{qr_svg(login_link(info.login_url, card.code, card.password))}</div>'
        f"{credentials}"
        f'<div class="url">{e(words.scan.replace("%s", info.login_url))}</div>'
        "</div>"
    )


def render_sheet(cards: Sequence[VoucherCard], info: SheetInfo, layout: str = "a4") -> str:
    """The whole printable page."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
    e, words = html.escape, info.words
    title = e(f"{info.brand} · {words.title}: {info.package}")
    body = "\n".join(_card(card, info) for card in cards)
    head = (
        f'<p class="head"><strong>{e(info.brand)}</strong><span>&#9986; {e(words.cut)}</span></p>'
    )
    return (
        f'<!doctype html>\n<html lang="{e(words.language)}"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_COMMON}{_STYLE[layout]}</style></head>\n"
        f'<body class="{layout}">{head}<div class="sheet">\n{body}\n</div></body></html>\n'
    )


def batch_sheet(
    session: Session,
    batch_id: int,
    *,
    brand: str,
    default_login_url: str,
    price_text: Callable[[int], str],
    credit_name: str,
    credit_validity: str,
    layout: str = "a4",
    part: int = 1,
    unsold_only: bool = True,
    logo: bytes | None = None,
    words: SheetWords | None = None,
    describe: Callable[[InternetPackage], str] = describe_package,
    size: int = SHEET_SIZE,
    login_url: str | None = None,
) -> str:
    """The printable sheet of part `part` (SHEET_SIZE cards each) of a voucher batch:
    its unsold vouchers, or all of them. The login URL is the first of the package's
    routers that has one, else `default_login_url`; `price_text` formats money in the
    reader's currency, `credit_name` and `credit_validity` name a credit voucher (one
    without a package) in the reader's language, `describe` says what a package gives
    (in that language too), `words` are the sheet's words and `logo` the operator's
    logo file (left out when it is none or not an image). `size` cards make a part;
    `login_url`, when given, is used instead of the routers' and the default."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
    batch = session.get(VoucherBatch, batch_id)
    if batch is None:
        raise NotFound(f"voucher batch {batch_id} does not exist")
    statement = select(Voucher).where(Voucher.batch_id == batch_id).order_by(Voucher.id)
    if unsold_only:
        statement = statement.where(Voucher.status == "new")
    offset = (max(part, 1) - 1) * size
    vouchers = session.execute(statement.limit(size).offset(offset)).scalars().all()
    package = batch.package
    routers = package.routers if package is not None else []
    login_url = login_url or next((r.login_url for r in routers if r.login_url), default_login_url)
    info = SheetInfo(
        brand=brand,
        package=package.name if package is not None else credit_name,
        price=price_text(batch.price),
        validity=describe(package) if package is not None else credit_validity,
        login_url=login_url,
        logo=logo_data_uri(logo),
        words=words or SheetWords(),
    )
    cards = [VoucherCard(v.code, v.password, not batch.separate_password) for v in vouchers]
    return render_sheet(cards, info, layout)
