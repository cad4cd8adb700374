"""Printable voucher sheets: one HTML page, A4 (a grid of cut-out cards) or a thermal
receipt roll (58 or 80 mm, one card under the other), each card with a QR code that
logs in through the hotspot's login URL.

The QR holds ``<login-url>?username=CODE&password=PASSWORD``: RouterOS's hotspot
accepts a login by GET on its ``/login`` page, and the login page pulsa generates
(`hotspot.pages`) finishes the login itself when the router only shows the form.
The page is static HTML with inline SVG, so it prints from any browser offline.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlencode

import segno
from sqlalchemy import select
from sqlalchemy.orm import Session

from wallet.errors import NotFound
from wallet.hotspot_models import Voucher, VoucherBatch
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
class SheetInfo:
    brand: str
    package: str
    price: str  # already formatted in the operator's currency
    validity: str  # "1 day", "30 days", "5 GB" ...
    login_url: str


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
.sheet { display: grid; grid-template-columns: repeat(4, 1fr); gap: 2mm }
.card { border: 1px dashed #777; padding: 2mm 2.5mm; height: 62mm; box-sizing: border-box }
.qr svg { width: 26mm; height: 26mm }
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
.brand { font-weight: bold; font-size: 10pt }
.package { font-size: 9pt }
.price { font-weight: bold; font-size: 11pt }
.label { font-size: 7pt; text-transform: uppercase; color: #333 }
.code { font-family: "DejaVu Sans Mono", monospace; font-weight: bold; font-size: 13pt;
        letter-spacing: .08em }
.qr { margin: 1mm 0 }
.url { font-size: 6.5pt; word-break: break-all }
"""


def _card(card: VoucherCard, info: SheetInfo) -> str:
    e = html.escape
    if card.same_password:
        credentials = f'<div class="label">voucher code</div><div class="code">{e(card.code)}</div>'
    else:
        credentials = (
            f'<div class="label">username</div><div class="code">{e(card.code)}</div>'
            f'<div class="label">password</div><div class="code">{e(card.password)}</div>'
        )
    return (
        '<div class="card">'
        f'<div class="brand">{e(info.brand)}</div>'
        f'<div class="package">{e(info.package)} &middot; {e(info.validity)}</div>'
        f'<div class="price">{e(info.price)}</div>'
        f'<div class="qr">{qr_svg(login_link(info.login_url, card.code, card.password))}</div>'
        f"{credentials}"
        f'<div class="url">scan, or open {e(info.login_url)}</div>'
        "</div>"
    )


def render_sheet(cards: Sequence[VoucherCard], info: SheetInfo, layout: str = "a4") -> str:
    """The whole printable page."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
    title = html.escape(f"{info.brand} vouchers: {info.package}")
    body = "\n".join(_card(card, info) for card in cards)
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>{_COMMON}{_STYLE[layout]}</style></head>\n"
        f'<body class="{layout}"><div class="sheet">\n{body}\n</div></body></html>\n'
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
) -> str:
    """The printable sheet of part `part` (SHEET_SIZE cards each) of a voucher batch:
    its unsold vouchers, or all of them. The login URL is the first of the package's
    routers that has one, else `default_login_url`; `price_text` formats money in the
    reader's currency, `credit_name` and `credit_validity` name a credit voucher (one
    without a package) in the reader's language."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}")
    batch = session.get(VoucherBatch, batch_id)
    if batch is None:
        raise NotFound(f"voucher batch {batch_id} does not exist")
    statement = select(Voucher).where(Voucher.batch_id == batch_id).order_by(Voucher.id)
    if unsold_only:
        statement = statement.where(Voucher.status == "new")
    offset = (max(part, 1) - 1) * SHEET_SIZE
    vouchers = session.execute(statement.limit(SHEET_SIZE).offset(offset)).scalars().all()
    package = batch.package
    routers = package.routers if package is not None else []
    login_url = next((r.login_url for r in routers if r.login_url), default_login_url)
    info = SheetInfo(
        brand=brand,
        package=package.name if package is not None else credit_name,
        price=price_text(batch.price),
        validity=describe_package(package) if package is not None else credit_validity,
        login_url=login_url,
    )
    cards = [VoucherCard(v.code, v.password, not batch.separate_password) for v in vouchers]
    return render_sheet(cards, info, layout)
