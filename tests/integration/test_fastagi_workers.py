"""`pulsa fastagi` with PULSA_AGI_WORKERS=2: worker processes share one port, a worker that
dies is replaced while the others go on serving, and SIGTERM stops them all."""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.databases import selected_backends
from tests.support.fake_asterisk_agi import agi_environment, agi_session, encode_environment

PULSA = Path(sys.executable).parent / "pulsa"
_numbers = itertools.count(1)
LISTENING = re.compile(r"fastagi worker (\d+) \(pid (\d+)\) listening")
DECIDED_BY = re.compile(r"pulsa\.agi\[(\d+)\]: authorize ")


class Server:
    """`pulsa fastagi` in its own process, its stderr collected line by line."""

    def __init__(self, url: str, workers: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULSA_")}
        env.update(PULSA_DATABASE_URL=url, PULSA_AGI_WORKERS=str(workers))
        self.process = subprocess.Popen(
            [str(PULSA), "fastagi", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: list[str] = []
        threading.Thread(target=self._collect, daemon=True).start()
        announced = self.process.stdout.readline().decode()
        match = re.search(r"agi://127\.0\.0\.1:(\d+)/authorize", announced)
        assert match, (announced, self.lines)
        self.address = ("127.0.0.1", int(match.group(1)))

    def _collect(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.decode())

    def log(self) -> str:
        return "".join(self.lines)

    def workers(self) -> dict[int, int]:
        """Worker slot -> pid of the latest worker listening in it."""
        return {int(m[1]): int(m[2]) for m in LISTENING.finditer(self.log())}

    def deciding_pids(self) -> set[int]:
        return {int(pid) for pid in DECIDED_BY.findall(self.log())}


def wait_until(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def statuses(address: tuple[str, int], sessions: int) -> list[str]:
    """Run `sessions` FastAGI sessions, 20 at a time, from callers pulsa does not know."""

    def one(_):
        env = agi_environment(
            extension="6221555",
            callerid=f"62899{next(_numbers):06d}",
            uniqueid=f"1795410460.{next(_numbers)}",
        )
        return agi_session(address, env).variables.get("PULSA_STATUS", "no answer")

    with ThreadPoolExecutor(20) as pool:
        return list(pool.map(one, range(sessions)))


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_two_workers_share_the_port_survive_a_killed_worker_and_stop_on_sigterm(migrated_urls):
    server = Server(migrated_urls[selected_backends()[0]], workers=2)
    try:
        assert wait_until(lambda: len(server.workers()) == 2), server.log()
        first = server.workers()
        assert first[0] != first[1] and server.process.pid not in first.values()

        assert statuses(server.address, 60) == ["UNKNOWN"] * 60
        # The kernel spreads the connections: both worker processes decided calls.
        assert wait_until(lambda: server.deciding_pids() == set(first.values())), server.log()

        os.kill(first[0], signal.SIGKILL)
        # Logged once the parent has reaped it: its listening socket is closed by then.
        died = f"fastagi worker 0 (pid {first[0]}) was killed by SIGKILL; starting another"
        assert wait_until(lambda: died in server.log()), server.log()
        # The surviving worker answers alone until the new one listens.
        assert statuses(server.address, 20) == ["UNKNOWN"] * 20
        assert wait_until(lambda: "listening, restarted" in server.log()), server.log()
        replacement = server.workers()[0]
        assert replacement not in first.values() and alive(replacement)
        assert statuses(server.address, 40) == ["UNKNOWN"] * 40

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(30) == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    assert wait_until(lambda: not alive(replacement) and not alive(first[1]), 10)
    assert "pulsa fastagi stopped" in server.log()


def test_workers_refuse_a_port_another_program_listens_on_in_one_line(migrated_urls):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PULSA_")}
        env.update(PULSA_DATABASE_URL=migrated_urls[selected_backends()[0]], PULSA_AGI_WORKERS="2")
        result = subprocess.run(
            [str(PULSA), "fastagi", "--port", str(port)], env=env, capture_output=True, timeout=60
        )
    assert result.returncode == 1
    assert result.stderr.decode().strip().splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_sigterm_to_the_parent_lets_each_worker_finish_its_call_in_progress(migrated_urls):
    server = Server(migrated_urls[selected_backends()[0]], workers=2)
    try:
        assert wait_until(lambda: len(server.workers()) == 2), server.log()
        env = agi_environment(extension="6221555", callerid="6299999999", uniqueid="1795410461.1")
        with socket.create_connection(server.address, timeout=10) as sock:
            sock.sendall(encode_environment(env))
            lines = sock.makefile("rb")
            assert lines.readline() == b"GET VARIABLE CHANNEL(linkedid)\n"
            server.process.send_signal(signal.SIGTERM)  # while Asterisk is still answering
            time.sleep(0.3)
            commands = []
            sock.sendall(b"200 result=0\n")
            while line := lines.readline():
                commands.append(line.decode().strip())
                sock.sendall(b"200 result=1\n")
        assert server.process.wait(30) == 0
    finally:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait()
    assert commands[-1] == "SET VARIABLE PULSA_STATUS UNKNOWN" and len(commands) == 7
    assert "status=UNKNOWN" in server.log() and "pulsa fastagi stopped" in server.log()
