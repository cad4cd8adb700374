"""The outbox worker as a process of its own, for the test that kills it with SIGKILL:
`python -m tests.bots.delivery_process <database url> <bot api url> <token>`. It sends
without Telegram's pace (the fake does not mind) so that many requests are in flight
when the kill comes. Claims expire after 12 s, longer than a send may take (5 s): with a
shorter lease a loaded machine let the live worker's own sends outlast their claims, and
those counted as uncertain beside the ones in flight at the kill (9 of 8 on CI)."""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from bots.delivery import DeliveryWorker, TelegramSender
from wallet.db import Database


def main() -> None:
    url, api_url, token = sys.argv[1:4]
    db = Database(url)
    sender = TelegramSender(
        token, api_url, per_second=10_000.0, per_chat_per_second=10_000.0, timeout=5.0
    )
    worker = DeliveryWorker(
        db, [sender], concurrency=8, lease=timedelta(seconds=12), poll_interval=0.05
    )
    print("running", flush=True)
    asyncio.run(worker.run(asyncio.Event()))


if __name__ == "__main__":
    main()
