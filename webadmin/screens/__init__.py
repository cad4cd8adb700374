"""The screens of the admin, one module each; a module exposes `blueprint` (its routes,
named like the screen) and `SCREEN` (nav entry and permission name; None for the
sign-in pages). To add a screen, write its module and add one line here (see
webadmin/README.md)."""

SCREEN_MODULES: tuple[str, ...] = (
    "webadmin.screens.signin",
    "webadmin.screens.dashboard",
    "webadmin.screens.customers",
    "webadmin.screens.payments",
    "webadmin.screens.conversations",
    "webadmin.screens.announcements",
    "webadmin.screens.broadcast",
    "webadmin.screens.notices",
    "webadmin.screens.bank_accounts",
    "webadmin.screens.tariffs",
    "webadmin.screens.calls",
    "webadmin.screens.reports",
    "webadmin.screens.settings",
    "webadmin.screens.setup",
    "webadmin.screens.routers",
    "webadmin.screens.packages",
    "webadmin.screens.subscriptions",
    "webadmin.screens.registrations",
    "webadmin.screens.vouchers",
    "webadmin.screens.hotspot_pages",
    "webadmin.screens.portal",
    "webadmin.screens.staff",
    "webadmin.screens.audit",
)


# Blueprints for people who are not staff (a customer portal): their routes are @public,
# and the tests that require a sign-in everywhere leave them out. Name them here.
PUBLIC_BLUEPRINTS: tuple[str, ...] = ("portal",)
