"""The `pulsa` command. Every failure a user can cause ends in one line on stderr and a
non-zero exit code, never a traceback (PULSA_DEBUG=1 shows it)."""

from __future__ import annotations

import csv
import io
import logging
import os
import sys
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import click
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError, OperationalError

from messaging.notifications import watch as watch_for_notices
from pulsa.settings import Settings, SettingsError, load_settings
from rating import AmountError, CallPricing, RatingError, format_money, parse_amount
from rating.money import micro_to_decimal
from rating.tariff_csv import TariffFileError
from wallet import ledger
from wallet.audit import audit
from wallet.customers import add_identity, create_customer, get_customer, search_customers
from wallet.db import Database
from wallet.errors import WalletError
from wallet.models import Account, Hold, LedgerEntry, SipIdentity, TariffPlan
from wallet.text import printable

log = logging.getLogger("pulsa")


class UserError(click.ClickException):
    """A one-line error for the person at the terminal."""

    def format_message(self) -> str:
        return self.message


class WholeNumber(click.ParamType):
    """A number (an id, a count) written with the digits 0 to 9 and at most a signed
    64-bit integer, what the database holds: click's int takes "٥" and any size."""

    name = "number"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()):
            self.fail(f"{value!r} is not a whole number (digits 0 to 9)", param, ctx)
        if len(text) > 19 or int(text) > 2**63 - 1:
            self.fail(f"{value!r} is too large", param, ctx)
        return int(text)


WHOLE = WholeNumber()


class Context:
    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._in_effect: Settings | None = None
        self._db: Database | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings()
            for key in self._settings.unknown:
                click.echo(f"warning: unknown setting {key} ignored", err=True)
        return self._settings

    @property
    def in_effect(self) -> Settings:
        """The settings with the operator's choices in the web admin (its setup and
        Settings screens) applied: country code, currency, time zone, decimals."""
        if self._in_effect is None:
            self.database()
        return self._in_effect or self.settings

    def _read_in_effect(self) -> None:
        from wallet.site_settings import effective_settings

        assert self._db is not None
        try:
            with self._db.transaction() as session:
                self._in_effect = effective_settings(session, self.settings)
        except ValueError as error:  # a stored value edited by hand: say so, go on
            click.echo(f"warning: the web admin's settings are ignored: {error}", err=True)
            self._in_effect = self.settings

    def database(self, *, migrated: bool = True) -> Database:
        if self._db is None:
            self._db = Database(self.settings.database_url)
            # What wallet services do (a payment confirmed, a balance run low) becomes
            # the customers' notices in the same transaction, whichever command runs.
            watch_for_notices(self._db, self.settings)
            if migrated:
                from wallet.migrate import current_revision

                if current_revision(self._db.engine) is None:
                    raise UserError("the database is not set up yet: run `pulsa db upgrade` first")
                # Read now, before a command opens its transaction (see in_effect).
                self._read_in_effect()
        return self._db

    def money(self, micro: int) -> str:
        return format_money(micro, self.in_effect.precision, self.in_effect.currency)


pass_context = click.make_pass_decorator(Context, ensure=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """pulsa: prepaid credit for Asterisk calls and MikroTik hotspots."""


# --- database ---------------------------------------------------------------------------


@cli.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@pass_context
def db_upgrade(ctx: Context) -> None:
    """Create or migrate the database schema to the latest revision."""
    from wallet.migrate import upgrade

    upgrade(ctx.settings.database_url)
    click.echo(f"database is at the latest revision ({_safe_url(ctx.settings.database_url)})")


# --- customers --------------------------------------------------------------------------


@cli.group()
def customer() -> None:
    """Customers and their wallets."""


@customer.command("add")
@click.argument("name")
@click.option("--phone")
@click.option("--email")
@click.option("--kind", type=click.Choice(["individual", "organization"]), default="individual")
@click.option("--credit-limit", default="0", help="How far below zero the wallet may go.")
@click.option("--plan", help="Tariff plan name (default: PULSA_DEFAULT_TARIFF_PLAN).")
@click.option("--callerid", multiple=True, help="Caller ID number that pays from this wallet.")
@click.option("--peer", multiple=True, help="SIP peer name that pays from this wallet.")
@click.option("--accountcode", multiple=True, help="Asterisk account code of this wallet.")
@pass_context
def customer_add(
    ctx: Context, name, phone, email, kind, credit_limit, plan, callerid, peer, accountcode
) -> None:
    """Add a customer with an empty wallet."""
    settings = ctx.in_effect
    limit = _amount(settings, credit_limit, allow_zero=True)

    def work(session):
        chosen_plan = plan or _default_plan(session, settings)
        customer, account = create_customer(
            session,
            name,
            phone=phone,
            email=email,
            kind=kind,
            currency=settings.currency,
            credit_limit=limit,
            tariff_plan=chosen_plan,
        )
        for kind_, values in (("callerid", callerid), ("peer", peer), ("accountcode", accountcode)):
            for value in values:
                add_identity(
                    session,
                    account.id,
                    kind_,
                    value,
                    country_code=settings.country_code,
                    trunk_prefix=settings.trunk_prefix,
                )
        return customer.id, account.id

    customer_id, account_id = ctx.database().run(work)
    click.echo(f"customer {customer_id} added with account {account_id}")


@customer.command("list")
@click.option("--search", "text", help="Part of a name, phone or e-mail.")
@click.option("--limit", default=50, show_default=True)
@pass_context
def customer_list(ctx: Context, text, limit) -> None:
    """List customers with their balances."""
    with ctx.database().transaction() as session:
        customers = search_customers(session, text, limit=limit)
        if not customers:
            click.echo("no customers")
            return
        click.echo(f"{'ID':>5}  {'ACCOUNT':>7}  {'NAME':<30} {'PHONE':<16} {'STATUS':<9} BALANCE")
        for c in customers:
            for account in c.accounts:
                click.echo(
                    f"{c.id:>5}  {account.id:>7}  {_shown(c.name)[:30]:<30} "
                    f"{_shown(c.phone or ''):<16} {c.status:<9} {ctx.money(account.balance)}"
                )


def _shown(text: str) -> str:
    """Stored text made safe for a terminal (a control character such as ESC could
    otherwise rewrite what the screen shows)."""
    return printable(text, multiline=False)


@customer.command("show")
@click.argument("customer_id", type=WHOLE)
@click.option("--entries", default=20, show_default=True, help="Ledger entries to show.")
@pass_context
def customer_show(ctx: Context, customer_id, entries) -> None:
    """A customer, their wallet, open holds and latest ledger entries."""
    with ctx.database().transaction() as session:
        c = get_customer(session, customer_id)
        click.echo(f"customer {c.id}: {_shown(c.name)} ({c.kind}, {c.status})")
        click.echo(f"  phone {_shown(c.phone or '-')}  e-mail {_shown(c.email or '-')}")
        for account in c.accounts:
            click.echo(
                f"account {account.id}: balance {ctx.money(account.balance)}, "
                f"held {ctx.money(account.held)}, available {ctx.money(account.available)}"
                + (
                    f", credit limit {ctx.money(account.credit_limit)}"
                    if account.credit_limit
                    else ""
                )
                + f", status {account.status}"
            )
            identities = session.execute(
                select(SipIdentity).where(SipIdentity.account_id == account.id)
            ).scalars()
            for identity in identities:
                click.echo(f"  identity {identity.kind} {_shown(identity.value)}")
            holds = session.execute(
                select(Hold).where(Hold.account_id == account.id, Hold.status == "open")
            ).scalars()
            for hold in holds:
                click.echo(
                    f"  open hold {hold.id}: {ctx.money(hold.remaining)} "
                    f"({hold.purpose} {hold.reference or ''})".rstrip()
                )
            rows = session.execute(
                select(LedgerEntry)
                .where(LedgerEntry.account_id == account.id)
                .order_by(LedgerEntry.id.desc())
                .limit(entries)
            ).scalars()
            for e in rows:
                click.echo(
                    f"  {e.created_at:%Y-%m-%d %H:%M:%S}  {e.kind:<10} {ctx.money(e.amount):>18}"
                    f"  -> {ctx.money(e.balance_after):>18}  {e.reference or e.note or ''}"
                )


@cli.command("topup")
@click.argument("account_id", type=WHOLE)
@click.argument("amount")
@click.option(
    "--method", type=click.Choice(ledger.TOP_UP_METHODS), default="cash", show_default=True
)
@click.option("--reference", help="Receipt or bank reference.")
@click.option("--note")
@click.option("--key", help="Idempotency key: the same key never credits twice.")
@click.option("--actor", default=lambda: os.environ.get("USER", "cli"), show_default="$USER")
@pass_context
def topup(ctx: Context, account_id, amount, method, reference, note, key, actor) -> None:
    """Credit AMOUNT (in currency units, e.g. 50000 or 12.50) to ACCOUNT_ID."""
    micro = _amount(ctx.in_effect, amount)
    key = key or f"cli-topup-{uuid.uuid4()}"
    entry = ctx.database().run(
        lambda s: ledger.top_up(
            s,
            account_id,
            micro,
            key=key,
            method=method,
            reference=reference,
            actor=actor,
            note=note,
        )
    )
    click.echo(
        f"account {account_id}: +{ctx.money(entry.amount)}, "
        f"balance {ctx.money(entry.balance_after)}"
    )


# --- tariffs ----------------------------------------------------------------------------


@cli.group()
def tariff() -> None:
    """Tariff plans: rates, time bands, holidays."""


@tariff.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--plan", help="Plan name (created if new; default PULSA_DEFAULT_TARIFF_PLAN).")
@click.option("--merge", is_flag=True, help="Add and update rates instead of replacing them.")
@pass_context
def tariff_import(ctx: Context, file: Path, plan, merge) -> None:
    """Load rates from a CSV file: all of it, or nothing when a line is wrong."""
    from wallet.tariffs import ensure_plan, import_rates

    text = _read_text(file)
    name = plan or ctx.settings.default_tariff_plan

    settings = ctx.in_effect  # read before the import's transaction opens

    def work(session):
        ensure_plan(session, name, settings.timezone)
        return import_rates(session, name, text, replace=not merge, precision=settings.precision)

    count = ctx.database().run(work)
    click.echo(f"plan {name!r}: {count} rates imported from {file}")


@tariff.command("export")
@click.option("--plan", help="Plan name (default PULSA_DEFAULT_TARIFF_PLAN).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def tariff_export(ctx: Context, plan, output) -> None:
    """Write a plan's rates as CSV (to stdout or a file)."""
    from wallet.tariffs import export_rates

    with ctx.database().transaction() as session:
        text = export_rates(session, plan or ctx.settings.default_tariff_plan)
    if output:
        output.write_text(text, encoding="utf-8")
        click.echo(f"{text.count(chr(10)) - 1} rates written to {output}")
    else:
        click.echo(text, nl=False)


@tariff.command("band")
@click.argument("name")
@click.argument("days")
@click.argument("start")
@click.argument("end")
@click.option("--plan", help="Plan name (created if new).")
@pass_context
def tariff_band(ctx: Context, name, days, start, end, plan) -> None:
    """Define a time band, e.g. `peak mon-fri 08:00 18:00` (earlier bands win)."""
    from wallet.tariffs import add_band, ensure_plan

    plan_name = plan or ctx.settings.default_tariff_plan

    zone = ctx.in_effect.timezone  # read before the band's transaction opens

    def work(session):
        ensure_plan(session, plan_name, zone)
        add_band(session, plan_name, name, days, start, end)

    ctx.database().run(work)
    click.echo(f"plan {plan_name!r}: band {name} on {days} {start}-{end}")


@tariff.command("holiday")
@click.argument("day", type=click.DateTime(formats=["%Y-%m-%d"]))
@click.argument("band")
@click.option("--name", default="")
@click.option("--plan")
@pass_context
def tariff_holiday(ctx: Context, day: datetime, band, name, plan) -> None:
    """Price a whole date (YYYY-MM-DD) with BAND, e.g. a public holiday as `weekend`."""
    from wallet.tariffs import add_holiday

    plan_name = plan or ctx.settings.default_tariff_plan
    ctx.database().run(lambda s: add_holiday(s, plan_name, day.date(), band, name))
    click.echo(f"plan {plan_name!r}: {day:%Y-%m-%d} is priced as {band}")


@tariff.command("plans")
@pass_context
def tariff_plans(ctx: Context) -> None:
    """List tariff plans."""
    with ctx.database().transaction() as session:
        for plan in session.execute(select(TariffPlan).order_by(TariffPlan.name)).scalars():
            click.echo(f"{plan.name}  ({plan.timezone})")


@cli.command("rate")
@click.argument("calls", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--plan", help="Plan name (default PULSA_DEFAULT_TARIFF_PLAN).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def rate(ctx: Context, calls: Path, plan, output) -> None:
    """Price a CSV of calls (columns number, start, duration) with a tariff plan.

    `start` is an ISO date-time; without a zone it is in the plan's time zone.
    `duration` is the billable seconds. Writes the CSV back with prefix, band,
    charged_seconds and the exact cost in currency units (NORATE when no rate applies).
    """
    from wallet.tariffs import get_plan, load_tariff

    with ctx.database().transaction() as session:
        plan_row = get_plan(session, plan or ctx.settings.default_tariff_plan)
        tariff_ = load_tariff(session, plan_row.id)
    zone = ZoneInfo(tariff_.timezone)
    reader = csv.DictReader(io.StringIO(_read_text(calls).lstrip("\ufeff")))
    missing = {"number", "start", "duration"} - set(reader.fieldnames or ())
    if missing:
        raise UserError(f"{calls}: line 1: missing column(s) {', '.join(sorted(missing))}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["number", "start", "duration", "prefix", "band", "charged_seconds", "cost"])
    total = 0
    errors = []
    for row in reader:
        line = reader.line_num
        try:
            number = row["number"].strip().lstrip("+")
            start = datetime.fromisoformat(row["start"].strip())
            if start.tzinfo is None:
                start = start.replace(tzinfo=zone)
            duration = int(row["duration"].strip())
            if duration < 0:
                raise ValueError("duration cannot be negative")
            pricing = CallPricing.for_call(tariff_, number, start)
        except (ValueError, RatingError) as error:
            errors.append(f"{calls}: line {line}: {error}")
            continue
        if pricing is None:
            writer.writerow([number, row["start"].strip(), duration, "", "", 0, "NORATE"])
            continue
        cost = pricing.cost(duration)
        total += cost
        writer.writerow(
            [
                number,
                row["start"].strip(),
                duration,
                pricing.prefix or "*",
                pricing.band or "",
                _charged(pricing, duration),
                micro_to_decimal(cost),
            ]
        )
    if errors:
        raise UserError("\n".join(errors))
    if output:
        output.write_text(out.getvalue(), encoding="utf-8")
        click.echo(f"rated calls written to {output}; total {ctx.money(total)}")
    else:
        click.echo(out.getvalue(), nl=False)


def _charged(pricing: CallPricing, duration: int) -> int:
    from rating import charged_seconds

    return charged_seconds(pricing.rate, duration)


# --- bank accounts ----------------------------------------------------------------------


@cli.group("bank")
def bank() -> None:
    """Bank accounts customers pay into (the portal shows the active ones)."""


@bank.command("add")
@click.argument("bank_name")
@click.argument("account_number")
@click.argument("holder")
@click.option("--instructions", default="", help="What the customer should write or do.")
@click.option("--actor", default=lambda: os.environ.get("USER", "cli"), show_default="$USER")
@pass_context
def bank_add(ctx: Context, bank_name, account_number, holder, instructions, actor) -> None:
    """Add a bank account, e.g. `pulsa bank add BCA "123 456 7890" "Koperasi RT 05"`."""
    from wallet.payments import save_bank_account

    row_id = ctx.database().run(
        lambda session: (
            save_bank_account(
                session,
                actor=actor,
                bank_name=bank_name,
                account_number=account_number,
                holder_name=holder,
                instructions=instructions,
            ).id
        )
    )
    click.echo(f"bank account {row_id} added")


@bank.command("list")
@pass_context
def bank_list(ctx: Context) -> None:
    """The bank accounts, shown to customers or not."""
    from wallet.payments import BankAccount

    with ctx.database().transaction() as session:
        rows = session.execute(select(BankAccount).order_by(BankAccount.position, BankAccount.id))
        for row in rows.scalars():
            shown = "shown" if row.is_active else "hidden"
            click.echo(
                f"{row.id:>4}  {_shown(row.bank_name)}  {_shown(row.account_number)}  "
                f"{_shown(row.holder_name)}  ({shown})"
            )


# --- operations -------------------------------------------------------------------------


@cli.command("audit")
@pass_context
def audit_command(ctx: Context) -> None:
    """Check that every balance equals the sum of its ledger entries (exit 1 if not)."""
    with ctx.database().transaction() as session:
        report = audit(session)
    for problem in report.problems:
        click.echo(f"PROBLEM {problem}")
    click.echo(
        f"{report.accounts_checked} accounts, {report.entries_checked} entries: "
        + ("clean" if report.clean else f"{len(report.problems)} problem(s)")
    )
    if not report.clean:
        sys.exit(1)


@cli.group("demo", invoke_without_command=True)
@click.pass_context
def demo(click_ctx: click.Context) -> None:
    """Load a small demo data set (tariff with bands, three customers) into an empty
    database; `pulsa demo remove` removes it whole."""
    from pulsa.demo import load_demo

    if click_ctx.invoked_subcommand is not None:
        return
    ctx = click_ctx.ensure_object(Context)
    s = ctx.in_effect
    lines = ctx.database().run(
        lambda session: load_demo(
            session, currency=s.currency, timezone=s.timezone, plan_name=s.default_tariff_plan
        )
    )
    for line in lines:
        click.echo(line)


@demo.command("remove")
@pass_context
def demo_remove(ctx: Context) -> None:
    """Delete the demo's customers with their wallets, ledger entries, calls, CDRs and
    holds, and its tariff rows (a plan the operator uses stays)."""
    from wallet.demo import removal_lines, remove_demo

    try:
        removal = ctx.database().run(lambda session: remove_demo(session, actor="cli"))
    except WalletError as error:
        raise UserError(str(error)) from None
    click.echo(f"demo data removed ({removal.total} rows):")
    for line in removal_lines(removal):
        click.echo(f"  {line}")


@cli.command("fastagi")
@click.option("--host", help="Address to listen on (default PULSA_FASTAGI_HOST).")
@click.option("--port", type=WHOLE, help="Port (default PULSA_FASTAGI_PORT).")
@pass_context
def fastagi(ctx: Context, host, port) -> None:
    """Run the FastAGI server that authorizes and settles calls (agi://HOST:PORT/authorize)."""
    from agi.fastagi import run
    from agi.workers import WorkerStartError

    settings = ctx.settings
    # Refuses a database that is not set up, in one line; the server opens its own.
    ctx.database().dispose()
    host = host or settings.fastagi_host
    port = port if port is not None else settings.fastagi_port
    try:
        run(settings, host=host, port=port, announce=click.echo)
    except OSError as error:
        reason = error.strerror or str(error).rsplit(": ", 1)[-1]
        raise UserError(f"cannot listen on {host}:{port}: {reason}") from None
    except WorkerStartError as error:
        raise UserError(str(error)) from None


@cli.command("serve")
@click.option("--host", help="Address of the web admin (default PULSA_WEB_HOST).")
@click.option("--port", type=WHOLE, help="Port of the web admin (default PULSA_WEB_PORT).")
@click.option(
    "--first-admin",
    is_flag=True,
    help="When the web admin has no staff account yet, make the super admin 'admin' with "
    "a random password, shown once at the end of the start messages (`make run` does).",
)
@pass_context
def serve(ctx: Context, host, port, first_admin) -> None:
    """Run all of pulsa: web admin, FastAGI, AMI listener, hotspot sync, housekeeping."""
    import asyncio

    from pulsa.demo import FIRST_ADMIN, ensure_first_admin
    from pulsa.serve import serve_everything

    sign_in = None
    if first_admin:
        language = ctx.in_effect.language  # PULSA_LANGUAGE (or PULSA_COUNTRY=ID): id
        password = ctx.database().run(lambda session: ensure_first_admin(session, locale=language))
        if password is not None:
            sign_in = (
                f"sign in to the web admin as {FIRST_ADMIN!r} with the password {password} "
                f"(shown only now; change it with `pulsa admin set-password {FIRST_ADMIN}`)"
            )
        else:
            sign_in = (
                "sign in to the web admin with your staff account (a forgotten password: "
                "`pulsa admin set-password NAME`)"
            )
    asyncio.run(
        serve_everything(
            ctx.settings,
            ctx.database(),
            web_host=host,
            web_port=port,
            announce=click.echo,
            sign_in=sign_in,
        )
    )


# --- helpers ----------------------------------------------------------------------------


def _amount(settings: Settings, text: str, *, allow_zero: bool = False) -> int:
    """An amount typed on the command line, read as the web admin reads it."""
    try:
        micro = parse_amount(text, precision=settings.precision, currency=settings.currency)
    except AmountError as error:
        raise UserError(f"bad amount: {error}") from None
    if micro < 0 or (micro == 0 and not allow_zero):
        raise UserError(f"bad amount {text!r}: must be greater than zero")
    return micro


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not a UTF-8 text file") from None
    except OSError as error:
        raise UserError(f"{path}: {error.strerror}") from None


def _default_plan(session, settings: Settings) -> str | None:
    exists = session.execute(
        select(TariffPlan.id).where(TariffPlan.name == settings.default_tariff_plan)
    ).first()
    return settings.default_tariff_plan if exists else None


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# Commands of the adapters live beside this module, in pulsa/cli_<name>.py, each exposing
# `commands` (a list of click commands or groups); one line each here.
COMMAND_MODULES: tuple[str, ...] = (
    "pulsa.cli_hotspot",
    "pulsa.cli_ami",
    "pulsa.cli_web",
    "pulsa.cli_portal",
    "pulsa.cli_bot",
)


def _register_commands() -> None:
    import importlib

    for module_name in COMMAND_MODULES:
        for command in importlib.import_module(module_name).commands:
            if command.name not in cli.commands:
                cli.add_command(command)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `pulsa` command."""
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    level = os.environ.get("PULSA_LOG_LEVEL", "INFO").upper()
    logging.getLogger("pulsa").setLevel(level if level in logging._nameToLevel else "INFO")
    try:
        _register_commands()
        cli.main(args=argv, prog_name="pulsa", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as error:
        hint = ""
        if isinstance(error, click.UsageError) and error.ctx is not None:
            hint = f" (see `{error.ctx.command_path} --help`)"
        click.echo(f"error: {error.format_message()}{hint}", err=True)
        sys.exit(error.exit_code)
    except TariffFileError as error:
        for line in error.errors:
            click.echo(f"error: {line}", err=True)
        sys.exit(1)
    except (WalletError, SettingsError, RatingError) as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)
    except (OperationalError, DBAPIError) as error:
        if os.environ.get("PULSA_DEBUG"):
            raise
        reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
        click.echo(f"error: database: {reason}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as error:  # the promise: no traceback for the user
        if os.environ.get("PULSA_DEBUG"):
            raise
        click.echo(
            f"error: unexpected {type(error).__name__}: {error} "
            "(run with PULSA_DEBUG=1 for details)",
            err=True,
        )
        sys.exit(1)


__all__ = ["Account", "cli", "main"]
