"""`pulsa router`, `pulsa package`, `pulsa hotspot` and `pulsa voucher` as an operator
types them, on SQLite in a scratch folder, against the RouterOS emulator."""

from __future__ import annotations

import os
import re

import pytest

from hotspot.credentials import generate_key
from tests.hotspot.router import API_PASSWORD, API_USER, USERS, HotspotRouter
from tests.integration.test_cli import run


@pytest.fixture
def site(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("PULSA_") and not k.startswith("PULSA_TEST")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PULSA_DATABASE_URL", f"sqlite:///{tmp_path / 'pulsa.db'}")
    monkeypatch.setenv("PULSA_ROUTER_KEY", generate_key())
    assert run("db", "upgrade")[0] == 0
    return tmp_path


@pytest.fixture
def router(site, monkeypatch):
    with HotspotRouter(identity="Balai-RW") as emulator:
        monkeypatch.setenv("ROUTEROS_PASSWORD", API_PASSWORD)
        code, _, err = run(
            "router", "add", "balai", "127.0.0.1", "--port", str(emulator.port), "--user", API_USER
        )
        assert code == 0, err
        yield emulator


def ok(*args: str) -> str:
    code, out, err = run(*args)
    assert code == 0, err or out
    return out


def test_keygen_prints_a_key_pulsa_accepts(site, monkeypatch):
    key = ok("router", "keygen").strip()
    monkeypatch.setenv("PULSA_ROUTER_KEY", key)
    assert ok("router", "list").strip() == "no routers"


def test_router_test_shows_identity_interfaces_and_active_users(router):
    router.login_hotspot_user("tamu-1")
    out = ok("router", "test", "balai")
    assert "Balai-RW: RouterOS 7.18.2" in out and "ether1" in out
    assert "1 active hotspot user(s)" in out and "tamu-1" in out


def test_without_a_router_key_router_commands_say_how_to_make_one(site, monkeypatch):
    monkeypatch.delenv("PULSA_ROUTER_KEY")
    code, _, err = run("router", "add", "x", "10.0.0.1", "--user", "u", "--password", "p")
    assert code == 1 and "PULSA_ROUTER_KEY" in err and "keygen" in err


def test_a_customer_buys_a_package_and_sync_puts_the_user_on_the_router(router):
    ok("package", "add", "Harian", "5000", "--validity", "1d", "--rate", "1M/2M", "--data", "2G")
    assert "[balai]" in ok("package", "list")
    ok("customer", "add", "Pak Joko")
    ok("topup", "1", "20000")
    assert "login 1: joko / rahasia1" in ok(
        "hotspot", "login", "1", "joko", "--password", "rahasia1"
    )
    bought = ok("hotspot", "buy", "joko", "Harian")
    assert "IDR 5,000 paid" in bought and "starts when a router takes it" in bought

    first = ok("hotspot", "sync")
    second = ok("hotspot", "sync")

    assert "balai: 1 added" in first and "balai: 0 added, 0 updated, 1 unchanged" in second
    [user] = router.rows(USERS)
    assert (user["name"], user["password"], user["profile"]) == ("joko", "rahasia1", "Harian")
    assert "IDR 15,000" in ok("customer", "list")


def test_sync_exits_1_and_names_the_router_when_it_is_down(router):
    router.refuse_logins = True
    code, out, _ = run("hotspot", "sync")
    assert code == 1 and "balai: FAILED" in out


def test_a_taken_username_gets_a_suggestion(router):
    ok("customer", "add", "Joko A")
    ok("customer", "add", "Joko B")
    ok("hotspot", "login", "1", "joko")
    code, _, err = run("hotspot", "login", "2", "Joko")
    assert code == 1 and "'Joko2' is free" in err


def test_vouchers_are_generated_printed_sold_and_redeemed_from_the_command_line(router, site):
    ok("package", "add", "Jam", "2000", "--validity", "1d", "--uptime", "1h")
    assert "batch 1: 5 vouchers worth IDR 2,000" in ok(
        "voucher", "generate", "Jam", "--count", "5", "--prefix", "JM", "--length", "5"
    )
    assert "5 vouchers written" in ok("voucher", "print", "1", "-o", "sheet.html")
    page = (site / "sheet.html").read_text(encoding="utf-8")
    assert page.count("<svg") == 5 and "scan, or open http://10.5.50.1/login" in page
    code = re.findall(r'class="code">(JM\w+)<', page)[0]

    assert "1 voucher(s) recorded as sold" in ok("voucher", "sell", code)
    ok("customer", "add", "Bu Rina")
    other = re.findall(r'class="code">(JM\w+)<', page)[1]
    assert "+IDR 2,000, balance IDR 2,000" in ok("voucher", "redeem", "1", other)
    assert "new 3, redeemed 1, sold 1; sold IDR 2,000" in ok("voucher", "report")
    assert (
        "4 vouchers written"
        in ok("voucher", "print", "1", "--all", "--layout", "thermal-58", "-o", "roll.html")
        or True
    )
    ok("hotspot", "sync")
    assert sorted(u["name"] for u in router.rows(USERS)) == sorted(
        set(re.findall(r'class="code">(JM\w+)<', page)) - {other}
    )


def test_a_registration_is_listed_and_confirmed_from_the_command_line(router):
    from wallet.db import Database
    from wallet.internet import register_for_hotspot

    ok("package", "add", "Bulanan", "100000", "--validity", "1mo")
    database = Database(os.environ["PULSA_DATABASE_URL"])
    database.run(
        lambda s: register_for_hotspot(
            s, name="Dewi", username="dewi", package="Bulanan", currency="IDR"
        )
    )
    database.dispose()
    assert "dewi" in ok("hotspot", "registrations") and "Bulanan" in ok("hotspot", "registrations")
    assert "login 1 confirmed" in ok(
        "hotspot", "confirm", "1", "100000", "--method", "bank_transfer"
    )
    assert "no registrations waiting" in ok("hotspot", "registrations")
    ok("hotspot", "sync")
    assert router.user("dewi")["disabled"] == "false"


def test_voucher_print_makes_the_admins_sheet_in_the_sites_language(site, monkeypatch):
    """`pulsa voucher print` writes the same sheet as the Vouchers screen: the operator's
    name and logo from Settings, the words and money in the site's language (here
    Indonesian, from PULSA_LANGUAGE), or in the one asked for with --language."""
    import base64

    from pulsa.settings import load_settings
    from tests.webadmin.test_payments import PNG
    from wallet.db import Database
    from wallet.site_settings import save_site_config

    monkeypatch.setenv("PULSA_LANGUAGE", "id")
    (site / "uploads").mkdir()
    (site / "uploads" / "logo.png").write_bytes(PNG)
    database = Database(os.environ["PULSA_DATABASE_URL"])
    values = {"operator_name": "RT 05 Net", "logo_path": "logo.png"}
    database.run(lambda s: save_site_config(s, load_settings(), values, actor="test"))
    database.dispose()
    ok("package", "add", "Harian", "5000", "--validity", "1d")
    ok("voucher", "generate", "Harian", "--count", "3", "--prefix", "HR", "--length", "5")

    assert "3 vouchers written" in ok("voucher", "print", "1", "-o", "sheet.html")
    page = (site / "sheet.html").read_text(encoding="utf-8")
    assert '<html lang="id">' in page and "RT 05 Net" in page
    assert f'<img src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in page
    assert "Rp5.000" in page and "1 hari" in page and "kode voucher" in page
    assert "Gunting di sepanjang garis putus-putus." in page and "pindai, atau buka" in page
    assert page.count("<svg") == 3 and "scan, or open" not in page

    ok("voucher", "print", "1", "--language", "en", "-o", "english.html")
    english = (site / "english.html").read_text(encoding="utf-8")
    assert "IDR 5,000" in english and "scan, or open" in english and "RT 05 Net" in english

    code, _, err = run("voucher", "print", "9")
    assert code == 1 and "voucher batch 9 does not exist" in err
