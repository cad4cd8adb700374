"""Call authorization over FastAGI on PostgreSQL, and the classic AGI script.

    python bench/authorize.py [--seconds 5] [--rate 100] [--clients 32] [--accounts 1000]
                              [--classic-runs 20] [--profile] [--agi-workers 1]
                              [--instructions 200]

Creates its own PostgreSQL database (dropped at the end; server from PULSA_BENCH_PG or
PULSA_TEST_PG, default postgresql+psycopg://postgres@127.0.0.1:5432), migrates it with
`wallet.migrate.upgrade`, loads a tariff plan of 500 prefixes and `--accounts` wallets with
credit, each paid by its caller ID. Then starts `pulsa fastagi` as its own process (as in
production) and drives it with clients that speak real AGI over TCP, shaped like the
recorded Asterisk 20 sessions (the `agi_*` environment, then one reply per command):

  offered load   one new call every 1/RATE s for S seconds, whatever the answers take
                 (open loop): authorizations per second and latency p50/p99
  saturation     `--clients` callers back to back for S seconds (closed loop)
  classic        `pulsa-agi authorize` as Asterisk runs it, a process per call, relayed to
                 the FastAGI server (as when `pulsa serve` runs) and alone (no server:
                 it decides itself); the target applies to the relayed figure; averaged
                 over `--classic-runs` runs (mean, min, max and CPU time; the first run,
                 which compiles the bytecode, is not counted)

Latency is from the moment the client connects to the moment the server closes the
session after PULSA_STATUS: what the channel waits. The CPU time the server process used
per authorization is printed too: on a busy machine it moves much less than the latency.
Every session must end in OK; the wallets are checked at the end (the holds add up, nobody
got more than they have).
`--profile` runs one authorization loop in this process under cProfile and prints where
the time goes. `--instructions N` runs the server once more under valgrind's callgrind and
counts the instructions it executes per authorization over N calls made one after another:
unlike the times, that count does not move with the machine's speed or load, so it shows
what a change to the code did (the same code gives the same count within about 1 %).
The baseline line (a plain Python loop, a PostgreSQL round trip) tells machines apart.
Targets: >= 500 authorizations/s at saturation, p99 < 10 ms at 100/s, the classic script
< 150 ms per call.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import os
import platform
import pstats
import random
import resource
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from wallet.customers import add_identity, create_customer
from wallet.db import Database
from wallet.ledger import top_up
from wallet.migrate import upgrade
from wallet.models import Account, Call, Hold
from wallet.tariffs import ensure_plan, import_rates

SERVER = os.environ.get(
    "PULSA_BENCH_PG",
    os.environ.get("PULSA_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432"),
)
BIN = Path(sys.executable).parent
TARGETS = {"saturation": 500.0, "p99_ms": 10.0, "classic_ms": 150.0}
PLAN = "bench"
OPENING = 10**12  # a million currency units each: no call of the bench is refused
_ids = itertools.count(1)

# The environment Asterisk 20 sent in the recordings, in the same order.
ENVIRONMENT = [
    ("agi_network", "yes"),
    ("agi_network_script", "authorize"),
    ("agi_request", "agi://127.0.0.1:4573/authorize"),
    ("agi_channel", "Local/{number}@prepaid-outbound-00000001;2"),
    ("agi_language", "en"),
    ("agi_type", "Local"),
    ("agi_uniqueid", "{uniqueid}"),
    ("agi_version", "20.21.0-rc1"),
    ("agi_callerid", "{caller}"),
    ("agi_calleridname", "Bench"),
    ("agi_callingpres", "0"),
    ("agi_callingani2", "0"),
    ("agi_callington", "0"),
    ("agi_callingtns", "0"),
    ("agi_dnid", "unknown"),
    ("agi_rdnis", "unknown"),
    ("agi_context", "pulsa-outbound"),
    ("agi_extension", "{number}"),
    ("agi_priority", "2"),
    ("agi_enhanced", "0.0"),
    ("agi_accountcode", ""),
    ("agi_threadid", "140024532866752"),
]


def environment(caller: str, *, network: bool = True) -> bytes:
    values = {
        "number": f"62{random.randrange(10**8, 10**9)}",
        "uniqueid": f"1795410450.{next(_ids)}",
        "caller": caller,
    }
    lines = []
    for key, value in ENVIRONMENT:
        if not network and key in ("agi_network", "agi_network_script"):
            continue
        if not network and key == "agi_request":
            value = "pulsa-agi"
        lines.append(f"{key}: {value.format(**values)}\n")
    return "".join(lines).encode() + b"\n"


def reply(command: bytes) -> bytes:
    """Asterisk's answers, as recorded."""
    if command.startswith((b"SET VARIABLE", b"VERBOSE")):
        return b"200 result=1\n"
    if command.startswith(b"GET VARIABLE"):
        return b"200 result=1 (1795410450.1)\n"
    return b"510 Invalid or unknown command\n"


# -- setting up --------------------------------------------------------------------------


def admin(statement: str) -> None:
    engine = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(statement))
    finally:
        engine.dispose()


def load(db: Database, accounts: int) -> list[str]:
    rows = ["prefix,price_per_minute,initial_block,increment"]
    rows += [f"62{n:03d},{random.randrange(100, 2000)},30,6" for n in range(500)]
    rows.append("62,1500,60,60")

    def plan(session) -> None:
        ensure_plan(session, PLAN, "Asia/Jakarta")
        import_rates(session, PLAN, "\n".join(rows) + "\n")

    db.run(plan)
    callers = []
    for start in range(0, accounts, 250):

        def batch(session, start=start) -> list[str]:
            made = []
            for n in range(start, min(start + 250, accounts)):
                _, account = create_customer(
                    session, f"Bench {n}", currency="IDR", tariff_plan=PLAN
                )
                top_up(session, account.id, OPENING, key=f"bench-open-{n}")
                caller = f"6281{n:07d}"
                add_identity(session, account.id, "callerid", caller)
                made.append(caller)
            return made

        callers += db.run(batch)
    return callers


def start_server(
    url: str,
    port: int,
    workers: int,
    *,
    under: Sequence[str] = (),
    settings: Mapping[str, str] | None = None,
) -> subprocess.Popen:
    """`pulsa fastagi` as its own process, once it listens; `under` runs it under another
    program (valgrind), `settings` adds PULSA_ variables."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PULSA_")},
        "PULSA_DATABASE_URL": url,
        "PULSA_DEFAULT_TARIFF_PLAN": PLAN,
        "PULSA_LOG_LEVEL": "INFO",  # one line per decision, as in production
        "PULSA_AGI_WORKERS": str(workers),
        **(settings or {}),
    }
    command = [sys.executable, str(BIN / "pulsa"), "fastagi", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*under, *command, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert server.stdout is not None
    line = server.stdout.readline().decode()
    if "fastagi on" not in line:
        server.kill()
        server.wait()
        raise SystemExit(f"pulsa fastagi did not start: {line!r}")
    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- AGI clients -------------------------------------------------------------------------


async def one_call(port: int, caller: str) -> tuple[float, str]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(environment(caller))
    status = ""
    while line := await reader.readline():
        if line.startswith(b"SET VARIABLE PULSA_STATUS "):
            status = line.split()[-1].decode()
        writer.write(reply(line))
    elapsed = time.perf_counter() - started
    writer.close()
    return elapsed, status


async def offered_load(port: int, callers: list[str], rate: float, seconds: float):
    tasks = []
    start = time.perf_counter()
    for n in range(int(rate * seconds)):
        delay = start + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one_call(port, random.choice(callers))))
    results = await asyncio.gather(*tasks)
    return results, time.perf_counter() - start


async def saturation(port: int, callers: list[str], clients: int, seconds: float):
    results: list[tuple[float, str]] = []
    stop = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < stop:
            results.append(await one_call(port, random.choice(callers)))

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return results, time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its live children (the FastAGI worker
    processes) have used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return own + sum(cpu_seconds(int(child)) for child in children)


def postgres_cpu() -> dict[int, float]:
    """User + system CPU seconds of each PostgreSQL process now running (Linux /proc):
    they share the machine's cores with the server and with these clients."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, tail = stat.read_text().rsplit(")", 1)
        except OSError:
            continue  # ended meanwhile
        if head.endswith("(postgres"):
            fields = tail.split()
            found[int(stat.parent.name)] = (int(fields[11]) + int(fields[12])) / os.sysconf(
                "SC_CLK_TCK"
            )
    return found


def postgres_cpu_since(before: dict[int, float]) -> float:
    """CPU the PostgreSQL processes used since `before` (processes started since count
    whole; those that ended meanwhile are lost, so this is a lower bound)."""
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in postgres_cpu().items())


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def summary(label: str, results: list[tuple[float, str]], wall: float) -> tuple[float, float]:
    latencies = sorted(latency * 1000 for latency, _ in results)
    bad = [status for _, status in results if status != "OK"]
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(
        f"{label:<13} {len(results) / wall:8.0f} authorizations/s   "
        f"p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   ({len(results)} calls"
        + (f", {len(bad)} not OK: {sorted(set(bad))}" if bad else "")
        + ")"
    )
    if bad:
        raise SystemExit("some authorizations were not OK")
    return len(results) / wall, p99


def classic(
    url: str, callers: list[str], runs: int, fastagi_port: int
) -> tuple[list[float], list[float]]:
    """`pulsa-agi authorize` per call; it relays to a FastAGI server on `fastagi_port`
    when one listens there, and decides itself otherwise."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PULSA_")},
        "PULSA_DATABASE_URL": url,
        "PULSA_DEFAULT_TARIFF_PLAN": PLAN,
        "PULSA_FASTAGI_PORT": str(fastagi_port),
        # As under Asterisk after the first call: compiled bytecode is cached (kept out of
        # the source tree here), even where PYTHONDONTWRITEBYTECODE is set for the tests.
        "PYTHONPYCACHEPREFIX": str(Path(tempfile.gettempdir()) / "pulsa-bench-pycache"),
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    times, cpu = [], []
    if runs <= 0:
        return times, cpu
    for _ in range(runs + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(BIN / "pulsa-agi"), "authorize"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(environment(random.choice(callers), network=False))
        process.stdin.flush()
        status = ""
        while line := process.stdout.readline():
            if line.replace(b'"', b"").startswith(b"SET VARIABLE PULSA_STATUS"):
                status = line.split()[-1].strip(b'"').decode()
            process.stdin.write(reply(line))
            process.stdin.flush()
        process.wait()
        times.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        if status != "OK":
            raise SystemExit(f"the classic script answered {status or 'nothing'}")
    return times[1:], cpu[1:]


def profile(url: str, callers: list[str], seconds: float) -> str:
    """CPU time of authorizations run in this process, by package and by function."""
    from agi.authorize import AgiCall, CallAuthorizer
    from pulsa.settings import load_settings

    settings = load_settings({"PULSA_DATABASE_URL": url, "PULSA_DEFAULT_TARIFF_PLAN": PLAN})
    db = Database(url)
    authorizer = CallAuthorizer(settings, db)

    def call() -> AgiCall:
        return AgiCall(
            dialled=f"62{random.randrange(10**8, 10**9)}",
            callerid=random.choice(callers),
            uniqueid=f"1795410451.{next(_ids)}",
        )

    for _ in range(50):
        authorizer.authorize(call())
    done, cpu, stop = 0, time.process_time(), time.perf_counter() + seconds
    while time.perf_counter() < stop:
        authorizer.authorize(call())
        done += 1
    cpu = (time.process_time() - cpu) / done
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(done):
        authorizer.authorize(call())
    profiler.disable()
    db.dispose()
    stats = pstats.Stats(profiler)
    packages: dict[str, float] = {}
    for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        if "site-packages/" in filename:
            package = filename.split("site-packages/", 1)[1].split("/", 1)[0]
        elif filename.startswith(str(Path(__file__).resolve().parent.parent)):
            package = (
                Path(filename)
                .resolve()
                .relative_to(Path(__file__).resolve().parent.parent)
                .parts[0]
            )
        else:
            package = "python" if not filename.startswith("~") else "builtins"
        packages[package] = packages.get(package, 0.0) + own
    total = sum(packages.values())
    lines = [
        f"profile   authorize_call in one thread: {cpu * 1000:.2f} ms CPU per call "
        "(without the profiler); CPU by package under the profiler:"
    ]
    for package, own in sorted(packages.items(), key=lambda item: -item[1])[:8]:
        lines.append(f"          {package:<16} {100 * own / total:5.1f} %")
    out = io.StringIO()
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(15)
    return "\n".join(lines) + "\n" + out.getvalue()


def baseline(url: str) -> str:
    """The machine's speed at what the server does: plain Python (best of three), and a
    PostgreSQL round trip (`SELECT 1` through psycopg, CPU and wall, median of 2,000)."""
    import psycopg

    rates = []
    for _ in range(3):
        started, total = time.process_time(), 0
        for n in range(2_000_000):
            total += n
        rates.append(2.0 / (time.process_time() - started))
    walls, cpu = [], time.process_time()
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False)) as pg:
        for _ in range(2000):
            started = time.perf_counter()
            pg.execute("SELECT 1").fetchone()
            walls.append(time.perf_counter() - started)
    cpu = (time.process_time() - cpu) / len(walls)
    return (
        f"baseline  a plain Python loop {max(rates):.1f} M iterations/s; a PostgreSQL "
        f"SELECT 1 {statistics.median(walls) * 1e6:.0f} us ({cpu * 1e6:.0f} us of this "
        "process's CPU)"
    )


def instructions(url: str, callers: list[str], calls: int) -> str:
    """Instructions the FastAGI server executes per authorization, counted by callgrind
    over `calls` sessions one after another (after 20 uncounted ones)."""
    if not (shutil.which("valgrind") and shutil.which("callgrind_control")):
        return "instructions  not counted: valgrind is not installed"
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        try:
            server = start_server(
                url,
                port,
                1,
                under=[
                    "valgrind",
                    "--tool=callgrind",
                    "--instr-atstart=no",
                    f"--callgrind-out-file={directory}/callgrind.%p",
                ],
                # valgrind runs the server some 50 times slower
                settings={"PULSA_AGI_TIMEOUT_MS": "60000"},
            )
        except SystemExit as error:
            return f"instructions  not counted under valgrind: {error}"
        try:

            async def one_after_another(count: int) -> None:
                for n in range(count):
                    _, status = await one_call(port, callers[n % len(callers)])
                    if status != "OK":
                        raise SystemExit(f"an authorization under valgrind answered {status}")

            asyncio.run(one_after_another(20))
            control = ["callgrind_control", "--instr=on", str(server.pid)]
            subprocess.run(control, check=True, capture_output=True)
            asyncio.run(one_after_another(calls))
            control[1] = "--instr=off"
            subprocess.run(control, check=True, capture_output=True)
            server.send_signal(signal.SIGTERM)
            server.wait(300)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
        total = 0
        for dump in Path(directory).glob("callgrind.*"):
            for row in dump.read_text().splitlines():
                if row.startswith(("summary:", "totals:")):
                    total = max(total, int(row.split()[1]))
    return (
        f"instructions {total / calls / 1e6:6.2f} M per authorization in the server "
        f"(callgrind, {calls} calls one after another; does not depend on the machine's speed)"
    )


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--classic-runs", type=int, default=20)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument(
        "--instructions",
        type=int,
        default=0,
        metavar="N",
        help="count the server's instructions per authorization over N calls (valgrind)",
    )
    parser.add_argument(
        "--agi-workers",
        type=int,
        default=1,
        help="PULSA_AGI_WORKERS of the server (0: a core each)",
    )
    args = parser.parse_args(argv)

    name = f"pulsa_bench_agi_{os.getpid()}_{secrets.token_hex(3)}"
    url = f"{SERVER}/{name}"
    admin(f'CREATE DATABASE "{name}"')
    server = None
    try:
        upgrade(url)
        db = Database(url)
        callers = load(db, args.accounts)
        print(f"python    {platform.python_implementation()} {platform.python_version()}")
        print(f"cpu       {cpu_model()}, {os.cpu_count()} cores")
        print(f"load      {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1, 5, 15 min)")
        print(f"database  PostgreSQL, {args.accounts} wallets, a plan of 501 prefixes")
        print(baseline(url))
        port = free_port()
        server = start_server(url, port, args.agi_workers)
        print(f"server    pulsa fastagi, PULSA_AGI_WORKERS={args.agi_workers}")
        warm, _ = asyncio.run(saturation(port, callers, 8, 1.0))
        assert all(status == "OK" for _, status in warm)
        results, wall = asyncio.run(offered_load(port, callers, args.rate, args.seconds))
        _, p99 = summary(f"{args.rate:.0f}/s", results, wall)
        cpu, database_cpu, client_cpu = (
            cpu_seconds(server.pid),
            postgres_cpu(),
            own_cpu_seconds(),
        )
        results, wall = asyncio.run(saturation(port, callers, args.clients, args.seconds))
        cpu = cpu_seconds(server.pid) - cpu
        database_cpu = postgres_cpu_since(database_cpu)
        client_cpu = own_cpu_seconds() - client_cpu
        rate, _ = summary(f"saturation/{args.clients}", results, wall)
        print(
            f"server CPU    {cpu / len(results) * 1000:8.2f} ms per authorization (user+system "
            f"of the pulsa fastagi processes: at most {len(results) / cpu:.0f}/s a core)"
        )
        whole = (cpu + database_cpu + client_cpu) / len(results)
        print(
            f"machine CPU   {whole * 1000:8.2f} ms per authorization at saturation: server "
            f"{cpu / len(results) * 1000:.2f}, PostgreSQL {database_cpu / len(results) * 1000:.2f}"
            f", these AGI clients {client_cpu / len(results) * 1000:.2f} (at most "
            f"{(os.cpu_count() or 1) / whole:.0f}/s on {os.cpu_count()} cores)"
        )
        relayed, relayed_cpu = classic(url, callers, args.classic_runs, port)
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        server = None
        alone, alone_cpu = classic(url, callers, args.classic_runs, free_port())
        for label, times, cpu_times in (
            ("relayed", relayed, relayed_cpu),
            ("alone", alone, alone_cpu),
        ):
            if not times:
                print(f"classic {label:8}   not run (--classic-runs 0)")
                continue
            print(
                f"classic {label:8}{statistics.mean(times) * 1000:8.1f} ms per call (min "
                f"{min(times) * 1000:.1f}, max {max(times) * 1000:.1f}; {len(times)} runs of "
                f"pulsa-agi authorize), {statistics.mean(cpu_times) * 1000:.1f} ms of CPU"
            )
        mean = statistics.mean(relayed) * 1000 if relayed else float("inf")
        with db.transaction() as session:
            over = session.execute(
                select(func.count()).select_from(Account).where(Account.held > Account.balance)
            ).scalar_one()
            held = session.execute(select(func.sum(Account.held))).scalar_one()
            holds = session.execute(
                select(func.sum(Hold.amount)).where(Hold.status == "open")
            ).scalar_one()
            calls = session.execute(select(func.count(Call.id))).scalar_one()
        print(f"check     {calls} calls, open holds {'==' if held == holds else '!='} held")
        if over or held != holds:
            raise SystemExit("wallet check failed")
        met = (
            rate >= TARGETS["saturation"]
            and p99 < TARGETS["p99_ms"]
            and mean < TARGETS["classic_ms"]
        )
        print(
            f"targets   >= {TARGETS['saturation']:.0f}/s, p99 < {TARGETS['p99_ms']:.0f} ms at "
            f"{args.rate:.0f}/s, classic < {TARGETS['classic_ms']:.0f} ms: "
            + ("met" if met else "NOT met")
        )
        if args.instructions > 0:
            print(instructions(url, callers, args.instructions))
        if args.profile:
            print(profile(url, callers, min(args.seconds, 3.0)))
        db.dispose()
        return 0
    finally:
        if server is not None:
            server.kill()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
