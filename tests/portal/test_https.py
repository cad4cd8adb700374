"""The portal over HTTPS: browsers are told to keep to it."""

from __future__ import annotations


def test_over_https_browsers_are_told_to_keep_to_it(anonymous):
    secure = anonymous.get("/sign-in", base_url="https://portal.rt05.net")
    assert secure.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert "Strict-Transport-Security" not in anonymous.get("/sign-in").headers
