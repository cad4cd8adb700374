"""Why a form was refused by the CSRF check, in the reader's language.

Flask-WTF says it in English ("The CSRF token has expired.", "The referrer does not
match the host.") and ships no translation; each reason has its own cause and its own
remedy, so each gets a sentence here that tells the reader what to do. A reason not
listed (a newer Flask-WTF) gets the error page's general sentence, never the English.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

#: Flask-WTF's reasons (flask_wtf/csrf.py), as the CSRFError's description carries them.
REASONS = {
    "The CSRF token is missing.": _l(
        "The form was sent without its security code. Reload the page and send it again."
    ),
    "The CSRF session token is missing.": _l(
        "Your browser did not send this site's cookie, or the session ended. Allow cookies "
        "for this site, reload the page and send the form again."
    ),
    "The CSRF token has expired.": _l(
        "The form was open too long and has expired. Reload the page and send it again."
    ),
    "The CSRF token is invalid.": _l(
        "The form's security code is not valid. Reload the page and send it again."
    ),
    "The CSRF tokens do not match.": _l(
        "The form belongs to another session (opened before you signed in again, or in "
        "another window). Reload the page and send it again."
    ),
    "The referrer header is missing.": _l(
        "Your browser did not say which page sent the form, which a secure (HTTPS) site "
        "needs. Open the page on this site again and send the form from it."
    ),
    "The referrer does not match the host.": _l(
        "The form was sent from a page of another site. Open the page on this site and "
        "send the form from it."
    ),
}


def csrf_reason(description: str | None) -> str | None:
    """Flask-WTF's reason for refusing a form, as the reader's sentence; None for a
    reason not listed here (the error page then says its general sentence)."""
    found = REASONS.get(description or "")
    return None if found is None else str(found)
