"""The RouterOS emulator (it stands for a MikroTik router, which cannot run here) with
what the hotspot code uses beyond the driver's own tests: ``/ip/hotspot/user/
reset-counters``, an ``/interface`` table and ``/ping`` (``ping_times`` says which
addresses answer and in how long; any other address times out)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from contextlib import contextmanager

from hotspot.credentials import RouterKeyring, generate_key
from hotspot.routers import add_router
from tests.hotspot.builders import new_name
from tests.support.routeros_emulator import Menu, RouterOSEmulator, Trap
from wallet.db import Database

API_USER, API_PASSWORD = "pulsa-api", "router secret é"
USERS = "/ip/hotspot/user"
PROFILES = "/ip/hotspot/user/profile"
ACTIVE = "/ip/hotspot/active"
_HOST_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", re.ASCII)


class HotspotRouter(RouterOSEmulator):
    def __init__(self, **kwargs) -> None:
        kwargs.setdefault("users", {API_USER: API_PASSWORD})
        super().__init__(**kwargs)
        users = self.menus[USERS]
        users.verbs = users.verbs | {"reset-counters"}
        interfaces = Menu(path="/interface", verbs=frozenset({"print", "getall"}))
        for name, kind, rx, tx in (
            ("ether1", "ether", "8123456", "912345"),
            ("wlan1", "wlan", "1", "2"),
        ):
            interfaces.rows[f"*{name}"] = {
                ".id": f"*{name}",
                "name": name,
                "type": kind,
                "running": "true",
                "disabled": "false",
                "rx-byte": rx,
                "tx-byte": tx,
            }
        self.menus["/interface"] = interfaces
        self._directories = self._collect_directories()
        #: Address -> the round trip RouterOS prints for each echo (``"1ms250us"``).
        self.ping_times: dict[str, str] = {}

    def execute(self, command, attributes, queries):
        if command == f"{USERS}/reset-counters":
            with self.lock:
                menu = self.menus[USERS]
                for item_id in self._resolve_ids(menu, attributes):
                    menu.rows[item_id].update({"uptime": "0s", "bytes-in": "0", "bytes-out": "0"})
            return [["!done"]]
        if command == "/ping":
            return self._ping(attributes)
        return super().execute(command, attributes, queries)

    def _ping(self, attributes: dict[str, str]):
        """``/ping address=... count=N`` as RouterOS 7 answers it: a row per echo (the
        totals so far on each), a ``status=timeout`` row for an echo lost."""
        address = attributes.get("address", "")
        try:
            ipaddress.ip_address(address)
        except ValueError:
            if not _HOST_NAME.fullmatch(address):
                raise Trap("invalid value for argument address") from None
        count = int(attributes.get("count", "0") or 0)
        if count < 1:
            raise Trap("an endless ping is not emulated: give a count")
        time = self.ping_times.get(address)
        reply, received = [], 0
        for seq in range(count):
            row = [f"=seq={seq}", f"=host={address}"]
            if time is None:
                row.append("=status=timeout")
            else:
                received += 1
                row += ["=size=56", "=ttl=64", f"=time={time}"]
            sent = seq + 1
            row += [f"=sent={sent}", f"=received={received}"]
            row.append(f"=packet-loss={100 - received * 100 // sent}")
            if received:
                row += [f"=min-rtt={time}", f"=avg-rtt={time}", f"=max-rtt={time}"]
            reply.append(["!re", *row])
        reply.append(["!done"])
        return reply

    def user(self, name: str) -> dict[str, str] | None:
        return next((row for row in self.rows(USERS) if row.get("name") == name), None)

    def set_user(self, name: str, **values: str) -> None:
        with self.lock:
            for row in self.menus[USERS].rows.values():
                if row.get("name") == name:
                    row.update(values)

    def set_active(self, user: str, **values: str) -> None:
        """Change a user's active sessions (their uptime, as time passes)."""
        with self.lock:
            for row in self.menus[ACTIVE].rows.values():
                if row.get("user") == user:
                    row.update(values)


@contextmanager
def running_router(**kwargs) -> Iterator[HotspotRouter]:
    with HotspotRouter(**kwargs) as router:
        yield router


def keyring() -> RouterKeyring:
    return RouterKeyring(generate_key())


def register(db: Database, ring: RouterKeyring, router: HotspotRouter, **options) -> int:
    """Register the emulator as a router in the database; its id."""
    return db.run(
        lambda s: (
            add_router(
                s,
                ring,
                options.pop("name", None) or new_name("router"),
                "127.0.0.1",
                port=router.port,
                username=API_USER,
                password=API_PASSWORD,
                **options,
            ).id
        )
    )
