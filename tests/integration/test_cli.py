"""The `pulsa` command as a user types it, on SQLite in a scratch folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pulsa.cli import main

PULSA = Path(sys.executable).parent / "pulsa"


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A working folder with its own SQLite database, migrated and with demo data."""
    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("PULSA_") and not k.startswith("PULSA_TEST")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PULSA_DATABASE_URL", f"sqlite:///{tmp_path / 'pulsa.db'}")
    assert run("db", "upgrade")[0] == 0
    assert run("demo")[0] == 0
    return tmp_path


def run(*args: str) -> tuple[int, str, str]:
    """Run `pulsa ARGS` in this process; returns exit code, stdout, stderr."""
    import contextlib
    import io

    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
    return code, out.getvalue(), err.getvalue()


def test_demo_data_gives_three_customers_with_balances(site):
    code, out, _ = run("customer", "list")
    assert code == 0
    assert "Warung Bu Sari" in out and "IDR 50,000" in out and "IDR 250,000" in out


def test_loading_the_demo_twice_adds_nothing(site):
    run("demo")
    assert run("customer", "list")[1].count("Warung Bu Sari") == 1
    assert "3 accounts, 3 entries: clean" in run("audit")[1]


def test_customer_add_then_top_up_then_show(site):
    code, out, _ = run(
        "customer", "add", "Ibu Ani", "--phone", "0813 555 1234", "--callerid", "628135551234"
    )
    assert code == 0 and "added with account" in out
    customer, account = out.split()[1], out.split()[-1]
    code, out, _ = run(
        "topup", account, "15000", "--method", "bank_transfer", "--reference", "BCA-991"
    )
    assert code == 0 and "balance IDR 15,000" in out
    code, out, _ = run("customer", "show", customer)
    assert code == 0
    assert "Ibu Ani" in out and "balance IDR 15,000" in out and "callerid 628135551234" in out
    assert "BCA-991" in out


def test_a_top_up_typed_with_dots_credits_fifty_thousand_rupiah(site):
    code, out, err = run("topup", "2", "Rp 50.000")
    assert code == 0 and "+IDR 50,000" in out, err
    code, out, err = run("topup", "2", "1,5")
    assert code != 0 and "read as 1.5" in err and "write 1 or 2" in err


def test_a_top_up_key_given_twice_credits_once(site):
    for _ in range(2):
        assert run("topup", "3", "1000", "--key", "receipt-77")[0] == 0
    _, out, _ = run("customer", "show", "3")
    assert "balance IDR 6,000" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("topup", "1", "abc"), "bad amount: 'abc' is not an amount"),
        (("topup", "1", "0"), "must be greater than zero"),
        (("topup", "1", "-5"), "No such option '-5'"),
        (("topup", "one", "5"), "'one' is not a whole number"),
        (("topup", "99999999999999999999", "5"), "is too large"),
        (("topup", "\u0665", "5"), "is not a whole number"),
        (("topup", "1", "1e20000000"), "without an exponent"),
        (("topup", "999", "5"), "account 999 does not exist"),
        (("customer", "show", "999"), "customer 999 does not exist"),
        (("customer", "add", "X", "--email", "not-an-email"), "not an e-mail address"),
        (("tariff", "import", "missing.csv"), "missing.csv: no such file"),
        (("tariff", "export", "--plan", "nope"), "tariff plan 'nope' does not exist"),
    ],
)
def test_bad_input_gets_one_line_error_and_non_zero_exit(site, args, message):
    code, out, err = run(*args)
    assert code != 0
    assert message in err
    assert "Traceback" not in err + out
    assert len(err.strip().splitlines()) == 1


def test_a_bad_tariff_file_lists_every_bad_line_and_imports_nothing(site):
    before = run("tariff", "export")[1]
    Path("bad.csv").write_text("prefix,price_per_minute\n62,1000\n6x,5\n63,\n")
    code, _, err = run("tariff", "import", "bad.csv")
    assert code == 1
    assert "line 3: prefix must be digits only" in err and "line 4: price_per_minute" in err
    assert run("tariff", "export")[1] == before


def test_tariff_export_and_import_round_trip(site):
    run("tariff", "export", "-o", "rates.csv")
    exported = Path("rates.csv").read_text()
    assert run("tariff", "import", "rates.csv")[0] == 0
    assert run("tariff", "export")[1] == exported


def test_rate_prices_a_csv_of_calls_with_bands_and_catch_all(site):
    Path("calls.csv").write_text(
        "number,start,duration\n"
        "6281234567,2026-11-23T09:00:00,61\n"  # Monday, peak, mobile 30/6 at 1200/min
        "6281234567,2026-11-23T20:00:00,61\n"  # off-peak at 800/min
        "62215551234,2026-11-23T09:00:00,61\n"  # Jakarta 1/1 at 150/min: 152.5
        "4412345,2026-11-21T10:00:00,30\n"  # Saturday, catch-all 60/60 at 3000/min
        "6281234567,2026-11-23T09:00:00,2\n"  # shorter than the 3 s grace: free
    )
    code, out, _ = run("rate", "calls.csv")
    assert code == 0
    rows = [line.split(",") for line in out.strip().splitlines()[1:]]
    assert [(r[3], r[4], r[5], r[6]) for r in rows] == [
        ("628", "peak", "66", "1320"),
        ("628", "offpeak", "66", "880"),
        ("6221", "peak", "61", "152.5"),
        ("*", "weekend", "60", "3000"),
        ("628", "peak", "0", "0"),
    ]


def test_audit_reports_clean(site):
    code, out, _ = run("audit")
    assert code == 0 and out.strip().endswith("clean")


def test_commands_before_db_upgrade_say_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PULSA_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    code, _, err = run("customer", "list")
    assert code == 1 and "run `pulsa db upgrade` first" in err


def test_the_installed_command_reports_an_unreachable_database_in_one_line(tmp_path):
    env = {**os.environ, "PULSA_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:9/none"}
    result = subprocess.run(
        [str(PULSA), "audit"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.startswith("error: database:")
    assert "Traceback" not in result.stderr


def test_demo_remove_takes_the_demo_away_in_one_command(site):
    code, out, _ = run("demo", "remove")
    assert code == 0 and "3 customers" in out and "3 ledger entries" in out
    assert run("customer", "list")[1].strip() == "no customers"
    assert "0 accounts, 0 entries: clean" in run("audit")[1]
    assert "not loaded again" in run("demo")[1]
    code, _, err = run("demo", "remove")
    assert code == 1 and err.strip() == "error: no demo data is loaded"


def test_make_run_again_after_a_tariff_import_keeps_the_imported_tariff(site):
    (site / "rates.csv").write_text(
        "prefix,description,price_per_minute\n628,Mobile,1000\n*,Other,2000\n", encoding="utf-8"
    )
    assert run("tariff", "import", "rates.csv")[0] == 0
    assert run("db", "upgrade")[0] == 0  # what `make run` does each time, before serving
    code, out, _ = run("demo")
    assert code == 0 and "demo data not loaded: the demo is loaded already" in out
    exported = run("tariff", "export")[1].splitlines()[1:]
    assert sorted(line.split(",")[0] for line in exported) == ["*", "628"]


def test_the_commands_follow_the_country_and_time_zone_chosen_on_the_admins_setup(site):
    """The setup screen stores its answers in the database; the command reads them as the
    web admin does: caller IDs in the international form, new plans in the local zone."""
    from pulsa.settings import load_settings
    from wallet.db import Database
    from wallet.site_settings import save_site_config

    settings = load_settings()
    database = Database(settings.database_url)
    choices = {"country_code": "62", "timezone": "Asia/Jakarta", "setup": "done"}
    database.run(lambda s: save_site_config(s, settings, choices, actor="setup", pin=True))
    database.dispose()
    code, out, err = run("customer", "add", "Ibu Ani", "--callerid", "0813-555-1234")
    assert code == 0, err
    customer = out.split()[1]  # "customer 4 added with account 4"
    assert "identity callerid 628135551234" in run("customer", "show", customer)[1]
    (site / "rates.csv").write_text("prefix,price_per_minute\n62812,1200\n", encoding="utf-8")
    assert run("tariff", "import", "rates.csv", "--plan", "lokal")[0] == 0
    assert "lokal  (Asia/Jakarta)" in run("tariff", "plans")[1]


def test_the_first_admin_reads_the_sites_language(site, monkeypatch):
    """`make run` with PULSA_COUNTRY=ID (or PULSA_LANGUAGE=id) in the file: the super admin
    it makes reads the admin in Indonesian from the first page."""
    from sqlalchemy import select

    from pulsa.demo import FIRST_ADMIN, ensure_first_admin
    from pulsa.settings import load_settings
    from wallet.db import Database
    from wallet.staff import StaffUser

    monkeypatch.setenv("PULSA_COUNTRY", "ID")
    settings = load_settings()
    database = Database(settings.database_url)
    password = database.run(lambda s: ensure_first_admin(s, locale=settings.language))
    assert password
    with database.transaction() as session:
        admin = session.execute(select(StaffUser).where(StaffUser.username == FIRST_ADMIN))
        assert admin.scalar_one().locale == "id"
    database.dispose()


def test_bank_accounts_are_added_from_the_command_line_as_on_the_setup_screen(site):
    code, out, err = run("bank", "add", "BCA", "123 456 7890", "Koperasi RT 05")
    assert code == 0 and out.strip() == "bank account 1 added", err
    assert run("bank", "list")[1].strip() == "1  BCA  123 456 7890  Koperasi RT 05  (shown)"
    code, _, err = run("bank", "add", "BCA", " ", "Koperasi RT 05")
    assert code == 1 and err.strip() == "error: account number is required"
