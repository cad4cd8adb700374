"""The staff's dialogue: a chat linked to a staff member (from their admin profile).

What a staff member may do here is exactly what their role lets them do in the admin:
every command and button names the permission it needs (`NEEDS`, the names of
`wallet.permissions`, asked with the same `Principal.can` as the admin's guard), checked
afresh on every update (a role changed or an account disabled in the admin counts at
once), also when a step of several (a reason, an amount) is finished. Without it the
answer says so and nothing is done.

Every action calls the service the admin calls, with the staff member as the actor
written the way the chat app is named (`telegram:andi`), so the audit log tells it from
the admin's `web:andi`. Money moves once: a top-up is confirmed with a button whose
key is the update that typed the amount, so a second press or a delivery twice credits
nothing more.

`handle_staff` is called by `bots.dialogue.handle` after the update was claimed and
committed, outside any transaction: each action opens its own, and routers are talked to
with no transaction open.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from bots.chat import Button, ChatPerson, Incoming, Reply
from bots.i18n import N_, Gettext, gettext_for
from hotspot.backoffice import (
    staff_confirm_registration,
    staff_generate_batch,
    staff_reject_registration,
    staff_set_login_status,
)
from hotspot.credentials import CredentialError, RouterKeyring
from hotspot.driver import RouterError
from hotspot.operations import (
    MAX_STAFF_PING_COUNT,
    routers_report,
    staff_kick_login,
    staff_ping,
)
from hotspot.voucher_sheet import SHEET_SIZE, batch_sheet
from messaging.chats import chat_state, redeem_link_token, set_step, step_data
from rating.money import AmountError, format_money, parse_amount
from wallet import permissions
from wallet.backoffice import staff_top_up
from wallet.customers import search_customer_accounts
from wallet.db import Database
from wallet.errors import NotFound, WalletError
from wallet.hotspot_models import HotspotLogin, InternetPackage
from wallet.internet import find_login, latest_pending_registrations
from wallet.models import Account
from wallet.payments import (
    PaymentDecided,
    confirm_payment,
    pending_payment_requests,
    reject_payment,
)
from wallet.reports import daily_summary
from wallet.site_settings import load_site_config
from wallet.staff import Principal, principal_of_staff, staff_actor_name
from wallet.text import whole_number

#: Typed commands, English and Indonesian, each to the name of what it does.
COMMANDS = {
    "start": "help",
    "help": "help",
    "bantuan": "help",
    "menu": "help",
    "payments": "payments",
    "pembayaran": "payments",
    "registrations": "registrations",
    "pendaftaran": "registrations",
    "customer": "customer",
    "pelanggan": "customer",
    "routers": "routers",
    "router": "routers",
    "ping": "ping",
    "user": "user",
    "pengguna": "user",
    "vouchers": "vouchers",
    "voucher": "vouchers",
    "summary": "summary",
    "ringkasan": "summary",
    "cancel": "cancel",
    "batal": "cancel",
}
#: What each thing a staff member can do needs: (permission, level), as in the admin.
#: Typed commands, buttons (`what:argument`) and the steps that wait for text alike.
NEEDS: dict[str, tuple[str, str]] = {
    "payments": (permissions.PAYMENTS, permissions.VIEW),
    "pay_ok": (permissions.PAYMENTS, permissions.CHANGE),
    "pay_no": (permissions.PAYMENTS, permissions.CHANGE),
    "registrations": (permissions.REGISTRATIONS, permissions.VIEW),
    "reg_ok": (permissions.REGISTRATIONS, permissions.CHANGE),
    "reg_no": (permissions.REGISTRATIONS, permissions.CHANGE),
    "customer": (permissions.CUSTOMERS, permissions.VIEW),
    "topup": (permissions.TOP_UP, permissions.VIEW),
    "tu_ok": (permissions.TOP_UP, permissions.VIEW),
    "routers": (permissions.ROUTERS, permissions.VIEW),
    # Like the admin's "test connection" and "sync": an action on the router.
    "ping": (permissions.ROUTERS, permissions.CHANGE),
    "user": (permissions.SUBSCRIPTIONS, permissions.VIEW),
    "hs_on": (permissions.SUBSCRIPTIONS, permissions.CHANGE),
    "hs_off": (permissions.SUBSCRIPTIONS, permissions.CHANGE),
    "hs_kick": (permissions.SUBSCRIPTIONS, permissions.CHANGE),
    "vouchers": (permissions.VOUCHERS, permissions.CHANGE),
    "vb": (permissions.VOUCHERS, permissions.CHANGE),
    "summary": (permissions.DASHBOARD, permissions.VIEW),
}
#: A step waiting for text, to what finishing it does.
STEPS = {
    "staff_reject_payment": "pay_no",
    "staff_reject_registration": "reg_no",
    "staff_customer": "customer",
    "staff_topup_amount": "topup",
    "staff_topup_confirm": "tu_ok",
    "staff_ping": "ping",
    "staff_user": "user",
    "staff_voucher_count": "vb",
}
#: The menu: what it does, its label, in this order.
MENU = (
    ("payments", N_("Payments waiting")),
    ("registrations", N_("Registrations waiting")),
    ("customer", N_("Find a customer")),
    ("routers", N_("Routers")),
    ("user", N_("Hotspot user")),
    ("vouchers", N_("Vouchers")),
    ("summary", N_("Today's summary")),
)
LISTED = 10  # payments or registrations shown at once
METHODS = {"c": "cash", "b": "bank_transfer"}
PING_COUNT = min(4, MAX_STAFF_PING_COUNT)


@dataclass
class StaffChat:
    """One update from a staff member's chat being answered."""

    db: Database
    settings: object
    incoming: Incoming
    person: ChatPerson
    staff: Principal
    _: Gettext

    @property
    def platform(self) -> str:
        return self.person.platform

    @property
    def actor(self) -> str:
        return staff_actor_name(self.staff.username, self.platform)

    def may(self, what: str) -> bool:
        return permissions.may(self.staff, *NEEDS[what])

    def key(self, what: str, nonce: str) -> str:
        return f"{self.platform}-staff-{what}:{self.person.chat_id}:{nonce}"[:160]

    def step(self, step: str, data: dict | None = None) -> None:
        def save(session: Session) -> None:
            set_step(session, chat_state(session, self.platform, self.person.chat_id), step, data)

        self.db.run(save)

    def money(self, session: Session, micro: int) -> str:
        site = load_site_config(session, self.settings)
        return format_money(int(micro), site.display_precision, self.settings.currency)

    def keyring(self) -> RouterKeyring | None:
        try:
            return RouterKeyring(self.settings.router_key)
        except CredentialError:
            return None

    @property
    def router_timeout(self) -> float:
        return float(self.settings.router_timeout_seconds)


def handle_staff(db: Database, settings, incoming: Incoming, person: ChatPerson) -> list[Reply]:
    _ = gettext_for(person.language)
    staff = db.run(lambda s: principal_of_staff(s, person.staff_id))
    if staff is None:
        return [
            Reply(
                _(
                    "This chat is linked to a staff account that is disabled or gone: "
                    "it can do nothing."
                )
            )
        ]
    chat = StaffChat(db, settings, incoming, person, staff, _)
    command, argument = _command(incoming.text)
    if incoming.button:
        command, _sep, argument = incoming.button.partition(":")
        what = command if command in NEEDS or command in ("help", "cancel") else None
        if what != "tu_ok":
            # Another button leaves the question that was asked (the top-up's own
            # confirmation reads it).
            chat.step("")
    elif command is not None:
        chat.step("")
        what = COMMANDS.get(command)
        if command == "start" and argument:
            return _relink(chat, argument)
    else:
        return _go_on(chat, (incoming.text or "").strip())
    if what is None or what == "help":
        return _help(chat)
    if what == "cancel":
        chat.step("")
        return [Reply(_("Cancelled."), buttons=_menu(chat))]
    if not chat.may(what):
        return _refused(chat, what)
    return ACTIONS[what](chat, argument.strip())


def _command(text: str | None) -> tuple[str | None, str]:
    text = (text or "").strip()
    if not text.startswith("/") or len(text) < 2:
        return None, ""
    word, _sep, rest = text[1:].partition(" ")
    return word.split("@", 1)[0].lower(), rest.strip()


def _go_on(chat: StaffChat, text: str) -> list[Reply]:
    """Text that is not a command: the answer to the step the chat is at, if any."""
    with chat.db.transaction() as session:
        state = chat_state(session, chat.platform, chat.person.chat_id)
        step, data = state.step, step_data(state)
    what = STEPS.get(step)
    if what is None or not text:
        return _help(chat)
    if not chat.may(what):
        chat.step("")
        return _refused(chat, what)
    return STEP_ACTIONS[step](chat, text, data)


def _refused(chat: StaffChat, what: str) -> list[Reply]:
    _ = chat._
    return [
        Reply(
            _(
                "Your role in the admin does not allow this, so nothing was done. Ask an "
                "administrator if you need it."
            )
        )
    ]


def _relink(chat: StaffChat, token: str) -> list[Reply]:
    _ = chat._
    try:
        chat.db.run(
            lambda s: redeem_link_token(
                s, chat.platform, chat.person.chat_id, token, language=chat.person.language
            )
        )
    except WalletError:
        return [Reply(_("This link is unknown, used or expired."))]
    return [Reply(_("This chat is now linked to the account of this link."))]


# --- help ------------------------------------------------------------------------------------


def _menu(chat: StaffChat) -> tuple[tuple[Button, ...], ...]:
    buttons = [Button(chat._(label), what) for what, label in MENU if chat.may(what)]
    return tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))


def _help(chat: StaffChat) -> list[Reply]:
    _ = chat._
    lines = {
        "payments": _("/payments (/pembayaran): payments waiting, confirm or reject"),
        "registrations": _("/registrations (/pendaftaran): hotspot registrations waiting"),
        "customer": _("/customer (/pelanggan) <name, phone or account>: find and top up"),
        "routers": _("/routers: each router now: up or down, load, memory, users online"),
        "ping": _("/ping: ping an address from a router"),
        "user": _("/user (/pengguna) <login>: enable, disable or kick a hotspot user"),
        "vouchers": _("/vouchers: make a voucher batch and get its printable sheet"),
        "summary": _("/summary (/ringkasan): today's figures"),
    }
    allowed = [text for what, text in lines.items() if chat.may(what)]
    if not allowed:
        return [
            Reply(
                _(
                    "Hello %(name)s. Your role in the admin allows nothing that can be done "
                    "from the chat.",
                    name=chat.staff.full_name or chat.staff.username,
                )
            )
        ]
    text = _(
        "Hello %(name)s. What would you like to do?",
        name=chat.staff.full_name or chat.staff.username,
    )
    text += "\n" + "\n".join(allowed) + "\n" + _("/cancel (/batal): stop what you started")
    return [Reply(text, buttons=_menu(chat))]


# --- payments --------------------------------------------------------------------------------


def _payments(chat: StaffChat, _argument: str) -> list[Reply]:
    _ = chat._
    may_decide = chat.may("pay_ok")

    def read(session: Session) -> list[Reply]:
        count, rows = pending_payment_requests(session, limit=LISTED)
        if not count:
            return [Reply(_("No payments are waiting."))]
        replies = [Reply(_("Payments waiting: %(n)s.", n=count))]
        for request, customer in rows:
            text = _(
                "Payment %(id)s: %(amount)s from %(name)s (account %(account)s), %(when)s",
                id=request.id,
                amount=chat.money(session, request.amount),
                name=customer.name,
                account=request.account_id,
                when=request.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            )
            if request.reference:
                text += "\n" + _("Reference: %(reference)s", reference=request.reference)
            if request.proof_path:
                text += "\n" + _("A proof photo is attached in the admin.")
            buttons = ()
            if may_decide:
                buttons = (
                    (
                        Button(_("Confirm"), f"pay_ok:{request.id}"),
                        Button(_("Reject"), f"pay_no:{request.id}"),
                    ),
                )
            replies.append(Reply(text, buttons=buttons))
        return replies

    with chat.db.transaction() as session:
        return read(session)


def _confirm_payment(chat: StaffChat, argument: str) -> list[Reply]:
    _ = chat._
    request_id = whole_number(argument)
    if request_id is None:
        return _help(chat)

    def confirm(session: Session) -> str:
        request, credited = confirm_payment(session, request_id, actor=chat.actor)
        amount = chat.money(session, request.amount)
        if credited:
            return _(
                "Confirmed: %(amount)s credited (payment %(id)s).", amount=amount, id=request_id
            )
        return _("Payment %(id)s was confirmed already; it was credited once.", id=request_id)

    try:
        return [Reply(chat.db.run(confirm))]
    except PaymentDecided:
        return [
            Reply(_("Payment %(id)s was rejected already; it cannot be confirmed.", id=request_id))
        ]
    except NotFound:
        return [Reply(_("There is no payment %(id)s.", id=request_id))]


def _ask_payment_reason(chat: StaffChat, argument: str) -> list[Reply]:
    _ = chat._
    request_id = whole_number(argument)
    if request_id is None:
        return _help(chat)
    chat.step("staff_reject_payment", {"request": request_id})
    return [
        Reply(
            _(
                "Why is payment %(id)s rejected? Write the reason: the customer reads it. "
                "(/cancel to stop)",
                id=request_id,
            )
        )
    ]


def _decide_ending_step(chat: StaffChat, decide: Callable[[Session], object]) -> None:
    """A decision typed as a step's answer (a rejection's reason) and the end of that step,
    in one transaction: a refused decision undoes both (the caller says whether the step
    ends)."""

    def work(session: Session) -> None:
        decide(session)
        set_step(session, chat_state(session, chat.platform, chat.person.chat_id), "")

    chat.db.run(work)


def _reject_payment(chat: StaffChat, reason: str, data: dict) -> list[Reply]:
    _ = chat._
    request_id = int(data.get("request", 0))
    try:
        _decide_ending_step(
            chat, lambda session: reject_payment(session, request_id, reason, actor=chat.actor)
        )
    except PaymentDecided:
        chat.step("")
        return [Reply(_("Payment %(id)s was decided already; nothing changed.", id=request_id))]
    except NotFound:
        chat.step("")
        return [Reply(_("There is no payment %(id)s.", id=request_id))]
    except WalletError:
        return [Reply(_("This reason cannot be used; write it again, or /cancel."))]
    return [Reply(_("Payment %(id)s rejected; the customer is told why.", id=request_id))]


# --- registrations ---------------------------------------------------------------------------


def _registrations(chat: StaffChat, _argument: str) -> list[Reply]:
    _ = chat._
    may_decide = chat.may("reg_ok")
    with chat.db.transaction() as session:
        count, waiting = latest_pending_registrations(session, limit=LISTED)
        if not count:
            return [Reply(_("No registrations are waiting."))]
        replies = [Reply(_("Registrations waiting: %(n)s.", n=count))]
        for login in waiting:
            package = login.package
            text = _(
                "%(name)s, hotspot login %(login)s, package %(package)s (%(price)s), "
                "registered %(when)s",
                name=login.customer.name if login.customer else "",
                login=login.username,
                package=package.name if package else "-",
                price=chat.money(session, package.price) if package else "-",
                when=login.created_at.strftime("%Y-%m-%d %H:%M UTC"),
            )
            if login.customer is not None and login.customer.phone:
                text += "\n" + _("Phone: %(phone)s", phone=login.customer.phone)
            buttons = ()
            if may_decide:
                row = (Button(_("Reject"), f"reg_no:{login.id}"),)
                if package is not None:
                    row = (
                        Button(_("Paid in cash"), f"reg_ok:{login.id}:c"),
                        Button(_("Paid by transfer"), f"reg_ok:{login.id}:b"),
                        *row,
                    )
                buttons = (row,)
            replies.append(Reply(text, buttons=buttons))
    return replies


def _confirm_registration(chat: StaffChat, argument: str) -> list[Reply]:
    _ = chat._
    login_text, _sep, method_code = argument.partition(":")
    login_id = whole_number(login_text)
    if login_id is None or method_code not in METHODS:
        return _help(chat)

    def confirm(session: Session) -> str:
        login = session.get(HotspotLogin, login_id)
        if login is None or login.kind != "customer" or login.package is None:
            raise NotFound(f"registration {login_id} does not exist")
        price = login.package.price
        subscription, is_new = staff_confirm_registration(
            session,
            login_id,
            amount=price,
            method=METHODS[method_code],
            reference=None,
            actor=chat.actor,
        )
        if not is_new:
            return _("This registration was confirmed already; paid once.")
        if subscription.awaits_start:
            return _(
                "Confirmed: %(amount)s credited, %(login)s is enabled on the routers at the "
                "next sync; its package's time starts then.",
                amount=chat.money(session, price),
                login=login.username,
            )
        return _(
            "Confirmed: %(amount)s credited, %(login)s runs until %(end)s and is enabled on "
            "the routers at the next sync.",
            amount=chat.money(session, price),
            login=login.username,
            end=subscription.ends_at.strftime("%Y-%m-%d %H:%M UTC"),
        )

    try:
        return [Reply(chat.db.run(confirm))]
    except NotFound:
        return [Reply(_("There is no such registration waiting."))]
    except WalletError as error:
        return [Reply(_("Not confirmed: %(why)s", why=str(error)))]


def _ask_registration_reason(chat: StaffChat, argument: str) -> list[Reply]:
    _ = chat._
    login_id = whole_number(argument)
    if login_id is None:
        return _help(chat)
    chat.step("staff_reject_registration", {"login": login_id})
    return [Reply(_("Why is this registration rejected? Write the reason. (/cancel to stop)"))]


def _reject_registration(chat: StaffChat, reason: str, data: dict) -> list[Reply]:
    _ = chat._
    login_id = int(data.get("login", 0))
    try:
        _decide_ending_step(
            chat,
            lambda session: staff_reject_registration(session, login_id, reason, actor=chat.actor),
        )
    except NotFound:
        chat.step("")
        return [Reply(_("There is no such registration waiting."))]
    except WalletError as error:
        chat.step("")
        return [Reply(_("Not rejected: %(why)s", why=str(error)))]
    return [Reply(_("Registration rejected."))]


# --- customers and top-ups -------------------------------------------------------------------


def _customer(chat: StaffChat, argument: str) -> list[Reply]:
    _ = chat._
    if not argument:
        chat.step("staff_customer")
        return [Reply(_("Who? Write a name, a phone number, an e-mail or an account number."))]
    return _find_customer(chat, argument, {})


def _find_customer(chat: StaffChat, text: str, _data: dict) -> list[Reply]:
    _ = chat._
    chat.step("")
    may_top_up = chat.may("topup")
    with chat.db.transaction() as session:
        found = search_customer_accounts(session, text, limit=5)
        if not found:
            return [Reply(_("No customer matches %(text)s.", text=text[:60]))]
        replies = []
        for customer, account in found:
            line = _(
                "%(name)s · account %(account)s · balance %(balance)s (available %(available)s)",
                name=customer.name,
                account=account.id,
                balance=chat.money(session, account.balance),
                available=chat.money(session, account.available),
            )
            if customer.phone:
                line += " · " + customer.phone
            if customer.status != "active":
                line += " · " + _("status: %(status)s", status=customer.status)
            buttons = ((Button(_("Top up"), f"topup:{account.id}"),),) if may_top_up else ()
            replies.append(Reply(line, buttons=buttons))
    return replies


def _ask_amount(chat: StaffChat, argument: str) -> list[Reply]:
    _ = chat._
    account_id = whole_number(argument)
    if account_id is None:
        return _help(chat)
    with chat.db.transaction() as session:
        account = session.get(Account, account_id)
        if account is None:
            return [Reply(_("There is no account %(id)s.", id=account_id))]
        name = account.customer.name
    chat.step("staff_topup_amount", {"account": account_id})
    return [
        Reply(
            _(
                "How much for %(name)s (account %(account)s)? Write the amount, e.g. 50000. "
                "(/cancel to stop)",
                name=name,
                account=account_id,
            )
        )
    ]


def _amount_typed(chat: StaffChat, text: str, data: dict) -> list[Reply]:
    _ = chat._
    account_id = int(data.get("account", 0))
    with chat.db.transaction() as session:
        site = load_site_config(session, chat.settings)
        try:
            amount = parse_amount(
                text, precision=site.display_precision, currency=chat.settings.currency
            )
        except AmountError as error:
            return [Reply(_("Not an amount: %(why)s. Write it again, or /cancel.", why=str(error)))]
        if amount <= 0:
            return [Reply(_("The amount must be more than zero. Write it again, or /cancel."))]
        account = session.get(Account, account_id)
        if account is None:
            return [Reply(_("There is no account %(id)s.", id=account_id))]
        name, shown = account.customer.name, chat.money(session, amount)
    nonce = str(chat.incoming.update_id)[:40]
    chat.step("staff_topup_confirm", {"account": account_id, "amount": amount, "nonce": nonce})
    return [
        Reply(
            _(
                "Top up %(amount)s to %(name)s (account %(account)s)? How was it paid?",
                amount=shown,
                name=name,
                account=account_id,
            ),
            buttons=(
                (
                    Button(_("Confirm: cash"), f"tu_ok:{nonce}:c"),
                    Button(_("Confirm: bank transfer"), f"tu_ok:{nonce}:b"),
                ),
                (Button(_("Cancel"), "cancel"),),
            ),
        )
    ]


def _top_up(chat: StaffChat, argument: str) -> list[Reply]:
    """The confirmation button: credits once per typed amount (its update is the key)."""
    _ = chat._
    nonce, _sep, method_code = argument.rpartition(":")
    if not nonce or method_code not in METHODS:
        return _help(chat)

    def credit(session: Session) -> str:
        state = chat_state(session, chat.platform, chat.person.chat_id, lock=True)
        data = step_data(state)
        if state.step != "staff_topup_confirm" or data.get("nonce") != nonce:
            return _("This top-up was done or cancelled already; nothing more was credited.")
        account_id, amount = int(data["account"]), int(data["amount"])
        entry, is_new = staff_top_up(
            session,
            account_id,
            amount,
            key=chat.key("topup", nonce),
            method=METHODS[method_code],
            reference=None,
            note=None,
            actor=chat.actor,
        )
        set_step(session, state, "")
        name = session.get(Account, account_id).customer.name
        if not is_new:
            return _("This top-up was done already; credited once.")
        return _(
            "Done: %(amount)s credited to %(name)s; the balance is now %(balance)s.",
            amount=chat.money(session, amount),
            name=name,
            balance=chat.money(session, entry.balance_after),
        )

    try:
        return [Reply(chat.db.run(credit))]
    except WalletError as error:
        chat.step("")
        return [Reply(_("Not topped up: %(why)s", why=str(error)))]


# --- routers -----------------------------------------------------------------------------------


def _duration(_: Gettext, seconds: int) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return _("%(d)sd %(h)sh", d=days, h=hours)
    return _("%(h)sh %(m)sm", h=hours, m=minutes)


def _router_line(_: Gettext, report) -> str:
    if not report.up:
        return _("%(name)s: DOWN (%(why)s)", name=report.name, why=report.problem or "")
    status = report.status
    used = 0
    if status.total_memory:
        used = (status.total_memory - status.free_memory) * 100 // status.total_memory
    return _(
        "%(name)s: up · CPU %(cpu)s%% · memory %(memory)s%% used of %(total)s MB · running "
        "%(uptime)s · %(online)s online · RouterOS %(version)s",
        name=report.name,
        cpu=status.cpu_load,
        memory=used,
        total=status.total_memory // (1024 * 1024),
        uptime=_duration(_, status.uptime_seconds),
        online=report.online_users,
        version=status.version,
    )


def _routers(chat: StaffChat, _argument: str) -> list[Reply]:
    _ = chat._
    reports = routers_report(chat.db, chat.keyring(), timeout=chat.router_timeout)
    if not reports:
        return [Reply(_("No routers are registered (or all are disabled)."))]
    may_ping = chat.may("ping")
    replies = []
    for report in reports:
        buttons = ((Button(_("Ping from here"), f"ping:{report.router_id}"),),) if may_ping else ()
        replies.append(Reply(_router_line(_, report), buttons=buttons))
    return replies


def _ping(chat: StaffChat, argument: str) -> list[Reply]:
    """`ping` alone: choose the router; `ping:<router id>`: ask the address."""
    _ = chat._
    router_id = whole_number(argument)
    if router_id is None:
        from hotspot.routers import list_routers

        with chat.db.transaction() as session:
            routers = [(r.id, r.name) for r in list_routers(session, enabled_only=True)]
        if not routers:
            return [Reply(_("No routers are registered (or all are disabled)."))]
        return [
            Reply(
                _("Ping from which router?"),
                buttons=tuple((Button(name, f"ping:{rid}"),) for rid, name in routers[:20]),
            )
        ]
    chat.step("staff_ping", {"router": router_id})
    return [Reply(_("Which address should the router ping? e.g. 8.8.8.8 (/cancel to stop)"))]


def _ping_address(chat: StaffChat, address: str, data: dict) -> list[Reply]:
    _ = chat._
    router_id = int(data.get("router", 0))
    try:
        result = staff_ping(
            chat.db,
            chat.keyring(),
            router_id,
            address,
            count=PING_COUNT,
            actor=chat.actor,
            timeout=chat.router_timeout,
        )
    except NotFound:
        chat.step("")
        return [Reply(_("There is no such router."))]
    except RouterError as error:
        chat.step("")
        return [Reply(_("The router could not ping: %(why)s", why=error.message))]
    except WalletError as error:
        return [Reply(_("%(why)s. Write the address again, or /cancel.", why=str(error)))]
    chat.step("")
    text = _(
        "Ping to %(address)s: %(sent)s sent, %(received)s received (%(loss)s%% lost).",
        address=result.address,
        sent=result.sent,
        received=result.received,
        loss=result.packet_loss,
    )
    if result.avg_rtt_us is not None:
        text += " " + _(
            "Round trip min/avg/max: %(min)s/%(avg)s/%(max)s ms.",
            min=_ms(result.min_rtt_us),
            avg=_ms(result.avg_rtt_us),
            max=_ms(result.max_rtt_us),
        )
    return [Reply(text)]


def _ms(micros: int | None) -> str:
    return "-" if micros is None else f"{micros / 1000:.1f}"


# --- hotspot users ---------------------------------------------------------------------------


def _user(chat: StaffChat, argument: str) -> list[Reply]:
    _ = chat._
    if not argument:
        chat.step("staff_user")
        return [Reply(_("Which hotspot login? Write its user name."))]
    return _show_user(chat, argument, {})


def _show_user(chat: StaffChat, name: str, _data: dict) -> list[Reply]:
    _ = chat._
    chat.step("")
    with chat.db.transaction() as session:
        login = find_login(session, name.strip()[:64])
        if login is None:
            return [Reply(_("There is no hotspot login %(name)s.", name=name[:64]))]
        owner = login.customer.name if login.customer else _("a voucher")
        text = _(
            "Hotspot login %(login)s (%(owner)s): %(status)s",
            login=login.username,
            owner=owner,
            status=login.status,
        )
        login_id = login.id
    buttons = ()
    if chat.may("hs_on"):
        buttons = (
            (
                Button(_("Enable"), f"hs_on:{login_id}"),
                Button(_("Disable"), f"hs_off:{login_id}"),
                Button(_("Kick off now"), f"hs_kick:{login_id}"),
            ),
        )
    return [Reply(text, buttons=buttons)]


def _set_user_status(chat: StaffChat, argument: str, status: str) -> list[Reply]:
    _ = chat._
    login_id = whole_number(argument)
    if login_id is None:
        return _help(chat)
    try:
        username = chat.db.run(
            lambda s: staff_set_login_status(s, login_id, status, actor=chat.actor).username
        )
    except NotFound:
        return [Reply(_("There is no such hotspot login."))]
    except WalletError as error:
        return [Reply(_("Not changed: %(why)s", why=str(error)))]
    if status == "active":
        return [
            Reply(_("%(login)s is enabled; the routers follow at the next sync.", login=username))
        ]
    return [
        Reply(
            _(
                "%(login)s is disabled; the routers follow at the next sync. Kick it off to "
                "end a session running now.",
                login=username,
            ),
            buttons=((Button(_("Kick off now"), f"hs_kick:{login_id}"),),),
        )
    ]


def _enable(chat: StaffChat, argument: str) -> list[Reply]:
    return _set_user_status(chat, argument, "active")


def _disable(chat: StaffChat, argument: str) -> list[Reply]:
    return _set_user_status(chat, argument, "disabled")


def _kick(chat: StaffChat, argument: str) -> list[Reply]:
    _ = chat._
    login_id = whole_number(argument)
    if login_id is None:
        return _help(chat)
    try:
        outcome = staff_kick_login(
            chat.db, chat.keyring(), login_id, actor=chat.actor, timeout=chat.router_timeout
        )
    except NotFound:
        return [Reply(_("There is no such hotspot login."))]
    text = _("%(login)s: %(n)s session(s) ended.", login=outcome.username, n=outcome.total)
    if outcome.unreachable:
        text += " " + _("Not reached: %(routers)s.", routers=", ".join(sorted(outcome.unreachable)))
    return [Reply(text)]


# --- vouchers --------------------------------------------------------------------------------


def _vouchers(chat: StaffChat, _argument: str) -> list[Reply]:
    _ = chat._
    with chat.db.transaction() as session:
        packages = [
            (p.id, p.name, chat.money(session, p.price))
            for p in session.execute(
                select(InternetPackage)
                .where(InternetPackage.active.is_(True))
                .order_by(InternetPackage.price, InternetPackage.name)
                .limit(20)
            ).scalars()
        ]
    if not packages:
        return [Reply(_("No internet package is on sale."))]
    return [
        Reply(
            _("Vouchers of which package?"),
            buttons=tuple(
                (Button(f"{name} · {price}", f"vb:{pid}"),) for pid, name, price in packages
            ),
        )
    ]


def _ask_count(chat: StaffChat, argument: str) -> list[Reply]:
    _ = chat._
    package_id = whole_number(argument)
    if package_id is None:
        return _help(chat)
    chat.step("staff_voucher_count", {"package": package_id})
    return [Reply(_("How many vouchers? 1 to %(max)s. (/cancel to stop)", max=SHEET_SIZE))]


def _make_batch(chat: StaffChat, text: str, data: dict) -> list[Reply]:
    _ = chat._
    count = whole_number(text)
    if count is None or not 1 <= count <= SHEET_SIZE:
        return [Reply(_("Write a number from 1 to %(max)s, or /cancel.", max=SHEET_SIZE))]
    package_id = int(data.get("package", 0))

    def make(session: Session) -> tuple[int, int, str, str]:
        batch, _is_new = staff_generate_batch(
            session,
            key=chat.key("vouchers", str(chat.incoming.update_id)),
            actor=chat.actor,
            count=count,
            package=package_id,
        )
        set_step(session, chat_state(session, chat.platform, chat.person.chat_id), "")
        sheet = batch_sheet(
            session,
            batch.id,
            brand=chat.settings.hotspot_brand_name,
            default_login_url=chat.settings.hotspot_login_url,
            price_text=lambda amount: chat.money(session, amount or 0),
            credit_name=_("Credit voucher"),
            credit_validity=_("wallet credit"),
        )
        return batch.id, batch.count, batch.package.name, sheet

    try:
        batch_id, made, package, sheet = chat.db.run(make)
    except WalletError as error:
        chat.step("")
        return [Reply(_("No vouchers were made: %(why)s", why=str(error)))]
    return [
        Reply(
            _(
                "Batch %(id)s: %(n)s vouchers of %(package)s. The printable sheet is attached "
                "(open it in a browser and print).",
                id=batch_id,
                n=made,
                package=package,
            ),
            document=(f"vouchers-batch-{batch_id}.html", sheet.encode("utf-8")),
        )
    ]


# --- summary ---------------------------------------------------------------------------------


def _summary(chat: StaffChat, _argument: str) -> list[Reply]:
    _ = chat._
    with chat.db.transaction() as session:
        site = load_site_config(session, chat.settings)
        summary = daily_summary(session, ZoneInfo(site.timezone), ending_within=timedelta(hours=24))
        lines = [_("Today, %(day)s:", day=summary.day.isoformat())]
        if permissions.may(chat.staff, permissions.REVENUE):
            lines.append(
                _(
                    "Revenue %(revenue)s: top-ups %(topups)s (%(n)s), calls %(calls)s",
                    revenue=chat.money(session, summary.revenue),
                    topups=chat.money(session, summary.topups),
                    n=summary.topup_count,
                    calls=chat.money(session, summary.call_revenue),
                )
            )
        lines.append(_("New customers: %(n)s", n=summary.new_customers))
        lines.append(_("Payments waiting: %(n)s.", n=summary.pending_payments))
        lines.append(_("Packages ending within 24 hours: %(n)s", n=summary.packages_ending))
        for name, ends in summary.ending_logins[:10]:
            lines.append(f"  · {name} {ends.strftime('%H:%M UTC')}")
        if summary.routers_down:
            lines.append(_("Routers down: %(names)s", names=", ".join(summary.routers_down)))
        else:
            lines.append(_("Routers down: none"))
    return [Reply("\n".join(lines))]


ACTIONS: dict[str, Callable[[StaffChat, str], list[Reply]]] = {
    "payments": _payments,
    "pay_ok": _confirm_payment,
    "pay_no": _ask_payment_reason,
    "registrations": _registrations,
    "reg_ok": _confirm_registration,
    "reg_no": _ask_registration_reason,
    "customer": _customer,
    "topup": _ask_amount,
    "tu_ok": _top_up,
    "routers": _routers,
    "ping": _ping,
    "user": _user,
    "hs_on": _enable,
    "hs_off": _disable,
    "hs_kick": _kick,
    "vouchers": _vouchers,
    "vb": _ask_count,
    "summary": _summary,
}
STEP_ACTIONS: dict[str, Callable[[StaffChat, str, dict], list[Reply]]] = {
    "staff_reject_payment": _reject_payment,
    "staff_reject_registration": _reject_registration,
    "staff_customer": _find_customer,
    "staff_topup_amount": _amount_typed,
    "staff_topup_confirm": lambda chat, text, data: _amount_typed(chat, text, data),
    "staff_ping": _ping_address,
    "staff_user": _show_user,
    "staff_voucher_count": _make_batch,
}
