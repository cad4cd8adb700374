"""Refusals of the messaging services (wallet errors, so every adapter shows them alike)."""

from wallet.errors import WalletError


class NotAllowed(WalletError):
    """This side may not do that (a customer assigning a conversation, say)."""


class ConversationClosed(WalletError):
    """A closed conversation takes no messages until it is reopened."""
