"""What staff may do, by name: the permissions the admin's roles grant, shared by every
adapter staff act through (the web admin and the staff chat), so that a chat command
asks exactly what the admin's screen asks.

A screen's name is its permission, with a level (`view` or `change`); a job granted apart
from the screens (top up, see revenue) is a permission of its own. Roles store these
names (wallet.staff); the admin registers its screens under them (webadmin.screens) and
the staff chat checks them with `may` before it calls a service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wallet.staff import Principal

VIEW, CHANGE = "view", "change"

# Screens of the admin (a role grants each with view or change).
DASHBOARD = "dashboard"
CUSTOMERS = "customers"
PAYMENTS = "payments"
ROUTERS = "routers"
SUBSCRIPTIONS = "subscriptions"  # customers' hotspot logins
REGISTRATIONS = "registrations"
VOUCHERS = "vouchers"
BROADCAST = "broadcast"
NOTICES = "notices"  # the outbox: notices to chats, failed ones sent again

# Jobs granted apart from the screens.
TOP_UP = "top_up"
ADJUST = "adjust"
TRANSFER = "transfer"
CREDIT_LIMIT = "credit_limit"
REVENUE = "revenue"


def may(principal: Principal | None, name: str, level: str = VIEW) -> bool:
    """Whether this staff member may use screen `name` at `level` (a job: level view).
    Nobody (None, a disabled or unlinked account) may do anything."""
    return principal is not None and principal.can(name, level)
