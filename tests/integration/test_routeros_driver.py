"""The router driver, through the real librouteros client, against the RouterOS emulator.

Every test talks TCP on loopback to an emulator on an ephemeral port. Faults are
switched on in the emulator and take effect on the next command, so no test waits
on a clock to line things up; the only timeouts are the driver's own, kept short.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import librouteros
import pytest
from librouteros.exceptions import MultiTrapError, TrapError
from librouteros.login import token
from librouteros.query import Key, Or

from hotspot.driver import (
    ActiveSession,
    RouterAuthError,
    RouterDriver,
    RouterError,
    RouterUnreachable,
    UserNotFound,
)
from tests.support.routeros_emulator import (
    BAD_LOGIN,
    DUPLICATE_USER,
    NO_SUCH_PROFILE,
    RouterOSEmulator,
    decode_words,
    encode_sentence,
    read_sentence,
    stream_reader,
)

API_USER, API_PASSWORD = "pulsa", "s3cret"
USERS = "/ip/hotspot/user"
ACTIVE = "/ip/hotspot/active"


@pytest.fixture
def router() -> Iterator[RouterOSEmulator]:
    with RouterOSEmulator(users={API_USER: API_PASSWORD}, identity="RT05-Gateway") as emulator:
        yield emulator


@pytest.fixture
def driver(router: RouterOSEmulator) -> Iterator[RouterDriver]:
    with RouterDriver("127.0.0.1", API_USER, API_PASSWORD, port=router.port, timeout=2.0) as d:
        yield d


def raw_api(router: RouterOSEmulator, **kwargs) -> librouteros.api.Api:
    """A plain librouteros connection, to see what any client would see."""
    options = {"port": router.port, "timeout": 2.0, "encoding": "utf-8", **kwargs}
    return librouteros.connect("127.0.0.1", API_USER, API_PASSWORD, **options)


def writes(router: RouterOSEmulator) -> list[str]:
    return [c.command for c in router.commands if not c.command.endswith("/print")]


class WireClient:
    """Bare sentences over a socket, for what librouteros never sends (tags, no login)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=2.0)
        self.stream = self.sock.makefile("rb")
        self.read = stream_reader(self.stream)

    def send(self, *words: str) -> None:
        self.sock.sendall(encode_sentence(words))

    def sentence(self) -> list[str]:
        return decode_words(read_sentence(self.read))

    def until_done(self) -> list[list[str]]:
        sentences = []
        while True:
            sentence = self.sentence()
            sentences.append(sentence)
            if sentence[0] in ("!done", "!fatal"):
                return sentences

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


# -- login and status --------------------------------------------------------------


def test_logging_in_with_the_right_password_reads_the_router_status(driver, router):
    status = driver.status()
    assert status.identity == "RT05-Gateway"
    assert status.version.startswith("7.18")
    assert status.board_name == "hAP ac^2"
    assert status.cpu_load == 3
    assert 0 < status.free_memory < status.total_memory
    assert status.uptime_seconds == 7 * 86400 + 2 * 86400 + 3 * 3600 + 4 * 60 + 5
    assert router.login_count == 1


def test_logging_in_with_a_wrong_password_raises_an_auth_error_with_routeros_text(router):
    wrong = RouterDriver("127.0.0.1", API_USER, "nope", port=router.port, timeout=2.0)
    with pytest.raises(RouterAuthError) as caught:
        wrong.status()
    assert BAD_LOGIN in caught.value.message
    assert router.login_count == 0


def test_the_pre_6_43_challenge_login_is_also_understood(router):
    api = raw_api(router, login_method=token)
    assert tuple(api.path("/system/identity")) == ({"name": "RT05-Gateway"},)
    api.close()


def test_commands_sent_before_login_get_a_fatal_not_logged_in(router):
    client = WireClient(router.port)
    client.send("/ip/hotspot/user/print")
    assert client.until_done() == [["!fatal", "not logged in"]]
    client.close()


def test_one_connection_is_kept_and_reused_across_calls(driver, router):
    driver.status()
    driver.list_users()
    driver.ensure_profile("paket-1jam", "1M/2M", 1)
    driver.list_active()
    assert router.login_count == 1
    assert router.connection_count == 1


def test_port_8729_selects_tls_unless_told_otherwise():
    assert RouterDriver("10.0.0.1", "u", "p", port=8729).tls is True
    assert RouterDriver("10.0.0.1", "u", "p", tls=True).port == 8729
    assert RouterDriver("10.0.0.1", "u", "p").port == 8728
    assert RouterDriver("10.0.0.1", "u", "p", port=8729, tls=False).tls is False


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_api_ssl_works_with_a_certificate_from_a_known_ca(tmp_path: Path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    with RouterOSEmulator(users={API_USER: API_PASSWORD}, ssl_context=server) as router:
        secure = RouterDriver(
            "127.0.0.1", API_USER, API_PASSWORD, port=router.port, tls=True,
            tls_ca_file=str(cert), timeout=2.0,
        )  # fmt: skip
        assert secure.ensure_user("tls-user", "pw", "default") == "added"
        secure.close()
        untrusting = RouterDriver(
            "127.0.0.1", API_USER, API_PASSWORD, port=router.port, tls=True, timeout=2.0
        )
        with pytest.raises(RouterUnreachable):
            untrusting.status()


# -- ensure_user / ensure_profile ------------------------------------------------------


def test_ensure_user_adds_then_changes_nothing_then_sets_only_what_differs(driver, router):
    args = {"password": "rahasia", "profile": "default", "comment": "pulsa:sub=7"}
    assert driver.ensure_user("andi", limit_uptime=3600, **args) == "added"
    [row] = router.rows(USERS)
    assert row["limit-uptime"] == "1h"
    assert row["disabled"] == "false"

    router.commands.clear()
    assert driver.ensure_user("andi", limit_uptime=3600, **args) == "unchanged"
    assert writes(router) == []

    router.commands.clear()
    result = driver.ensure_user("andi", limit_uptime=7200, limit_bytes_total=1 << 30, **args)
    assert result == "updated"
    [set_command] = [c for c in router.commands if c.command.endswith("/set")]
    assert set_command.attributes == {
        ".id": row[".id"],
        "limit-uptime": "2h",
        "limit-bytes-total": str(1 << 30),
    }
    assert driver.ensure_user("andi", limit_uptime=7200, limit_bytes_total=1 << 30, **args) == (
        "unchanged"
    )


def test_ensure_user_removes_a_limit_that_is_no_longer_wanted(driver, router):
    driver.ensure_user("budi", "pw", "default", limit_uptime=600, limit_bytes_total=5000)
    assert driver.ensure_user("budi", "pw", "default", limit_bytes_total=5000) == "updated"
    [row] = router.rows(USERS)
    assert "limit-uptime" not in row
    assert row["limit-bytes-total"] == "5000"
    assert driver.ensure_user("budi", "pw", "default", limit_bytes_total=5000) == "unchanged"


def test_ensure_user_can_create_a_disabled_user_and_enable_it_later(driver, router):
    assert driver.ensure_user("pending", "pw", "default", disabled=True) == "added"
    assert router.rows(USERS)[0]["disabled"] == "true"
    assert driver.ensure_user("pending", "pw", "default", disabled=False) == "updated"
    assert router.rows(USERS)[0]["disabled"] == "false"


def test_ensure_profile_adds_updates_and_then_leaves_a_profile_alone(driver, router):
    assert driver.ensure_profile("paket-harian", "2M/2M", 1) == "added"
    assert driver.ensure_profile("paket-harian", "2M/2M", 1) == "unchanged"
    assert driver.ensure_profile("paket-harian", "4M/4M", 2) == "updated"
    assert driver.ensure_profile("paket-harian", None, None) == "updated"
    profile = next(
        r for r in router.rows("/ip/hotspot/user/profile") if r["name"] == "paket-harian"
    )
    assert "rate-limit" not in profile
    assert profile["shared-users"] == "unlimited"
    assert driver.ensure_user("c", "pw", "paket-harian") == "added"


def test_a_user_with_a_profile_the_router_lacks_is_refused_with_routeros_text(driver):
    with pytest.raises(RouterError) as caught:
        driver.ensure_user("andi", "pw", "no-such-profile")
    assert caught.value.message == NO_SUCH_PROFILE
    assert not isinstance(caught.value, RouterUnreachable)


def test_adding_a_user_whose_name_exists_returns_routeros_duplicate_text(router):
    api = raw_api(router)
    users = api.path("ip", "hotspot", "user")
    assert users.add(name="andi", password="a") == "*1"
    with pytest.raises(TrapError) as caught:
        users.add(name="andi", password="b")
    assert caught.value.message == "failure: already have user with this name for this server"
    assert caught.value.message == DUPLICATE_USER
    assert len(router.rows(USERS)) == 1
    api.close()


# -- disable, enable, kick, remove -------------------------------------------------------


def test_disabling_and_kicking_a_user_ends_the_session_and_blocks_new_logins(driver, router):
    driver.ensure_user("0812345", "pw", "default")
    driver.ensure_user("other", "pw", "default")
    router.login_hotspot_user("0812345", address="10.5.50.9", mac_address="AA:BB:CC:00:00:09")
    router.login_hotspot_user("other", address="10.5.50.10")

    assert driver.disable_user("0812345") is True
    # Disabling alone does not end a running session on RouterOS.
    assert [s.user for s in driver.list_active()] == ["0812345", "other"]

    assert driver.kick("0812345") == 1
    active = driver.list_active()
    assert [s.user for s in active] == ["other"]
    assert isinstance(active[0], ActiveSession)
    assert driver.kick("0812345") == 0

    api = raw_api(router)
    with pytest.raises(TrapError):
        tuple(api("/ip/hotspot/active/login", user="0812345", password="pw", ip="10.5.50.9"))
    api.close()

    driver.enable_user("0812345")
    assert [u.disabled for u in driver.list_users() if u.name == "0812345"] == [False]


def test_disabling_a_user_that_does_not_exist_is_not_an_error(driver):
    assert driver.disable_user("ghost") is False


def test_enabling_a_user_that_does_not_exist_raises_user_not_found(driver):
    with pytest.raises(UserNotFound):
        driver.enable_user("ghost")


def test_removing_a_user_twice_reports_whether_there_was_anything_to_remove(driver, router):
    driver.ensure_user("andi", "pw", "default")
    assert driver.remove_user("andi") is True
    assert driver.remove_user("andi") is False
    assert router.rows(USERS) == []


# -- values stay what they were ----------------------------------------------------------


def test_digit_only_usernames_come_back_as_the_same_strings(driver, router):
    names = ["0812345", "12345", "628123456789", "true", "00"]
    for name in names:
        driver.ensure_user(name, "1234", "default", comment="0001")
    users = driver.list_users()
    assert [u.name for u in users] == names
    assert all(type(u.name) is str and u.comment == "0001" for u in users)
    assert driver.ensure_user("12345", "1234", "default", comment="0001") == "unchanged"

    # Why the driver needs its own value handling: plain librouteros turns them into
    # numbers and bools.
    api = raw_api(router)
    plain = {row[".id"]: row["name"] for row in api.path("ip", "hotspot", "user")}
    assert sorted(plain.values(), key=str) == sorted(
        [12345, 628123456789, True, "0812345", "00"], key=str
    )
    api.close()


def test_a_non_ascii_comment_round_trips_as_utf8(driver, router):
    comment = "Pak Budi – Warung Kopi ☕"
    assert driver.ensure_user("budi", "pw", "default", comment=comment) == "added"
    [user] = driver.list_users()
    assert user.comment == comment
    assert router.rows(USERS)[0]["comment"].encode("utf-8") == comment.encode("utf-8")
    assert driver.ensure_user("budi", "pw", "default", comment=comment) == "unchanged"
    assert driver.list_users(comment_prefix="Pak Budi") == [user]


@pytest.mark.parametrize("word_length", [0x7F, 0x80, 0x3FFF, 0x4000, 0x1FFFFF, 0x200000])
def test_words_on_each_side_of_a_length_boundary_survive_the_round_trip(driver, word_length):
    comment = "x" * (word_length - len("=comment="))
    driver.ensure_user("long", "pw", "default", comment=comment)
    [user] = driver.list_users()
    assert user.comment == comment


# -- listing, proplist, queries -------------------------------------------------------------


def test_five_thousand_users_are_listed_completely_and_in_order(driver, router):
    router.insert_many(
        USERS,
        ({"name": f"v{i:05d}", "password": "x", "comment": f"pulsa:{i % 2}"} for i in range(5000)),
    )
    users = driver.list_users()
    assert len(users) == 5000
    assert [u.name for u in users] == [f"v{i:05d}" for i in range(5000)]
    assert len({u.id for u in users}) == 5000
    assert len(driver.list_users(comment_prefix="pulsa:1")) == 2500


def test_print_with_a_proplist_returns_only_the_asked_properties(driver, router):
    driver.ensure_user("andi", "pw", "default", limit_uptime=60, comment="c")
    api = raw_api(router)
    rows = tuple(api.path("ip", "hotspot", "user").select(Key("name"), Key("limit-uptime")))
    assert rows == ({"name": "andi", "limit-uptime": "1m"},)
    [listing] = [c for c in router.commands if c.command == "/ip/hotspot/user/print"][-1:]
    assert listing.attributes == {".proplist": "name,limit-uptime"}
    api.close()


def test_queries_librouteros_builds_select_the_right_users(router):
    api = raw_api(router)
    users = api.path("ip", "hotspot", "user")
    for name, disabled in (("a", "no"), ("b", "yes"), ("c", "no")):
        users.add(name=name, password="x", disabled=disabled)
    name, is_disabled = Key("name"), Key("disabled")
    select = users.select(name)
    assert [r["name"] for r in select.where(is_disabled == True)] == ["b"]  # noqa: E712
    assert [r["name"] for r in select.where(Or(name == "a", name == "c"))] == ["a", "c"]
    assert [r["name"] for r in select.where(name != "a")] == ["b", "c"]
    assert [r["name"] for r in select.where(name.In("b", "c"))] == ["b", "c"]
    assert list(select.where(name == "zzz")) == []
    api.close()


def test_an_empty_print_answers_empty_then_done_like_routeros_7_18(router, driver):
    client = WireClient(router.port)
    client.send("/login", f"=name={API_USER}", f"=password={API_PASSWORD}")
    assert client.until_done() == [["!done"]]
    client.send("/ip/hotspot/active/print")
    assert client.until_done() == [["!empty"], ["!done"]]
    client.close()
    assert driver.list_active() == []


def test_tags_are_echoed_on_every_reply_sentence(router):
    client = WireClient(router.port)
    client.send("/login", f"=name={API_USER}", f"=password={API_PASSWORD}", ".tag=L")
    assert client.until_done() == [["!done", ".tag=L"]]
    client.send("/ip/hotspot/user/add", "=name=t", ".tag=7")
    assert client.until_done() == [["!done", ".tag=7", "=ret=*1"]]
    client.send("/ip/hotspot/user/print", "=.proplist=name", ".tag=8")
    assert client.until_done() == [["!re", ".tag=8", "=name=t"], ["!done", ".tag=8"]]
    client.send("/nope/print", ".tag=9")
    replies = client.until_done()
    assert [r[:2] for r in replies] == [
        ["!trap", ".tag=9"],
        ["!trap", ".tag=9"],
        ["!done", ".tag=9"],
    ]
    client.close()


def test_unknown_commands_answer_with_routeros_no_such_command_texts(router):
    api = raw_api(router)
    with pytest.raises(MultiTrapError) as prefix:
        tuple(api("/system/health/print"))
    assert str(prefix.value) == "no such command or directory (health), no such command prefix"
    with pytest.raises(TrapError) as command:
        tuple(api("/ip/hotspot/user/frobnicate"))
    assert command.value.message == "no such command"
    with pytest.raises(TrapError, match="unknown parameter"):
        tuple(api("/ip/hotspot/user/add", name="x", colour="red"))
    assert tuple(api.path("system", "identity")) == ({"name": "RT05-Gateway"},)
    api.close()


# -- faults ----------------------------------------------------------------------------------


def test_a_connection_dropped_between_commands_is_reestablished_transparently(driver, router):
    driver.ensure_user("andi", "pw", "default")
    assert router.drop_connections() == 1
    assert [u.name for u in driver.list_users()] == ["andi"]
    assert router.login_count == 2


def test_a_connection_reset_mid_command_is_retried_once_without_adding_twice(driver, router):
    driver.status()
    router.drop_next(1)
    assert driver.ensure_user("andi", "pw", "default") == "added"
    assert [r["name"] for r in router.rows(USERS)] == ["andi"]
    assert router.login_count == 2


def test_a_fatal_from_the_router_is_recovered_on_the_next_call(driver, router):
    driver.status()
    assert router.disconnect_all("session terminated on request") == 1
    assert driver.status().identity == "RT05-Gateway"
    assert router.login_count == 2


def test_a_router_that_drops_every_attempt_raises_router_unreachable(driver, router):
    driver.status()
    router.drop_next(2)
    with pytest.raises(RouterUnreachable, match="dropped the connection"):
        driver.list_users()
    assert driver.list_users() == []


def test_a_trap_answers_the_caller_and_keeps_the_connection(driver, router):
    driver.status()
    router.fail_next(1, "failure: emulated fault")
    with pytest.raises(RouterError) as caught:
        driver.list_users()
    assert caught.value.message == "failure: emulated fault"
    assert type(caught.value) is RouterError
    assert driver.list_users() == []
    assert router.login_count == 1


def test_a_router_that_is_down_raises_router_unreachable_at_once(router):
    port = router.port
    router.stop()
    down = RouterDriver("127.0.0.1", API_USER, API_PASSWORD, port=port, timeout=5.0)
    started = time.monotonic()
    with pytest.raises(RouterUnreachable, match="unreachable"):
        down.ensure_user("andi", "pw", "default")
    assert time.monotonic() - started < 1.0


def test_a_router_that_accepts_but_never_answers_times_out_as_unreachable(router):
    router.blackhole = True
    hung = RouterDriver("127.0.0.1", API_USER, API_PASSWORD, port=router.port, timeout=0.3)
    started = time.monotonic()
    with pytest.raises(RouterUnreachable, match=r"did not answer within 0\.3s"):
        hung.status()
    assert time.monotonic() - started < 2.0


def test_a_reply_slower_than_the_timeout_drops_the_connection_so_no_late_reply_is_misread(
    router,
):
    slow = RouterDriver("127.0.0.1", API_USER, API_PASSWORD, port=router.port, timeout=0.3)
    slow.ensure_user("andi", "pw", "default")
    router.reply_delay = 0.6
    with pytest.raises(RouterUnreachable):
        slow.list_users()
    router.reply_delay = 0.0
    # A fresh connection: the late answer to the timed-out print cannot be taken
    # for the answer to this one.
    assert slow.remove_user("andi") is True
    assert router.login_count == 2
    slow.close()


def test_a_router_refusing_logins_raises_router_unreachable(router):
    router.refuse_logins = True
    refused = RouterDriver("127.0.0.1", API_USER, API_PASSWORD, port=router.port, timeout=2.0)
    with pytest.raises(RouterUnreachable):
        refused.status()
    router.refuse_logins = False
    assert refused.status().identity == "RT05-Gateway"
    refused.close()


def test_calls_from_several_threads_share_one_connection_without_mixing_replies(driver, router):
    names = [f"t{i}" for i in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda n: driver.ensure_user(n, "pw", "default", comment=n), names))
    assert results == ["added"] * 8
    assert {u.name: u.comment for u in driver.list_users()} == {n: n for n in names}
    assert router.login_count == 1
