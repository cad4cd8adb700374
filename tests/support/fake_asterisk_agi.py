"""A fake Asterisk for the AGI tests, shaped on the recorded Asterisk 20 sessions.

The environment is the one Asterisk sent in ``four-callers/agi_session_2.txt`` (same
``agi_*`` lines in the same order, then the empty line), with the values a test needs
changed and ``agi_arg_N`` lines added at the end as Asterisk does. Commands are answered
like the recordings: ``200 result=1`` for SET VARIABLE and VERBOSE, ``200 result=1 (value)``
for a GET VARIABLE of a known variable, ``200 result=0`` for an unknown one, and
``510 Invalid or unknown command`` for anything else.

``agi_session`` plays a FastAGI session over TCP; ``classic_session`` runs the classic
script as Asterisk does (environment on stdin, one reply line per command).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.ami_fixtures import FIXTURES, load_agi_session

RECORDED = load_agi_session(FIXTURES / "four-callers" / "agi_session_2.txt")
PULSA_AGI = Path(sys.executable).parent / "pulsa-agi"


def agi_environment(
    script: str = "authorize",
    *,
    extension: str,
    callerid: str,
    uniqueid: str,
    channel: str | None = None,
    accountcode: str = "",
    args: Sequence[str] = (),
    network: bool = True,
) -> dict[str, str]:
    """The recorded environment with this call's values (FastAGI, or classic when
    `network` is False: no agi_network lines, agi_request is the script name)."""
    env = dict(RECORDED.env)
    env.update(
        agi_network_script=script,
        agi_request=f"agi://127.0.0.1:4573/{script}",
        agi_channel=channel or f"Local/{extension}@prepaid-outbound-00000001;2",
        agi_uniqueid=uniqueid,
        agi_callerid=callerid,
        agi_extension=extension,
        agi_accountcode=accountcode,
    )
    if not network:
        del env["agi_network"], env["agi_network_script"]
        env["agi_request"] = "pulsa-agi"
    for number, value in enumerate(args, start=1):
        env[f"agi_arg_{number}"] = value
    return env


def encode_environment(env: Mapping[str, str]) -> bytes:
    return "".join(f"{key}: {value}\n" for key, value in env.items()).encode() + b"\n"


def reply_to(command: str, variables: dict[str, str]) -> str:
    """What Asterisk 20 answers, as recorded; SET VARIABLE writes into `variables`."""
    try:
        words = shlex.split(command)
    except ValueError:
        return "510 Invalid or unknown command"
    verb = " ".join(words[:2]).upper()
    if verb == "SET VARIABLE" and len(words) == 4:
        variables[words[2]] = words[3]
        return "200 result=1"
    if verb == "GET VARIABLE" and len(words) == 3:
        value = variables.get(words[2])
        return "200 result=0" if value is None else f"200 result=1 ({value})"
    if words and words[0].upper() == "VERBOSE":
        return "200 result=1"
    return "510 Invalid or unknown command"


@dataclass
class Transcript:
    """What the AGI sent (commands) and the channel's variables at the end."""

    commands: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    closed_by_server: bool = False
    seconds: float = 0.0  # from the end of the environment to the last command
    times: list[float] = field(default_factory=list)  # of each command, from the environment
    stderr: str = ""
    returncode: int | None = None

    def sets(self) -> list[tuple[str, str]]:
        pairs = []
        for command in self.commands:
            words = shlex.split(command)
            if " ".join(words[:2]).upper() == "SET VARIABLE":
                pairs.append((words[2], words[3]))
        return pairs

    def __getitem__(self, name: str) -> str:
        return self.variables[name]


def agi_session(
    address: tuple[str, int],
    env: Mapping[str, str],
    *,
    variables: Mapping[str, str] | None = None,
    replies: Mapping[str, str] | None = None,
    hang_up_after: int | None = None,
    timeout: float = 10.0,
) -> Transcript:
    """One FastAGI session as Asterisk plays it. `replies` overrides the reply to a
    command (exact text); `hang_up_after` closes the connection after reading that many
    commands, without answering the last one."""
    transcript = Transcript(variables=dict(variables or {}))
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(encode_environment(env))
        started = time.perf_counter()
        reader = sock.makefile("rb")
        while True:
            line = reader.readline()
            if not line:
                transcript.closed_by_server = True
                break
            transcript.seconds = time.perf_counter() - started
            transcript.times.append(transcript.seconds)
            command = line.decode().rstrip("\n")
            transcript.commands.append(command)
            if hang_up_after is not None and len(transcript.commands) >= hang_up_after:
                break
            reply = (replies or {}).get(command) or reply_to(command, transcript.variables)
            sock.sendall(reply.encode() + b"\n")
    return transcript


def raw_session(address: tuple[str, int], data: bytes, *, timeout: float = 10.0) -> bytes:
    """Send `data`, half-close, and return everything the server sent before closing
    (a server that closes while data is still coming may reset the connection)."""
    received = b""
    with socket.create_connection(address, timeout=timeout) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        with contextlib.suppress(ConnectionResetError):
            while chunk := sock.recv(4096):
                received += chunk
    return received


def classic_session(
    argv: Sequence[str],
    env: Mapping[str, str] | None,
    *,
    environ: Mapping[str, str],
    variables: Mapping[str, str] | None = None,
    hang_up_after: int | None = None,
    timeout: float = 30.0,
) -> Transcript:
    """Run `pulsa-agi ARGV...` as Asterisk runs a classic AGI: environment on stdin, then
    one reply line per command line it writes, until it exits."""
    transcript = Transcript(variables=dict(variables or {}))
    process_env = {k: v for k, v in os.environ.items() if not k.startswith("PULSA_")}
    # No FastAGI server to relay to unless the test gives one: the script decides itself.
    process_env["PULSA_FASTAGI_PORT"] = str(closed_port())
    process_env.update(environ)
    process = subprocess.Popen(
        [str(PULSA_AGI), *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=process_env,
    )
    stderr_chunks: list[bytes] = []
    drain = threading.Thread(target=lambda: stderr_chunks.append(process.stderr.read()))
    drain.start()
    killer = threading.Timer(timeout, process.kill)
    killer.start()
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(encode_environment(env) if env is not None else b"")
        process.stdin.flush()
        started = time.perf_counter()
        while True:
            line = process.stdout.readline()
            if not line:
                break
            transcript.seconds = time.perf_counter() - started
            transcript.times.append(transcript.seconds)
            command = line.decode().rstrip("\n")
            transcript.commands.append(command)
            if hang_up_after is not None and len(transcript.commands) >= hang_up_after:
                process.stdin.close()
                process.stdout.close()
                break
            process.stdin.write(reply_to(command, transcript.variables).encode() + b"\n")
            process.stdin.flush()
        transcript.returncode = process.wait()
    finally:
        killer.cancel()
        drain.join()
        for stream in (process.stdin, process.stdout):
            with contextlib.suppress(OSError, ValueError):
                stream.close()
    transcript.stderr = b"".join(stderr_chunks).decode(errors="replace")
    return transcript


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def fastagi_server(settings, database, **kwargs) -> Iterator:
    """A FastAGI server on an ephemeral loopback port, its event loop (the one `pulsa
    fastagi` runs on) in a thread."""
    from agi.fastagi import FastAGIServer, new_event_loop

    loop = new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fastagi-test-loop", daemon=True)
    thread.start()

    async def start():
        server = FastAGIServer(settings, database, host="127.0.0.1", port=0, **kwargs)
        await server.start()
        return server

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(grace_s=5), loop).result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


class TcpProxy:
    """A loopback TCP proxy in front of a database server that can stop answering
    (`freeze`: bytes are held, connections stay open) or go away (`cut`: connections
    closed and the port refuses new ones)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._flowing = threading.Event()
        self._flowing.set()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def cut(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
            self._sockets.clear()
        self._flowing.set()

    close = cut

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                if self._closed:
                    return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)


class BlackHole:
    """A port that accepts connections and never says a word."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._sockets.append(client)

    def close(self) -> None:
        self._closed = True
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.close()
