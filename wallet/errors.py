"""Errors a wallet service raises; each message is one line fit for a person to read."""


class WalletError(Exception):
    """Base of every refusal by a wallet service."""


class NotFound(WalletError):
    pass


class InvalidInput(WalletError):
    pass


class InsufficientFunds(WalletError):
    """Not enough credit; `available` and `needed` (micro-units, when known) let a screen
    show them in the operator's currency instead of the message's raw figures."""

    def __init__(
        self, message: str, *, available: int | None = None, needed: int | None = None
    ) -> None:
        super().__init__(message)
        self.available = available
        self.needed = needed


class AccountBlocked(WalletError):
    pass


class HoldNotOpen(WalletError):
    pass


class IdempotencyConflict(WalletError):
    """A key was used before for a different operation."""
