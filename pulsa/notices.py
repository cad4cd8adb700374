"""Customers' notices in every process that changes money.

A wallet service notes what it did on its session (a payment confirmed, a balance
lowered); messaging's watch turns that into the customer's notice in the same
transaction. A process whose Database is not watched commits the money and drops the
notice, so every process that changes money installs it once: the `pulsa` commands
(`pulsa.cli.Context.database`, which `pulsa serve`, `pulsa ami`, `pulsa bot`,
`pulsa hotspot` and the rest use), the web admin and the portal (their app factories),
the Telegram bot and the outbox worker (on the Database they are given), the FastAGI
server in each of its worker processes, and the classic AGI script. The last two live in
`agi/`, which does not import messaging: they call `watch_money` here, the composition
root, as they read `pulsa.settings`.
"""

from __future__ import annotations


def watch_money(database, settings) -> None:
    """Install messaging's watch on `database` (once; again is harmless). Light: the
    classic AGI script runs it at each call (messaging.watching imports messaging's
    texts and outbox only when a notice may be written)."""
    from messaging.watching import watch

    watch(database, settings)
