"""Serving a web app (the admin, the portal) with waitress, behind a trusted proxy or not.

Only the proxy named in PULSA_TRUSTED_PROXY (one address or several, comma-separated) is
believed when it says who the client is (X-Forwarded-For: the address it appended last),
whether the client used HTTPS (X-Forwarded-Proto) and which host name was asked for
(X-Forwarded-Host). The app then sees the real client address (for sign-in throttling and
the audit log) and marks its cookies Secure behind a TLS proxy. From any other peer those
headers are removed before the app sees them, so nobody can claim another address or
HTTPS by sending them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping

from pulsa.settings import Settings

TRUSTED_HEADERS = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"})


def behind_trusted_proxy(app: Callable, proxies: Collection[str]) -> Callable:
    """`app` believing the X-Forwarded-* headers only from `proxies` (peer addresses)."""
    from waitress.proxy_headers import proxy_headers_middleware

    distrusting = proxy_headers_middleware(app, trusted_proxy=None, clear_untrusted=True)
    if not proxies:
        return distrusting
    trusting = proxy_headers_middleware(
        app,
        trusted_proxy="*",  # the dispatch below has chosen the peer already
        trusted_proxy_count=1,
        trusted_proxy_headers=set(TRUSTED_HEADERS),
        clear_untrusted=True,
    )
    trusted = frozenset(proxies)

    def dispatch(environ, start_response):
        peer = environ.get("REMOTE_ADDR", "")
        return (trusting if peer in trusted else distrusting)(environ, start_response)

    return dispatch


def make_web_server(app: Callable, settings: Settings, *, host: str, port: int, threads: int = 8):
    """A waitress server of `app` on host:port (port 0: any free one), applying
    PULSA_TRUSTED_PROXY; `server.run()` serves, `server.close()` stops."""
    from waitress import create_server

    return create_server(
        behind_trusted_proxy(app, settings.trusted_proxies),
        host=host,
        port=port,
        threads=threads,
        # Done by behind_trusted_proxy, which may trust several proxies.
        clear_untrusted_proxy_headers=False,
    )


def start_web_server(
    app: Callable, settings: Settings, *, host: str, port: int, name: str, threads: int = 8
):
    """make_web_server, serving in a daemon thread of its own; returns the server."""
    server = make_web_server(app, settings, host=host, port=port, threads=threads)
    threading.Thread(target=server.run, name=name, daemon=True).start()
    return server


def with_mounted(app: Callable, mounts: Mapping[str, Callable]) -> Callable:
    """`app`, with other WSGI apps answering the exact paths of `mounts` (the chat
    platforms' webhooks in the customer portal's server: they are no part of the portal,
    which never imports bots)."""
    if not mounts:
        return app
    paths = dict(mounts)

    def dispatch(environ, start_response):
        return paths.get(environ.get("PATH_INFO", ""), app)(environ, start_response)

    return dispatch


def with_chat_webhooks(
    app: Callable, settings: Settings, database
) -> tuple[Callable, list[Callable[[], None]]]:
    """The customer portal's `app` with the webhooks of the configured chat platforms
    (LINE at /line/webhook when PULSA_LINE_CHANNEL_SECRET and PULSA_LINE_ACCESS_TOKEN are
    set), and what stops them."""
    if not settings.line_configured:
        return app, []
    from bots.line import WEBHOOK_PATH, LineWebhook

    line = LineWebhook(settings, database)
    return with_mounted(app, {WEBHOOK_PATH: line}), [line.close]


def _not_found(environ, start_response):
    body = b"Not Found"
    start_response(
        "404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]
    )
    return [body]


def start_chat_webhooks_server(settings: Settings, database, *, host: str, port: int):
    """The chat platforms' webhooks on a web server of their own (`pulsa bot --line-port`,
    for a site whose portal runs elsewhere or not at all): their paths answer, any other
    is 404. Returns the server (serving in a thread) and what stops the webhooks."""
    app, stops = with_chat_webhooks(_not_found, settings, database)
    server = start_web_server(app, settings, host=host, port=port, name="pulsa-webhooks")
    return server, stops
