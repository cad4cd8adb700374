"""Errors a wallet service raises; each message is one line fit for a person to read."""


class WalletError(Exception):
    """Base of every refusal by a wallet service."""


class NotFound(WalletError):
    pass


class InvalidInput(WalletError):
    pass


class InsufficientFunds(WalletError):
    pass


class AccountBlocked(WalletError):
    pass


class HoldNotOpen(WalletError):
    pass


class IdempotencyConflict(WalletError):
    """A key was used before for a different operation."""
