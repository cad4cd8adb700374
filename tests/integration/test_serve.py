"""`pulsa serve` runs the web admin and the FastAGI server together and stops cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import delete

from pulsa.serve import call_policy_at_start
from pulsa.settings import load_settings
from wallet.db import Database
from wallet.site_settings import SiteSetting, save_site_config

PULSA = Path(sys.executable).parent / "pulsa"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_health(port: int, server: subprocess.Popen) -> dict:
    deadline = time.monotonic() + 40
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                return json.load(reply)
        except OSError:
            assert server.poll() is None, server.stderr.read().decode()
            assert time.monotonic() < deadline, "pulsa serve did not answer in 40 s"
            time.sleep(0.2)


def wait_for_port(port: int, server: subprocess.Popen) -> None:
    deadline = time.monotonic() + 40
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
            return
        except OSError:
            assert server.poll() is None, server.stderr.read().decode()
            assert time.monotonic() < deadline, "FastAGI did not listen in 40 s"
            time.sleep(0.1)


def agi_session(port: int, caller: str) -> list[str]:
    """Play Asterisk for one FastAGI request; return the SET VARIABLE commands received."""
    environment = (
        "agi_network: yes\nagi_network_script: authorize\n"
        f"agi_request: agi://127.0.0.1:{port}/authorize\n"
        "agi_channel: Local/0811111@prepaid-outbound-00000001;2\nagi_language: en\n"
        "agi_type: Local\nagi_uniqueid: 1795410450.1\nagi_version: 20.21.0-rc1\n"
        f"agi_callerid: {caller}\nagi_calleridname: Test\nagi_callingpres: 0\n"
        "agi_callingani2: 0\nagi_callington: 0\nagi_callingtns: 0\nagi_dnid: unknown\n"
        "agi_rdnis: unknown\nagi_context: prepaid-outbound\nagi_extension: 0811111\n"
        "agi_priority: 2\nagi_enhanced: 0.0\nagi_accountcode: \nagi_threadid: 1\n\n"
    )
    sets = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(environment.encode())
        stream = sock.makefile("rwb")
        while line := stream.readline():
            command = line.decode().strip()
            if command.startswith("SET VARIABLE"):
                sets.append(command)
            stream.write(b"200 result=0\n" if command.startswith("GET") else b"200 result=1\n")
            stream.flush()
    return sets


def saved_mode(env: dict[str, str], mode: str) -> None:
    """An admin saved `mode` on the Settings screen of the database `env` names."""
    settings = load_settings(env)
    database = Database(settings.database_url)
    try:
        database.run(lambda s: save_site_config(s, settings, {"call_mode": mode}, actor="test"))
    finally:
        database.dispose()


def test_the_call_policy_at_start_is_the_one_saved_in_the_admin(db):
    settings = load_settings({"PULSA_DATABASE_URL": db.url, "PULSA_CALL_MODE": "live"})
    policy, saved = call_policy_at_start(settings, db)
    assert (policy.mode, saved) == ("live", False)
    try:
        db.run(
            lambda s: save_site_config(
                s, settings, {"call_mode": "static", "call_slice_seconds": 30}, actor="test"
            )
        )
        policy, saved = call_policy_at_start(settings, db)
        assert (policy.mode, policy.slice_seconds, saved) == ("static", 30, True)
    finally:
        with db.transaction() as session:
            session.execute(
                delete(SiteSetting).where(SiteSetting.key.in_(["call_mode", "call_slice_seconds"]))
            )


def test_a_database_not_migrated_yet_leaves_the_call_mode_to_the_environment(tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    database = Database(url)
    try:
        settings = load_settings({"PULSA_DATABASE_URL": url, "PULSA_CALL_MODE": "static"})
        policy, saved = call_policy_at_start(settings, database)
        assert (policy.mode, saved) == ("static", False)
    finally:
        database.dispose()


@pytest.mark.parametrize("agi_workers", [1, 2])
def test_serve_answers_the_web_and_fastagi_and_stops_on_sigterm(tmp_path, agi_workers):
    web_port, agi_port, portal_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "PULSA_PORTAL_PORT": str(portal_port),
        "PULSA_DATABASE_URL": f"sqlite:///{tmp_path / 'pulsa.db'}",
        "PULSA_FASTAGI_PORT": str(agi_port),
        "PULSA_CALL_MODE": "static",
        "PULSA_AGI_WORKERS": str(agi_workers),
    }
    subprocess.run([str(PULSA), "db", "upgrade"], env=env, check=True, capture_output=True)
    # Live mode saved in the admin wins over PULSA_CALL_MODE=static: without AMI servers,
    # the operator is warned, and told where the mode is set.
    saved_mode(env, "live")
    server = subprocess.Popen(
        [str(PULSA), "serve", "--port", str(web_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        health = wait_for_health(web_port, server)
        assert health == {"status": "ok"}  # the revision only for signed-in staff
        assert wait_for_health(portal_port, server)["status"] == "ok"
        # The web admin answers first: FastAGI workers may still be starting.
        wait_for_port(agi_port, server)
        sets = agi_session(agi_port, "6299999")
        assert any("PULSA_STATUS" in line and "UNKNOWN" in line for line in sets), sets
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
        output = server.stdout.read().decode()
        assert "FastAGI on agi://" in output and "hotspot sync off" in output
        assert f"customer portal on http://127.0.0.1:{portal_port}/" in output
        assert ("2 worker processes" in output) == (agi_workers == 2)
        assert "(live mode, 60 s slices" in output
        assert "AMI listener off" in output and "Settings screen" in output
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def run_until_up(env: dict[str, str], *args: str) -> list[str]:
    """Start `pulsa serve ARGS`, wait for it to answer, stop it; its output's lines."""
    port = free_port()
    server = subprocess.Popen(
        [str(PULSA), "serve", "--port", str(port), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_health(port, server)
        time.sleep(0.5)  # the last start messages follow the web admin's
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
        return [line.strip() for line in server.stdout.read().decode().splitlines()]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def test_first_admin_ends_the_start_messages_with_the_address_and_a_password_once(tmp_path):
    from wallet.staff import authenticate

    env = {
        **os.environ,
        "PULSA_DATABASE_URL": f"sqlite:///{tmp_path / 'pulsa.db'}",
        "PULSA_FASTAGI_PORT": str(free_port()),
        "PULSA_CALL_MODE": "static",
    }
    subprocess.run([str(PULSA), "db", "upgrade"], env=env, check=True, capture_output=True)
    lines = [line for line in run_until_up(env, "--first-admin") if line]
    assert lines[-4] == "pulsa is running (Ctrl+C to stop)"
    assert re.fullmatch(r"web admin: +http://127\.0\.0\.1:\d+/", lines[-3])
    assert lines[-2].startswith("customer portal: ")
    assert lines[-1].startswith("sign in to the web admin as 'admin' with the password ")
    password = lines[-1].split("with the password ")[1].split(" ")[0]
    database = Database(env["PULSA_DATABASE_URL"])
    try:
        outcome = database.run(lambda s: authenticate(s, "admin", password, address="127.0.0.1"))
        assert outcome.principal is not None and outcome.principal.is_superuser
    finally:
        database.dispose()
    again = [line for line in run_until_up(env, "--first-admin") if line]
    assert again[-1].startswith("sign in to the web admin with your staff account")
    assert not any(password in line for line in again)
