"""Behind the TLS proxy of PULSA_TRUSTED_PROXY, through the real waitress on loopback:
the proxy's X-Forwarded-* make the cookie Secure and name the client; nobody else's do."""

from __future__ import annotations

import http.client
import re
from urllib.parse import urlencode

import pytest
from sqlalchemy import select

from pulsa.settings import SettingsError, load_settings
from pulsa.web_server import start_web_server
from tests.webadmin.conftest import PASSWORD
from wallet.staff import AuditRecord
from webadmin import create_app

PROXY, ELSEWHERE = "127.0.0.1", "127.0.0.2"  # Linux answers for all of 127.0.0.0/8
_TOKEN = re.compile(r'name="csrf-token" content="([^"]+)"')


@pytest.fixture
def server(db, tmp_path):
    settings = load_settings(
        {
            "PULSA_DATABASE_URL": db.url,
            "PULSA_SECRET_KEY": "test-secret",
            "PULSA_TRUSTED_PROXY": f"{PROXY}, 192.0.2.1",
        }
    )
    app = create_app(settings, db, upload_folder=tmp_path / "uploads")
    server = start_web_server(app, settings, host="127.0.0.1", port=0, name="test-web")
    yield server
    server.close()


def sign_in_from(server, peer: str, username: str, client: str) -> str:
    """Sign in through the server from `peer`, with the headers a TLS proxy sends for
    `client`; returns the Set-Cookie of the answer."""
    forwarded = {
        "X-Forwarded-For": f"203.0.113.250, {client}",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "admin.example",
    }

    def request(method, path, body=None, headers=()):
        connection = http.client.HTTPConnection(
            "127.0.0.1", server.effective_port, timeout=10, source_address=(peer, 0)
        )
        try:
            connection.request(method, path, body=body, headers={**forwarded, **dict(headers)})
            response = connection.getresponse()
            return response, response.read().decode()
        finally:
            connection.close()

    page, html = request("GET", "/sign-in")
    cookie = page.getheader("Set-Cookie").split(";")[0]
    form = {"username": username, "password": PASSWORD, "csrf_token": _TOKEN.search(html)[1]}
    answer, _ = request(
        "POST",
        "/sign-in",
        urlencode(form),
        {
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": cookie,
            "Referer": "https://admin.example/sign-in",
        },
    )
    assert answer.status == 302, answer.status
    return answer.getheader("Set-Cookie")


def last_sign_in_address(db, username: str) -> str:
    with db.transaction() as session:
        return (
            session.execute(
                select(AuditRecord.address)
                .where(AuditRecord.actor == username, AuditRecord.action == "staff.sign_in")
                .order_by(AuditRecord.id.desc())
            )
            .scalars()
            .first()
        )


def test_secure_cookie_and_client_address_behind_trusted_proxy_through_waitress(
    server, db, superuser
):
    cookie = sign_in_from(server, PROXY, superuser, client="198.51.100.23")
    assert "Secure" in cookie and "HttpOnly" in cookie
    assert last_sign_in_address(db, superuser) == "198.51.100.23"


def test_forwarded_headers_from_anyone_else_are_ignored_through_waitress(server, db, superuser):
    cookie = sign_in_from(server, ELSEWHERE, superuser, client="198.51.100.23")
    assert "Secure" not in cookie
    assert last_sign_in_address(db, superuser) == ELSEWHERE


def test_the_trusted_proxy_setting_takes_addresses_only():
    settings = load_settings({"PULSA_TRUSTED_PROXY": " 127.0.0.1 ,::1"})
    assert settings.trusted_proxies == {"127.0.0.1", "::1"}
    assert load_settings({}).trusted_proxies == frozenset()
    with pytest.raises(SettingsError, match="PULSA_TRUSTED_PROXY"):
        load_settings({"PULSA_TRUSTED_PROXY": "proxy.example"})
