"""Who acts in a conversation: a staff member, the customer side (a customer, or a chat
contact not linked to a customer yet) or pulsa itself.

The adapter that knows who is asking builds the actor (the admin from the signed-in staff
member, the portal from the signed-in customer, a bot from the chat); the services decide
from it what that side may do and whose conversations it may reach.
"""

from __future__ import annotations

from dataclasses import dataclass

from wallet.staff import staff_actor_name

STAFF, CUSTOMER, PULSA = "staff", "customer", "pulsa"


@dataclass(frozen=True)
class Actor:
    kind: str  # staff, customer or pulsa
    name: str  # as written in the audit log
    channel: str  # where the action comes from: portal, admin, telegram, line
    staff_id: int | None = None
    customer_id: int | None = None
    contact_key: str | None = None  # a chat not linked to a customer: "telegram:123"

    @classmethod
    def staff(cls, staff_id: int, username: str, channel: str = "admin") -> Actor:
        return cls(STAFF, staff_actor_name(username, channel), channel, staff_id=staff_id)

    @classmethod
    def customer(cls, customer_id: int, channel: str = "portal") -> Actor:
        return cls(CUSTOMER, f"{channel}:customer:{customer_id}", channel, customer_id=customer_id)

    @classmethod
    def contact(cls, contact_key: str, channel: str) -> Actor:
        """Someone writing from a chat that is not linked to a customer (not a customer
        yet, or not signed in yet)."""
        return cls(
            CUSTOMER, f"{channel}:contact:{contact_key}"[:60], channel, contact_key=contact_key
        )

    @classmethod
    def pulsa(cls, channel: str = "admin") -> Actor:
        return cls(PULSA, "pulsa", channel)

    @property
    def is_staff(self) -> bool:
        return self.kind == STAFF

    @property
    def is_customer_side(self) -> bool:
        return self.kind == CUSTOMER
