"""The pages of the portal, one module each; a module exposes `blueprint` (its routes)
and optionally `MENU` (a `portal.access.MenuEntry`). To add a page, write its module
and add one line here (see portal/README.md)."""

PAGE_MODULES: tuple[str, ...] = (
    "portal.pages.signin",
    "portal.pages.register",
    "portal.pages.home",
    "portal.pages.help",
    "portal.pages.history",
    "portal.pages.internet",
    "portal.pages.voucher",
    "portal.pages.topup",
    "portal.pages.profile",
)
