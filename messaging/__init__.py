"""Conversations between customers and staff, announcements to customers, and the outbox
of notices sent to a customer's or a staff member's chat.

No money here: `messaging` uses `wallet` for who is who (customers, staff, packages,
routers) and is used by the admin, the portal and the chat bots alike.
"""
