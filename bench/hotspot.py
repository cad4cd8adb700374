"""Reconciler throughput: sync N hotspot users to one emulated router.

    python bench/hotspot.py [--users 5000] [--database URL]

Makes a database (SQLite in a scratch folder unless --database names an empty one),
generates N voucher logins for one package on one router, starts the RouterOS API
emulator of the tests on loopback and runs the reconciler twice through the real
librouteros client: from an empty router (every user added), then again with nothing to
change. Prints users per second, wall and CPU time, and the API commands each pass
sent. The emulator runs in this process, so the CPU time includes the router's side;
beside it, one plain `print` of all users with librouteros is timed as the machine's
baseline for a full read of the table.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import librouteros

from hotspot.credentials import RouterKeyring, generate_key
from hotspot.reconciler import sync_router
from hotspot.routers import add_router
from tests.hotspot.router import API_PASSWORD, API_USER, USERS, HotspotRouter
from wallet.db import Database
from wallet.internet import create_package
from wallet.migrate import upgrade
from wallet.vouchers import generate_batch


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed(work):
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--database", help="SQLAlchemy URL of an empty database")
    args = parser.parse_args(argv)

    folder = Path(tempfile.mkdtemp(prefix="pulsa-bench-"))
    url = args.database or f"sqlite:///{folder / 'bench.db'}"
    upgrade(url)
    db = Database(url)
    ring = RouterKeyring(generate_key())
    print(f"python   {platform.python_implementation()} {platform.python_version()}")
    print(f"cpu      {cpu_model()}")
    print(f"database {db.dialect}, users {args.users:,}")

    with HotspotRouter() as router:

        def prepare(session):
            router_row = add_router(
                session,
                ring,
                "bench",
                "127.0.0.1",
                port=router.port,
                username=API_USER,
                password=API_PASSWORD,
            )
            package = create_package(
                session,
                "Bench 1 day",
                price=5_000_000_000,
                validity_value=1,
                validity_unit="days",
                limit_uptime=3600,
                limit_bytes_total=2 * 1024**3,
                rate_limit="512k/2M",
                router_ids=[router_row.id],
            )
            generate_batch(session, count=args.users, package=package.id, length=10)
            return router_row.id

        router_id, made, _ = timed(lambda: db.run(prepare))
        print(f"setup    {args.users:,} voucher logins generated in {made:.2f} s")

        def run_pass(label: str) -> None:
            router.commands.clear()
            report, wall, cpu = timed(lambda: sync_router(db, router_id, ring, timeout=30.0))
            assert report.ok, report.error
            sent = len(router.commands)
            writes = sum(1 for c in router.commands if not c.command.endswith(("/print", "/login")))
            users = len(report.added) + len(report.updated) + report.unchanged
            print(
                f"{label:<8} {users / wall:,.0f} users/s in {wall:.2f} s wall, {cpu:.2f} s CPU; "
                f"{len(report.added):,} added, {len(report.updated):,} updated, "
                f"{report.unchanged:,} unchanged; {sent:,} API commands ({writes:,} writes, "
                f"{sent / wall:,.0f} commands/s)"
            )

        run_pass("empty")
        assert len(router.rows(USERS)) == args.users
        run_pass("again")

        def read_all():
            api = librouteros.connect(
                "127.0.0.1", API_USER, API_PASSWORD, port=router.port, encoding="utf-8"
            )
            try:
                return len(tuple(api.path("ip", "hotspot", "user")))
            finally:
                api.close()

        count, wall, cpu = timed(read_all)
        print(
            f"baseline one librouteros print of {count:,} users: {wall:.2f} s wall, "
            f"{cpu:.2f} s CPU ({count / wall:,.0f} rows/s)"
        )
    db.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
