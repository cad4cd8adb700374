"""Router API passwords, encrypted at rest with the key(s) in PULSA_ROUTER_KEY.

The setting holds one or more Fernet keys, comma-separated: the first encrypts, every
one decrypts, so a key can be rotated by putting the new one first, running
`pulsa router rekey`, and then dropping the old one.
"""

from __future__ import annotations

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


class CredentialError(Exception):
    """The router key is missing, or cannot open a stored password."""


def generate_key() -> str:
    """A new random key for PULSA_ROUTER_KEY."""
    return Fernet.generate_key().decode("ascii")


class RouterKeyring:
    """Encrypts and decrypts router passwords with the configured keys."""

    def __init__(self, keys: str) -> None:
        parts = [part.strip() for part in (keys or "").split(",") if part.strip()]
        if not parts:
            raise CredentialError(
                "PULSA_ROUTER_KEY is not set: router passwords are stored encrypted with it "
                "(`pulsa router keygen` prints a new key)"
            )
        try:
            self._fernet = MultiFernet([Fernet(part) for part in parts])
        except ValueError:
            raise CredentialError("PULSA_ROUTER_KEY holds a malformed key") from None

    def encrypt(self, password: str) -> str:
        return self._fernet.encrypt(password.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError):
            raise CredentialError(
                "a router password cannot be decrypted: PULSA_ROUTER_KEY is not the key "
                "it was stored with"
            ) from None

    def rotate(self, token: str) -> str:
        """The same password encrypted with the first (newest) key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise CredentialError("a router password cannot be decrypted to re-encrypt") from None
