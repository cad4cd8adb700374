"""The customer's words for a password that `wallet.passwords` refuses."""

from __future__ import annotations

from flask_babel import gettext as _

from wallet.passwords import COMMON, NAME, REPETITIVE, SEQUENTIAL, SHORT, WeakPassword


def weak_password_message(error: WeakPassword) -> str:
    if error.reason == SHORT:
        return _("A password needs at least %(min)d characters.", min=error.min_length)
    return {
        COMMON: _("This password is one of the most common ones. Choose one harder to guess."),
        REPETITIVE: _("This password repeats the same few characters. Choose one harder to guess."),
        SEQUENTIAL: _("This password is a run of keys, letters or digits. Choose another one."),
        NAME: _("A password must not be made of your name or phone number."),
    }[error.reason]
