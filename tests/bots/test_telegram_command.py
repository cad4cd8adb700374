"""`pulsa bot` with PULSA_TELEGRAM_TOKEN runs the Telegram bot: with Telegram (the fake
Bot API standing for it) unreachable at start the command keeps running, a chat gets its
answer once Telegram is back, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from tests.bots.fake_telegram import FakeBotApi
from tests.conftest import REPO

pytest_plugins = ["tests.bots.outbox_builders"]


def pulsa(args, environment):
    return subprocess.Popen(
        [sys.executable, "-c", "from pulsa.cli import main; main()", *args],
        cwd=REPO,
        env={**environment, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def clean_environment(**values) -> dict:
    """This process's environment without its PULSA_ settings (but the tests' own)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PULSA_")}
    environment.update({k: v for k, v in os.environ.items() if k.startswith("PULSA_TEST")})
    environment.update(values)
    return environment


def test_pulsa_bot_runs_the_telegram_bot_which_waits_for_telegram_and_stops_on_sigterm(
    clean_outbox,
):
    with FakeBotApi(token="7200000002:TEST-token_for-pulsa-bot") as api:
        api.go_down()
        process = pulsa(
            ["bot"],
            clean_environment(
                PULSA_DATABASE_URL=clean_outbox.url,
                PULSA_TELEGRAM_TOKEN=api.token,
                PULSA_TELEGRAM_API_URL=api.api_url,
                PULSA_PORTAL_URL="https://portal.example.net",
            ),
        )
        try:
            assert process.stdout.readline().startswith(b"delivering chat notices")
            assert process.stdout.readline().startswith(b"Telegram bot on")
            time.sleep(1.0)
            assert process.poll() is None, "still running while Telegram is down"
            api.come_up()
            api.push_text(434343, "/help", language_code="en")
            [answer] = api.wait_for_messages(1, timeout=30)
            assert "not linked to a customer account yet" in answer.text
            assert "https://portal.example.net/register" in answer.text
        finally:
            process.send_signal(signal.SIGTERM)
            _out, err = process.communicate(timeout=30)
        assert process.returncode == 0, err.decode()
