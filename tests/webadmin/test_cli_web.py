"""`pulsa admin ...`: the first super admin is made from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PULSA = Path(sys.executable).parent / "pulsa"


def pulsa(tmp_path: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PULSA_")}
    env["PULSA_DATABASE_URL"] = f"sqlite:///{tmp_path / 'pulsa.db'}"
    return subprocess.run(
        [str(PULSA), *args],
        input=stdin,
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_super_admin_is_created_from_the_command_line_and_can_sign_in(tmp_path):
    assert pulsa(tmp_path, "db", "upgrade").returncode == 0
    made = pulsa(
        tmp_path,
        "admin",
        "create-superuser",
        "Boss",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert made.returncode == 0, made.stderr
    assert "super admin 'boss' created" in made.stdout
    listed = pulsa(tmp_path, "admin", "list")
    assert "boss" in listed.stdout and "super admin" in listed.stdout

    from pulsa.settings import load_settings
    from tests.webadmin.conftest import AdminClient
    from wallet.db import Database
    from webadmin import create_app

    database = Database(f"sqlite:///{tmp_path / 'pulsa.db'}")
    try:
        app = create_app(load_settings({"PULSA_DATABASE_URL": database.url}), database)
        app.test_client_class = AdminClient
        client = app.test_client()
        assert client.sign_in("boss", "a long enough password").status_code == 302
    finally:
        database.dispose()


def test_a_short_password_is_refused_in_one_line(tmp_path):
    pulsa(tmp_path, "db", "upgrade")
    made = pulsa(tmp_path, "admin", "create-superuser", "boss", "--password-stdin", stdin="short\n")
    assert made.returncode == 1
    assert made.stderr.strip() == "error: a password needs at least 10 characters"


def test_set_password_lets_a_throttled_staff_member_sign_in_at_once(tmp_path):
    from wallet.db import Database
    from wallet.sign_in_throttle import RULES
    from wallet.staff import SignInThrottled, authenticate

    pulsa(tmp_path, "db", "upgrade")
    pulsa(
        tmp_path,
        "admin",
        "create-superuser",
        "boss",
        "--password-stdin",
        stdin="first passphrase\n",
    )
    database = Database(f"sqlite:///{tmp_path / 'pulsa.db'}")
    try:
        for _ in range(RULES.free_per_name + 1):
            database.run(lambda s: authenticate(s, "boss", "guess", address="10.9.8.7"))
        with pytest.raises(SignInThrottled):
            database.run(lambda s: authenticate(s, "boss", "first passphrase", address="10.9.8.7"))
        done = pulsa(
            tmp_path, "admin", "set-password", "boss", "--password-stdin", stdin="second passphrase"
        )
        assert done.returncode == 0, done.stderr
        outcome = database.run(
            lambda s: authenticate(s, "boss", "second passphrase", address="10.9.8.7")
        )
        assert outcome.principal is not None
    finally:
        database.dispose()
    missing = pulsa(
        tmp_path, "admin", "set-password", "nobody", "--password-stdin", stdin="third passphrase"
    )
    assert missing.returncode == 1 and "no staff member 'nobody'" in missing.stderr


def test_common_passwords_are_refused_by_the_command_line(tmp_path):
    pulsa(tmp_path, "db", "upgrade")
    made = pulsa(
        tmp_path, "admin", "create-superuser", "boss", "--password-stdin", stdin="aaaaaaaaaa\n"
    )
    assert made.returncode == 1
    assert made.stderr.strip() == (
        "error: this password repeats the same few characters; choose one that is harder to guess"
    )
    pulsa(
        tmp_path,
        "admin",
        "create-superuser",
        "boss",
        "--password-stdin",
        stdin="a fine passphrase\n",
    )
    weak = pulsa(
        tmp_path, "admin", "set-password", "boss", "--password-stdin", stdin="password12\n"
    )
    assert weak.returncode == 1 and "one of the most common ones" in weak.stderr
