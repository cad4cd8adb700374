"""Fixtures of the chat bot tests: settings pointing at the test database and a
throw-away upload folder, and a chat that sends updates with increasing ids."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import pytest

from bots.dialogue import Incoming, Reply, handle
from pulsa.settings import load_settings
from wallet.db import Database

_chat_ids = itertools.count(700_000_001)


@pytest.fixture
def bot_settings(db: Database, tmp_path):
    return load_settings(
        {
            "PULSA_DATABASE_URL": db.url,
            "PULSA_UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "PULSA_PORTAL_URL": "https://portal.example.net",
            "PULSA_COUNTRY_CODE": "62",
        }
    )


@dataclass
class FakeChat:
    """A chat of one person talking to the dialogue directly (no platform): each call
    sends one update with a fresh update id."""

    db: Database
    settings: object
    platform: str = "telegram"
    language: str = "en"
    chat_id: str = field(default_factory=lambda: str(next(_chat_ids)))
    _updates: itertools.count = field(default_factory=lambda: itertools.count(1))
    sent: list[Incoming] = field(default_factory=list)

    def incoming(self, **values) -> Incoming:
        values.setdefault("language", self.language)
        return Incoming(
            platform=self.platform,
            chat_id=self.chat_id,
            update_id=f"{self.chat_id}-{next(self._updates)}",
            **values,
        )

    def send(self, text: str | None = None, **values) -> list[Reply]:
        update = self.incoming(text=text, **values)
        self.sent.append(update)
        return handle(self.db, self.settings, update)

    def press(self, data: str) -> list[Reply]:
        return self.send(button=data)

    def again(self, update: Incoming) -> list[Reply]:
        """The same update delivered once more."""
        return handle(self.db, self.settings, update)


@pytest.fixture
def new_chat(db, bot_settings):
    def make(**values) -> FakeChat:
        return FakeChat(db, bot_settings, **values)

    return make


def texts(replies: list[Reply]) -> str:
    return "\n".join(reply.text for reply in replies)
