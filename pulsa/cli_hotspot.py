"""`pulsa router`, `pulsa package`, `pulsa hotspot` and `pulsa voucher`: the internet side
from the command line. Registered through COMMAND_MODULES in pulsa/cli.py."""

from __future__ import annotations

import os
import re
import sys
import uuid

import click
from sqlalchemy import select

from pulsa.cli import WHOLE, Context, UserError, pass_context
from pulsa.settings import Settings
from rating import AmountError, parse_amount

_ACTOR = os.environ.get("USER", "cli")
_VALIDITY = re.compile(r"([0-9]{1,6})\s*(mo|months?|m|min|minutes?|h|hours?|d|days?)", re.ASCII)
_UNITS = {"mo": "months", "m": "minutes", "min": "minutes", "h": "hours", "d": "days"}
_BYTES = re.compile(r"([0-9]{1,15})\s*([KMGT]?)i?B?", re.IGNORECASE | re.ASCII)


# --- parsing helpers -----------------------------------------------------------------------


def _ascii_digits(text: str, most: int) -> bool:
    """Digits 0 to 9 only, at most `most` of them ("²".isdigit() is true)."""
    return text.isascii() and text.isdigit() and len(text) <= most


def _money(settings: Settings, text: str, *, allow_zero: bool = True) -> int:
    """An amount typed on the command line, read as the web admin reads it."""
    try:
        micro = parse_amount(text, precision=settings.precision, currency=settings.currency)
    except AmountError as error:
        raise UserError(f"bad amount: {error}") from None
    if micro < 0 or (micro == 0 and not allow_zero):
        raise UserError(f"bad amount {text!r}: must be greater than zero")
    return micro


def parse_validity(text: str) -> tuple[int, str]:
    """`30d`, `12h`, `90m`, `1mo` -> (value, unit)."""
    match = _VALIDITY.fullmatch(text.strip().lower())
    if not match:
        raise UserError(f"bad validity {text!r}: use e.g. 90m, 12h, 30d or 1mo")
    unit = match.group(2)
    unit = _UNITS.get(unit, unit if unit.endswith("s") else unit + "s")
    return int(match.group(1)), unit


def parse_bytes(text: str) -> int:
    """`500M`, `5G`, `5GiB`, `1073741824`: RouterOS counts K as 1024."""
    match = _BYTES.fullmatch(text.strip())
    if not match:
        raise UserError(f"bad data quota {text!r}: use e.g. 500M or 5G")
    power = " KMGT".index(match.group(2).upper() or " ")
    return int(match.group(1)) * 1024**power


def _seconds(text: str) -> int:
    from hotspot.driver import parse_duration

    try:
        return parse_duration(text)
    except ValueError:
        raise UserError(f"bad time quota {text!r}: use e.g. 2h, 1d12h or 90m") from None


def _keyring(ctx: Context):
    from hotspot.credentials import CredentialError, RouterKeyring

    try:
        return RouterKeyring(ctx.settings.router_key)
    except CredentialError as error:
        raise UserError(str(error)) from None


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2), ("K", 1024)):
        if value >= size and value % size == 0:
            return f"{value // size}{unit}"
    return str(value)


# --- routers -------------------------------------------------------------------------------


@click.group()
def router() -> None:
    """MikroTik routers pulsa provisions."""


@router.command("keygen")
def router_keygen() -> None:
    """Print a new key for PULSA_ROUTER_KEY (router passwords are encrypted with it)."""
    from hotspot.credentials import generate_key

    click.echo(generate_key())


@router.command("add")
@click.argument("name")
@click.argument("host")
@click.option("--user", "username", required=True, help="RouterOS API user.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    envvar="ROUTEROS_PASSWORD",
    help="API password (asked when not given; or ROUTEROS_PASSWORD).",
)
@click.option("--port", type=WHOLE, help="API port (8728, or 8729 with --tls).")
@click.option("--tls", is_flag=True, help="Use api-ssl.")
@click.option("--no-verify", is_flag=True, help="Do not check the router's TLS certificate.")
@click.option("--server", default="all", show_default=True, help="Hotspot server name.")
@click.option("--login-url", help="Hotspot login URL for voucher QR codes.")
@pass_context
def router_add(
    ctx: Context, name, host, username, password, port, tls, no_verify, server, login_url
):
    """Register a router (the password is stored encrypted)."""
    from hotspot.routers import add_router

    ring = _keyring(ctx)
    router_id = ctx.database().run(
        lambda s: (
            add_router(
                s,
                ring,
                name,
                host,
                username=username,
                password=password,
                port=port,
                tls=tls,
                tls_verify=not no_verify,
                hotspot_server=server,
                login_url=login_url,
            ).id
        )
    )
    click.echo(f"router {router_id} {name!r} added; check it with `pulsa router test {name}`")


@router.command("list")
@pass_context
def router_list(ctx: Context) -> None:
    """Routers with the outcome of their last sync."""
    from hotspot.routers import list_routers

    with ctx.database().transaction() as session:
        routers = list_routers(session)
        if not routers:
            click.echo("no routers")
            return
        for r in routers:
            state = "never synced"
            if r.last_sync_at is not None:
                outcome = "ok" if r.last_sync_ok else f"FAILED: {r.last_error}"
                state = f"last sync {r.last_sync_at:%Y-%m-%d %H:%M:%S} {outcome}"
            flags = ("tls " if r.use_tls else "") + ("" if r.enabled else "disabled ")
            click.echo(f"{r.id:>4}  {r.name:<20} {r.host}:{r.api_port} {flags}{state}")


@router.command("test")
@click.argument("name")
@pass_context
def router_test(ctx: Context, name) -> None:
    """Connect to a router and show its identity, load, interfaces and active users."""
    from hotspot.driver import RouterError
    from hotspot.routers import access_for, default_driver, get_router, read_live_view

    ring = _keyring(ctx)
    with ctx.database().transaction() as session:
        access = access_for(get_router(session, name), ring)
    driver = default_driver(access, float(ctx.settings.router_timeout_seconds))
    try:
        view = read_live_view(driver)
    except RouterError as error:
        raise UserError(f"router {name}: {error.message}") from None
    finally:
        driver.close()
    s = view.status
    click.echo(f"{s.identity}: RouterOS {s.version} on {s.board_name}")
    click.echo(
        f"  cpu {s.cpu_load}%, memory {s.free_memory // 2**20} MiB free of "
        f"{s.total_memory // 2**20} MiB, up {s.uptime_seconds // 86400}d "
        f"{s.uptime_seconds % 86400 // 3600}h"
    )
    for i in view.interfaces:
        state = "running" if i.running else ("disabled" if i.disabled else "down")
        click.echo(f"  {i.name:<16} {i.type:<8} {state:<8} rx {i.rx_bytes} tx {i.tx_bytes}")
    if view.interface_error:
        click.echo(f"  interfaces unreadable: {view.interface_error}")
    click.echo(f"  {len(view.active)} active hotspot user(s)")
    for a in view.active:
        click.echo(f"    {a.user:<20} {a.address:<15} {a.mac_address} up {a.uptime_seconds}s")


@router.command("password")
@click.argument("name")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@pass_context
def router_password(ctx: Context, name, password) -> None:
    """Change the stored API password of a router."""
    from hotspot.routers import set_router_password

    ring = _keyring(ctx)
    ctx.database().run(lambda s: set_router_password(s, ring, name, password))
    click.echo(f"router {name!r}: password changed")


@router.command("rekey")
@pass_context
def router_rekey(ctx: Context) -> None:
    """Re-encrypt router passwords with the first key of PULSA_ROUTER_KEY."""
    from hotspot.routers import rekey_routers

    ring = _keyring(ctx)
    count = ctx.database().run(lambda s: rekey_routers(s, ring))
    click.echo(f"{count} router password(s) re-encrypted")


# --- packages ------------------------------------------------------------------------------


@click.group()
def package() -> None:
    """Internet packages customers buy."""


@package.command("add")
@click.argument("name")
@click.argument("price")
@click.option("--validity", required=True, help="How long it lasts: 90m, 12h, 30d, 1mo.")
@click.option("--uptime", help="Time online it allows in total, e.g. 10h.")
@click.option("--data", help="Data it allows in total, e.g. 5G.")
@click.option("--rate", help="RouterOS rate limit upload/download, e.g. '512k/2M' (burst too).")
@click.option("--shared", default="1", show_default=True, help="Devices at once, or unlimited.")
@click.option("--profile", help="RouterOS profile name (default: the package name).")
@click.option("--router", "routers", multiple=True, help="Router name (default: all routers).")
@click.option("--description", default="")
@pass_context
def package_add(
    ctx: Context, name, price, validity, uptime, data, rate, shared, profile, routers, description
):
    """Add an internet package."""
    from hotspot.routers import get_router, list_routers
    from wallet.internet import create_package

    value, unit = parse_validity(validity)
    shared_users = (
        None if shared == "unlimited" else int(shared) if _ascii_digits(shared, 6) else -1
    )

    def work(session):
        chosen = [get_router(session, r) for r in routers] or list_routers(session)
        return create_package(
            session,
            name,
            price=_money(ctx.in_effect, price),
            validity_value=value,
            validity_unit=unit,
            profile_name=profile,
            limit_uptime=_seconds(uptime) if uptime else None,
            limit_bytes_total=parse_bytes(data) if data else None,
            rate_limit=rate,
            shared_users=shared_users,
            router_ids=[r.id for r in chosen],
            description=description,
        )

    created = ctx.database().run(work)
    click.echo(f"package {created.id} {created.name!r} added")


@package.command("list")
@pass_context
def package_list(ctx: Context) -> None:
    """Internet packages with their limits and routers."""
    from wallet.hotspot_models import InternetPackage

    with ctx.database().transaction() as session:
        packages = session.execute(select(InternetPackage).order_by(InternetPackage.id)).scalars()
        shown = False
        for p in packages:
            shown = True
            routers = ",".join(r.name for r in p.routers) or "no router"
            click.echo(
                f"{p.id:>4}  {p.name:<24} {ctx.money(p.price):>14}  {p.validity_value} "
                f"{p.validity_unit:<7} uptime {p.limit_uptime or '-'}s data "
                f"{_size(p.limit_bytes_total)} rate {p.rate_limit or '-'} shared "
                f"{p.shared_users or 'unlimited'}  [{routers}]" + ("" if p.active else " (retired)")
            )
        if not shown:
            click.echo("no packages")


# --- hotspot -------------------------------------------------------------------------------


@click.group()
def hotspot() -> None:
    """Hotspot logins, purchases and the router reconciler."""


@hotspot.command("login")
@click.argument("customer_id", type=WHOLE)
@click.argument("username")
@click.option("--password", help="Default: a random 8-character password.")
@pass_context
def hotspot_login(ctx: Context, customer_id, username, password) -> None:
    """Give a customer a hotspot username."""
    from wallet.internet import create_login

    login = ctx.database().run(lambda s: create_login(s, customer_id, username, password))
    click.echo(f"login {login.id}: {login.username} / {login.password}")


@hotspot.command("buy")
@click.argument("username")
@click.argument("package_name")
@click.option("--auto-renew", is_flag=True, help="Renew from the balance when it ends.")
@click.option("--key", help="Idempotency key: the same key never buys twice.")
@pass_context
def hotspot_buy(ctx: Context, username, package_name, auto_renew, key) -> None:
    """Buy a package for a login, from its owner's wallet."""
    from wallet.internet import buy_package, find_login, get_package

    key = key or f"cli-buy-{uuid.uuid4()}"

    def work(session):
        login = find_login(session, username)
        if login is None:
            raise UserError(f"no hotspot login {username!r}")
        package_ = get_package(
            session, int(package_name) if _ascii_digits(package_name, 18) else package_name
        )
        return buy_package(
            session, login.id, package_.id, key=key, actor=_ACTOR, auto_renew=auto_renew
        )

    sub = ctx.database().run(work)
    click.echo(f"subscription {sub.id}: {ctx.money(sub.price)} paid, {_validity(sub)}")


def _validity(sub) -> str:
    """When a subscription is valid; one that waits for its start says so."""
    if sub.awaits_start:
        return "its validity starts when a router takes it (or at the first login, see Settings)"
    return f"valid {sub.starts_at:%Y-%m-%d %H:%M} to {sub.ends_at:%Y-%m-%d %H:%M} UTC"


@hotspot.command("extend")
@click.argument("subscription_id", type=WHOLE)
@click.argument("days", type=WHOLE)
@click.option("--price", default="0", show_default=True, help="Charged to the wallet.")
@click.option("--reason", default="", help="Required when free (trial, reward ...).")
@click.option("--key", help="Idempotency key.")
@pass_context
def hotspot_extend(ctx: Context, subscription_id, days, price, reason, key) -> None:
    """Extend a subscription by DAYS (free with a reason, or paid)."""
    from wallet.internet import extend_subscription

    extension = ctx.database().run(
        lambda s: extend_subscription(
            s,
            subscription_id,
            days,
            key=key or f"cli-extend-{uuid.uuid4()}",
            actor=_ACTOR,
            reason=reason,
            price=_money(ctx.in_effect, price),
        )
    )
    click.echo(
        f"subscription {subscription_id} now ends {extension.new_ends_at:%Y-%m-%d %H:%M} UTC"
    )


@hotspot.command("sync")
@click.option("--router", "routers", multiple=True, help="Only this router (repeatable).")
@click.option("--prune", is_flag=True, help="Remove users pulsa tagged but no longer knows.")
@click.option("--quiet", is_flag=True, help="Only the summary line per router.")
@pass_context
def hotspot_sync(ctx: Context, routers, prune, quiet) -> None:
    """Renew or expire what is due, then bring every router to the database's state.

    Exits 1 when a router could not be synced (it is tried again on the next run).
    """
    from hotspot.reconciler import sync_all
    from hotspot.routers import get_router

    db = ctx.database()
    ring = _keyring(ctx)
    ids = None
    if routers:
        with db.transaction() as session:
            ids = [get_router(session, name).id for name in routers]
    report = sync_all(
        db,
        ring,
        router_ids=ids,
        prune=prune,
        timeout=float(ctx.settings.router_timeout_seconds),
    )
    if report.due is not None and (report.due.renewed or report.due.expired):
        click.echo(
            f"subscriptions: {len(report.due.renewed)} renewed, {len(report.due.expired)} expired"
        )
    for r in report.routers:
        if not r.ok:
            click.echo(f"{r.router}: FAILED {r.error}")
            continue
        click.echo(
            f"{r.router}: {len(r.added)} added, {len(r.updated)} updated, {r.unchanged} unchanged,"
            f" {len(r.kicked)} kicked ({r.seconds:.2f}s)"
        )
        if quiet:
            continue
        for label, names in (
            ("re-created (the router had lost them)", r.missing),
            ("tagged by pulsa but unknown to the database", r.unknown_managed),
            ("removed", r.removed),
            ("not managed by pulsa (left alone)", r.unmanaged),
            ("counters reset for a new subscription", r.counters_reset),
            ("vouchers used for the first time", r.vouchers_first_used),
        ):
            if names:
                click.echo(
                    f"  {label}: {', '.join(names[:20])}" + (" ..." if len(names) > 20 else "")
                )
    if not report.routers:
        click.echo("no routers to sync")
    if not report.ok:
        sys.exit(1)


# --- vouchers ------------------------------------------------------------------------------


@click.group()
def voucher() -> None:
    """Voucher batches: generate, print, sell, redeem."""


@voucher.command("generate")
@click.argument("package_name", required=False)
@click.option("--count", type=WHOLE, required=True, help="How many (up to 10,000).")
@click.option("--length", type=WHOLE, default=8, show_default=True, help="Code length.")
@click.option("--prefix", default="", help="Put before every code, e.g. RW5-.")
@click.option(
    "--alphabet",
    type=click.Choice(["upper", "lower", "digits"]),
    default="upper",
    show_default=True,
)
@click.option("--separate-password", is_flag=True, help="A password apart from the code.")
@click.option("--price", help="Face value (default: the package's price).")
@click.option("--note", default="")
@pass_context
def voucher_generate(
    ctx: Context, package_name, count, length, prefix, alphabet, separate_password, price, note
):
    """Generate a batch for PACKAGE_NAME (none: credit-only vouchers, needs --price)."""
    from wallet.vouchers import generate_batch

    batch = ctx.database().run(
        lambda s: generate_batch(
            s,
            count=count,
            package=package_name,
            length=length,
            prefix=prefix,
            alphabet=alphabet,
            separate_password=separate_password,
            price=_money(ctx.in_effect, price) if price is not None else None,
            note=note,
            actor=_ACTOR,
        )
    )
    click.echo(
        f"batch {batch.id}: {batch.count} vouchers worth {ctx.money(batch.price)} each; "
        f"print them with `pulsa voucher print {batch.id}`"
    )


@voucher.command("print")
@click.argument("batch_id", type=WHOLE)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="HTML file to write.")
@click.option(
    "--layout",
    type=click.Choice(["a4", "thermal-58", "thermal-80"]),
    default="a4",
    show_default=True,
)
@click.option("--login-url", help="Hotspot login URL (default: the router's, or the setting).")
@click.option("--all", "everything", is_flag=True, help="Also vouchers already sold or used.")
@click.option(
    "--language",
    type=click.Choice(["en", "id"]),
    help="Language of the sheet (default: the site's, from Settings or the first-run setup).",
)
@pass_context
def voucher_print(ctx: Context, batch_id, output, layout, login_url, everything, language) -> None:
    """Write a printable HTML sheet of a batch, a QR login code on every voucher: the
    admin's sheet (operator's name and logo, translated), with the whole batch on it."""
    from wallet.errors import NotFound
    from webadmin import create_app
    from webadmin.screens.vouchers import printed_sheet

    app = create_app(ctx.settings, ctx.database())
    try:
        page, cards = printed_sheet(
            app,
            batch_id,
            language=language,
            layout=layout,
            unsold_only=not everything,
            login_url=login_url,
        )
    except NotFound as error:
        raise UserError(str(error)) from None
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(page)
        click.echo(f"{cards} vouchers written to {output}")
    else:
        click.echo(page, nl=False)


@voucher.command("sell")
@click.argument("codes", nargs=-1, required=True)
@click.option("--price", help="Price sold at (default: the face value).")
@pass_context
def voucher_sell(ctx: Context, codes, price) -> None:
    """Record vouchers as sold."""
    from wallet.vouchers import mark_sold

    paid = _money(ctx.in_effect, price) if price is not None else None
    sold = ctx.database().run(lambda s: mark_sold(s, codes, actor=_ACTOR, price=paid))
    click.echo(f"{len(sold)} voucher(s) recorded as sold")


@voucher.command("redeem")
@click.argument("account_id", type=WHOLE)
@click.argument("code")
@click.option("--password", help="When the batch has separate passwords.")
@pass_context
def voucher_redeem(ctx: Context, account_id, code, password) -> None:
    """Turn an unused voucher into credit on a wallet."""
    from wallet.vouchers import redeem_voucher

    entry = ctx.database().run(
        lambda s: redeem_voucher(s, account_id, code, password=password, actor=_ACTOR)
    )
    click.echo(
        f"account {account_id}: +{ctx.money(entry.amount)}, balance "
        f"{ctx.money(entry.balance_after)}"
    )


@voucher.command("void")
@click.argument("codes", nargs=-1, required=True)
@pass_context
def voucher_void(ctx: Context, codes) -> None:
    """Withdraw unused vouchers (lost or stolen); they stop working at the next sync."""
    from wallet.vouchers import void_vouchers

    count = ctx.database().run(lambda s: void_vouchers(s, codes))
    click.echo(f"{count} voucher(s) voided")


@voucher.command("report")
@pass_context
def voucher_report(ctx: Context) -> None:
    """Every batch: how many are new, sold, used, redeemed, and what sales brought."""
    from wallet.hotspot_models import VoucherBatch
    from wallet.vouchers import batch_summary

    with ctx.database().transaction() as session:
        ids = session.execute(select(VoucherBatch.id).order_by(VoucherBatch.id)).scalars().all()
        if not ids:
            click.echo("no voucher batches")
        for batch_id in ids:
            summary = batch_summary(session, batch_id)
            states = ", ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items()))
            click.echo(
                f"batch {batch_id} {summary.package or 'credit'} x{summary.count} "
                f"@ {ctx.money(summary.price)}: {states}; sold {ctx.money(summary.sold_total)}"
            )


@hotspot.command("pages")
@click.argument("folder", type=click.Path(file_okay=False))
@click.option("--brand", help="Operator name (default PULSA_HOTSPOT_BRAND_NAME).")
@click.option("--logo", type=click.Path(dir_okay=False, exists=True), help="PNG, JPG, GIF or SVG.")
@click.option("--portal-url", help="Customer portal (default PULSA_PORTAL_URL).")
@click.option("--color", default="#0b6e4f", show_default=True, help="Accent colour.")
@pass_context
def hotspot_pages(ctx: Context, folder, brand, logo, portal_url, color) -> None:
    """Write the hotspot pages to upload to the router's hotspot/ folder."""
    from pathlib import Path

    from hotspot.pages import Branding, load_logo, write_bundle

    logo_data, logo_type = None, "image/png"
    if logo:
        try:
            logo_data, logo_type = load_logo(Path(logo))
        except (OSError, ValueError) as error:
            raise UserError(f"{logo}: {error}") from None
    branding = Branding(
        brand=brand or ctx.settings.hotspot_brand_name,
        portal_url=portal_url if portal_url is not None else ctx.settings.portal_url,
        logo=logo_data,
        logo_type=logo_type,
        color=color,
    )
    try:
        written = write_bundle(Path(folder), branding)
    except ValueError as error:
        raise UserError(str(error)) from None
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(
        "upload the .html files to the router's hotspot/ folder (keep its md5.js)"
        + (
            ", then run walled-garden.rsc there (/import walled-garden.rsc)"
            if len(written) > 5
            else ""
        )
    )


@hotspot.command("registrations")
@pass_context
def hotspot_registrations(ctx: Context) -> None:
    """Self-registrations waiting for the admin to confirm their payment."""
    from wallet.internet import pending_registrations

    with ctx.database().transaction() as session:
        pending = pending_registrations(session)
        if not pending:
            click.echo("no registrations waiting")
        for login in pending:
            package_, customer = login.package, login.customer
            click.echo(
                f"{login.id:>5}  {login.username:<20} {customer.name if customer else '':<24}"
                f" {(customer.phone or '') if customer else '':<16}"
                f" {package_.name if package_ else '-'}"
                f" {ctx.money(package_.price) if package_ else ''}"
                f"  since {login.created_at:%Y-%m-%d %H:%M}"
            )


@hotspot.command("confirm")
@click.argument("login_id", type=WHOLE)
@click.argument("amount")
@click.option(
    "--method",
    type=click.Choice(["cash", "bank_transfer", "e_wallet", "voucher", "other"]),
    default="cash",
    show_default=True,
)
@click.option("--reference", help="Receipt or bank reference.")
@pass_context
def hotspot_confirm(ctx: Context, login_id, amount, method, reference) -> None:
    """Confirm a registration's payment of AMOUNT: credit it, buy the chosen package,
    enable the login (on the routers at the next sync)."""
    from wallet.internet import confirm_registration

    sub = ctx.database().run(
        lambda s: confirm_registration(
            s,
            login_id,
            amount=_money(ctx.in_effect, amount, allow_zero=False),
            method=method,
            reference=reference,
            actor=_ACTOR,
        )
    )
    click.echo(f"login {login_id} confirmed: subscription {sub.id}, {_validity(sub)}")


@hotspot.command("reject")
@click.argument("login_id", type=WHOLE)
@pass_context
def hotspot_reject(ctx: Context, login_id) -> None:
    """Refuse a registration; its disabled user leaves the routers at the next sync."""
    from wallet.internet import reject_registration

    ctx.database().run(lambda s: reject_registration(s, login_id))
    click.echo(f"registration {login_id} refused")


commands = [router, package, hotspot, voucher]
