"""Commands of the customer portal: `pulsa portal` and `pulsa customer portal-link`."""

from __future__ import annotations

from pathlib import Path

import click

from pulsa.cli import Context, UserError, customer, pass_context


@customer.command("portal-link")
@click.argument("customer_id", type=int)
@pass_context
def portal_link(ctx: Context, customer_id: int) -> None:
    """Print a one-time portal link (valid 24 hours) that lets the customer set their
    password: their first access, or a forgotten password."""
    from wallet.customer_access import issue_portal_link, portal_link_url
    from wallet.errors import NotFound

    try:
        token, expires_at = ctx.database().run(
            lambda session: issue_portal_link(session, customer_id, actor="cli")
        )
    except NotFound as error:
        raise UserError(str(error)) from None
    click.echo(portal_link_url(ctx.settings.portal_address, token))
    click.echo(f"valid until {expires_at:%Y-%m-%d %H:%M} UTC, once", err=True)


@click.command("portal")
@click.option("--host", help="Address to listen on (default PULSA_PORTAL_HOST).")
@click.option("--port", type=int, help="Port (default PULSA_PORTAL_PORT).")
@click.option(
    "--uploads",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for top-up receipts and the logo (default PULSA_UPLOAD_FOLDER).",
)
@click.option("--threads", default=8, show_default=True)
@pass_context
def portal(ctx: Context, host, port, uploads: Path | None, threads: int) -> None:
    """Run the customer portal alone (its own address, e.g. for the hotspot's walled
    garden while the admin stays on the office network)."""
    from portal import create_app
    from pulsa.web_server import make_web_server, with_chat_webhooks

    settings = ctx.settings
    database = ctx.database()
    app, stops = with_chat_webhooks(
        create_app(settings, database, upload_folder=uploads), settings, database
    )
    host = host or settings.portal_host
    port = port if port is not None else settings.portal_port
    click.echo(f"pulsa customer portal on http://{host}:{port}/ (Ctrl+C to stop)")
    if settings.line_configured:
        click.echo(f"LINE webhook at {settings.portal_address}/line/webhook")
    if settings.trusted_proxies:
        click.echo(f"trusting X-Forwarded-* from {', '.join(sorted(settings.trusted_proxies))}")
    try:
        make_web_server(app, settings, host=host, port=port, threads=threads).run()
    finally:
        for stop in stops:
            stop()


commands = [portal]
