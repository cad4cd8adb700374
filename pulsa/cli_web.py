"""Commands of the web admin: `pulsa admin ...` (staff accounts) and `pulsa web`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pulsa.cli import Context, UserError, pass_context


@click.group("admin")
def admin() -> None:
    """Staff accounts of the web admin."""


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        # For scripts: the first line of standard input, never a command-line argument
        # (which other users of the machine could read in the process list).
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@admin.command("create-superuser")
@click.argument("username")
@click.option("--full-name", default="", help="Shown in the admin.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--locale", type=click.Choice(["en", "id"]), default="en", show_default=True)
@pass_context
def create_superuser(ctx: Context, username, full_name, password_stdin, locale) -> None:
    """Create a super admin, who may do everything and manages the other staff."""
    from wallet.staff import create_staff

    password = _read_password(password_stdin)
    ctx.database().run(
        lambda session: create_staff(
            session,
            username,
            password,
            full_name=full_name,
            is_superuser=True,
            locale=locale,
            actor="cli",
        )
    )
    click.echo(f"super admin {username.strip().lower()!r} created")


@admin.command("set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_context
def set_password(ctx: Context, username, password_stdin) -> None:
    """Set a staff member's password (ending their sessions); also enables a disabled
    account and lets it sign in at once, whatever wrong passwords were typed for it."""
    from sqlalchemy import select

    from wallet.staff import StaffUser, clear_sign_in_throttle, update_staff

    password = _read_password(password_stdin)
    name = username.strip().lower()

    def work(session):
        staff_id = session.execute(
            select(StaffUser.id).where(StaffUser.username == name)
        ).scalar_one_or_none()
        if staff_id is None:
            raise UserError(f"no staff member {name!r}")
        update_staff(session, staff_id, actor="cli", password=password, is_active=True)
        clear_sign_in_throttle(session, name)

    ctx.database().run(work)
    click.echo(f"password of {name!r} set")


@admin.command("list")
@pass_context
def list_staff(ctx: Context) -> None:
    """List staff accounts."""
    from sqlalchemy import select

    from wallet.staff import StaffUser

    with ctx.database().transaction() as session:
        for user in session.execute(select(StaffUser).order_by(StaffUser.username)).scalars():
            kind = "super admin" if user.is_superuser else (user.role.name if user.role else "-")
            state = "active" if user.is_active else "disabled"
            click.echo(f"{user.username:<24} {kind:<20} {state}")


@click.command("web")
@click.option("--host", help="Address to listen on (default PULSA_WEB_HOST).")
@click.option("--port", type=int, help="Port (default PULSA_WEB_PORT).")
@click.option(
    "--uploads",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for payment proofs and the logo (default PULSA_UPLOAD_FOLDER).",
)
@click.option("--threads", default=8, show_default=True)
@pass_context
def web(ctx: Context, host, port, uploads: Path | None, threads: int) -> None:
    """Run the web admin alone (for sites that run the other services separately)."""
    from pulsa.web_server import make_web_server
    from webadmin import create_app

    settings = ctx.settings
    app = create_app(settings, ctx.database(), upload_folder=uploads)
    host = host or settings.web_host
    port = port if port is not None else settings.web_port
    click.echo(f"pulsa web admin on http://{host}:{port}/ (Ctrl+C to stop)")
    if settings.trusted_proxies:
        click.echo(f"trusting X-Forwarded-* from {', '.join(sorted(settings.trusted_proxies))}")
    make_web_server(app, settings, host=host, port=port, threads=threads).run()


commands = [admin, web]
