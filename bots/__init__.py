"""Chat channels (Telegram, LINE): one platform-neutral dialogue (bots.dialogue), a
renderer and transport per platform. See bots/README.md."""
