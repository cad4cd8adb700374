"""`pulsa ami`: the AMI listener that bills live calls (ami_listener/)."""

from __future__ import annotations

import click

from pulsa.cli import Context, UserError, pass_context


@click.command("ami")
@click.option(
    "--stats",
    "stats_interval",
    type=float,
    default=0.0,
    help="Log the listener's counters every this many seconds (0: only when stopping).",
)
@pass_context
def ami(ctx: Context, stats_interval: float) -> None:
    """Run the AMI listener: follow live calls, renew their limit slice by slice, settle
    them from Asterisk's CDR (PULSA_AMI_SERVERS names the Asterisk servers)."""
    from ami_listener.config import parse_ami_servers
    from ami_listener.listener import run

    settings = ctx.settings
    if not parse_ami_servers(settings.ami_servers):
        raise UserError(
            "no Asterisk server to listen to: set PULSA_AMI_SERVERS=name=user:secret@host:5038"
        )
    if stats_interval < 0:
        raise UserError("--stats must be zero or more seconds")
    database = ctx.database()  # refuses a database that is not set up, in one line
    run(settings, database, stats_interval=stats_interval, announce=click.echo)


commands = [ami]
