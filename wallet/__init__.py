"""The database and every service that moves money.

Nothing else in pulsa writes a balance, a ledger entry or a hold: adapters call the
functions in `wallet.ledger` inside a `Database.transaction()`.
"""
