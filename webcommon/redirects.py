"""Where to send someone after they sign in: only ever a path on this site."""

from __future__ import annotations

from urllib.parse import urlsplit


def local_path(target: str | None) -> str | None:
    """`target` when it is a path on this site, else None: a `next=` naming another site
    (`//evil.example`, `/\\evil.example`, `https://...`) must never take a person who just
    signed in away."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return None
