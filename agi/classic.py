"""`pulsa-agi`: the classic AGI script Asterisk runs from agi-bin (pyst2).

    AGI(pulsa-agi,authorize[,NUMBER[,ACCOUNTCODE]])
    AGI(pulsa-agi,settle[,PULSA_CALL,DIALSTATUS,ANSWEREDTIME])

Asterisk starts one process per call and waits for it, so the script starts fast. When
pulsa's FastAGI server runs (`pulsa serve` or `pulsa fastagi`), the script relays the
session to it: only the standard library, pyst2 and the settings are imported, and the
server, which has its database pool and tariffs ready, decides. When no server answers, the script
decides itself, importing only what a decision needs (the settings module, agi.authorize
and the wallet it calls; no web framework, no CLI framework, no migrations, no asyncio),
and exits as soon as it has answered. Settings come from the environment and the
PULSA_CONFIG file, as for `pulsa`. The decision is logged on stderr and sent to Asterisk's
log with VERBOSE.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time

from asterisk.agi import AGI, AGIException

log = logging.getLogger("pulsa.agi")


class _Discard:
    """pyst2 writes a debugging trace to its stderr; this swallows it."""

    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        pass


class _Collect(logging.Handler):
    """Keeps this run's log lines, to send them to Asterisk's log as VERBOSE."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def run(argv: list[str], agi: AGI | None = None, environ=None) -> int:
    """One AGI session on stdin/stdout; returns the exit code (0 unless Asterisk could
    not be talked to at all)."""
    collected = _Collect()
    log.addHandler(collected)
    try:
        return _run(argv, agi, environ, collected)
    finally:
        log.removeHandler(collected)


def _run(argv: list[str], agi: AGI | None, environ, collected: _Collect) -> int:
    route = argv[0].strip().lower() if argv else "authorize"
    args = argv[1:]
    if not logging.getLogger().handlers:
        logging.basicConfig(stream=sys.stderr, format="pulsa-agi: %(message)s")
    log.setLevel(logging.INFO)
    try:
        agi = agi or AGI(stdin=sys.stdin, stdout=sys.stdout, stderr=_Discard())
    except Exception as error:
        log.error("cannot read the AGI environment (%s); run me from Asterisk", error)
        return 2
    if not agi.env:
        log.error("no AGI environment on stdin; run me from Asterisk")
        return 2
    started = time.perf_counter()
    if route not in ("authorize", "settle"):
        log.error("unknown route %r: use authorize or settle", route)
        _answer(agi, [("PULSA_STATUS", "ERROR")], collected)
        return 0
    relayed = _relay(agi, route, args, environ if environ is not None else os.environ)
    if relayed is not None:
        if not relayed:
            log.error("%s: the FastAGI server went away mid-session; status=ERROR", route)
            name = "PULSA_STATUS" if route == "authorize" else "PULSA_SETTLED"
            _answer(agi, [(name, "ERROR")], collected)
        return 0
    try:
        authorizer = _authorizer(environ)
    except Exception as error:
        from agi.authorize import describe

        log.error("%s status=ERROR reason=%r", route, describe(error))
        name = "PULSA_STATUS" if route == "authorize" else "PULSA_SETTLED"
        _answer(agi, [(name, "ERROR")], collected)
        return 0
    if route == "authorize":
        _authorize(agi, authorizer, args, started, collected)
    else:
        _settle(agi, authorizer, args, collected)
    return 0


RELAY_CONNECT_TIMEOUT_S = 0.2


def _relay(agi: AGI, route: str, args: list[str], environ) -> bool | None:
    """Hand the session to the FastAGI server, passing its commands to Asterisk and the
    replies back. None: no server answered (decide here); False: it went away before the
    session ended; True: done. The server settles at zero a call whose answer it could not
    deliver, so a broken relay never leaves credit held."""
    from pulsa.settings import SettingsError, load_settings

    try:
        settings = load_settings(environ)
    except SettingsError:
        return None  # deciding here reports the bad setting
    host, port = settings.fastagi_host, settings.fastagi_port
    if host in ("0.0.0.0", "::", "*", ""):
        host = "127.0.0.1"
    try:
        server = socket.create_connection((host, port), timeout=RELAY_CONNECT_TIMEOUT_S)
    except OSError:
        return None
    with server:
        server.settimeout(None)
        lines = dict(agi.env)
        lines.update(
            agi_network="yes",
            agi_network_script=route,
            agi_request=f"agi://{host}:{port}/{route}",
        )
        for number, value in enumerate(args, start=1):
            lines[f"agi_arg_{number}"] = value
        header = "".join(f"{key}: {value}\n" for key, value in lines.items()) + "\n"
        try:
            server.sendall(header.encode("utf-8"))
            stream = server.makefile("rwb")
            while command := stream.readline():
                agi.stdout.write(command.decode("utf-8", "replace"))
                agi.stdout.flush()
                stream.write(_read_reply(agi).encode("utf-8"))
                stream.flush()
        except OSError:
            return False
    return True


def _read_reply(agi: AGI) -> str:
    """One reply from Asterisk, multi-line ones (`520-...` to `520 ...`) whole."""
    first = agi.stdin.readline()
    if not first:
        raise OSError("Asterisk hung up")
    reply = first
    if first[:4] == "520-":
        while line := agi.stdin.readline():
            reply += line
            if line.startswith("520 "):
                break
    return reply


def _authorizer(environ):
    from agi.authorize import CallAuthorizer, database_url
    from pulsa.notices import watch_money
    from pulsa.settings import load_settings
    from wallet.db import Database

    settings = load_settings(environ)
    url = database_url(settings.database_url, settings.agi_timeout_ms)
    database = Database(url, pool_size=1)
    # A settlement lowers a balance: its low-balance notice commits with it.
    watch_money(database, settings)
    return CallAuthorizer(settings, database)


def _authorize(agi: AGI, authorizer, args: list[str], started: float, collected) -> None:
    from agi.authorize import AgiCall, elapsed_ms

    linkedid = _get(agi, "CHANNEL(linkedid)")
    call = AgiCall.from_agi(agi.env, args, linkedid)
    # The budget is for the database: the imports before it take what they take (about
    # a tenth of a second on an idle machine), the database may take forever.
    decision = authorizer.decide(call, authorizer.timeout_ms / 1000)
    variables = decision.variables(authorizer.precision)
    try:
        for name, value in variables:
            agi.set_variable(name, value)
    except (AGIException, OSError, ValueError) as error:
        note = f"not delivered ({type(error).__name__})"
        if decision.call_id is not None:
            note += _release(authorizer, decision.call_id)
        authorizer.log_decision(call, decision, elapsed_ms(started), note)
        return
    authorizer.log_decision(call, decision, elapsed_ms(started))
    _verbose(agi, collected)


def _settle(agi: AGI, authorizer, args: list[str], collected) -> None:
    from agi.authorize import SETTLED

    values = []
    for position, name in enumerate(("PULSA_CALL", "DIALSTATUS", "ANSWEREDTIME")):
        values.append(args[position] if position < len(args) else _get(agi, name) or "")
    call_text, dialstatus, billsec = values
    uniqueid = agi.env.get("agi_uniqueid", "")
    result = authorizer.settle_within(
        call_text, dialstatus, billsec, uniqueid, authorizer.timeout_ms / 1000
    )
    authorizer.log_settlement(call_text, dialstatus, billsec, result)
    _answer(agi, [(SETTLED, result.status)], collected)


def _release(authorizer, call_id: int) -> str:
    from agi.authorize import describe, run_with_deadline

    try:
        run_with_deadline(lambda: authorizer.cancel(call_id), None, authorizer.timeout_ms / 1000)
    except Exception as error:
        return f"; call {call_id} not released ({describe(error)}), the hold stays until expired"
    return f"; call {call_id} released"


def _get(agi: AGI, name: str) -> str | None:
    try:
        return agi.get_variable(name) or None
    except (AGIException, OSError, ValueError):
        return None


def _answer(agi: AGI, variables: list[tuple[str, str]], collected) -> None:
    try:
        for name, value in variables:
            agi.set_variable(name, value)
    except (AGIException, OSError, ValueError):
        return
    _verbose(agi, collected)


def _verbose(agi: AGI, collected: _Collect) -> None:
    try:
        for line in collected.lines:
            agi.verbose("pulsa: " + line.replace('"', "'"), 1)
    except (AGIException, OSError, ValueError):
        pass


def main() -> None:
    """Console entry point `pulsa-agi`."""
    code = run(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    # A worker thread stuck on a dead database must not keep Asterisk waiting for us.
    os._exit(code)


if __name__ == "__main__":
    main()
