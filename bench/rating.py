"""Rating throughput: how many calls per second `rating` prices on one core.

    python bench/rating.py [--calls N] [--seed S] [--profile]

Builds a 10,000-prefix tariff with peak, off-peak and weekend bands in Asia/Jakarta,
generates synthetic calls (answer times spread over one week, durations 0-3600 s) with a
seeded random generator, and prices every call with `CallPricing.for_call(...).cost(...)`.
Beside the figure it prints a baseline loop of the same count that does only a plain dict
lookup and integer arithmetic, so the numbers can be compared across machines.
"""

from __future__ import annotations

import argparse
import cProfile
import platform
import pstats
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rating import Band, CallPricing, Rate, Tariff, charged_seconds
from rating.bands import parse_clock, parse_days

TARGET_PER_SECOND = 100_000
PREFIXES = 10_000
TIMEZONE = "Asia/Jakarta"
#: Monday 2025-01-06 00:00 in Jakarta (UTC+7), as a UTC instant.
WEEK_START = datetime(2025, 1, 5, 17, 0, tzinfo=UTC)
WEEK_SECONDS = 7 * 86_400
BILLING = ((60, 60), (30, 6), (1, 1))


def build_tariff(rng: random.Random) -> tuple[Tariff, list[str]]:
    bands = [
        Band("weekend", parse_days("sat,sun"), parse_clock("00:00"), parse_clock("24:00")),
        Band("peak", parse_days("mon-fri"), parse_clock("08:00"), parse_clock("18:00")),
        Band("offpeak", parse_days("all"), parse_clock("18:00"), parse_clock("08:00")),
    ]
    prefixes: set[str] = set()
    while len(prefixes) < PREFIXES:
        prefixes.add(
            str(rng.randint(1, 9)) + "".join(rng.choices("0123456789", k=rng.randint(1, 7)))
        )
    rates = [Rate("", 3_000_000_000, description="anywhere else")]
    for prefix in sorted(prefixes):
        initial, increment = rng.choice(BILLING)
        peak = rng.randint(100, 5_000) * 1_000_000
        fee = rng.choice((0, 0, 0, 100_000_000))
        for band, price in (("peak", peak), ("offpeak", peak * 6 // 10), ("weekend", peak // 2)):
            rates.append(
                Rate(
                    prefix,
                    price,
                    connection_fee=fee,
                    initial_block=initial,
                    increment=increment,
                    band=band,
                )
            )
    return Tariff(rates, bands, timezone=TIMEZONE), sorted(prefixes)


def generate_calls(rng: random.Random, prefixes: list[str], count: int):
    calls = []
    for _ in range(count):
        # Nine calls in ten to a known prefix, the rest to the catch-all's territory.
        prefix = rng.choice(prefixes) if rng.random() < 0.9 else str(rng.randint(1, 9))
        number = prefix + "".join(rng.choices("0123456789", k=rng.randint(10, 13) - len(prefix)))
        answer = WEEK_START + timedelta(seconds=rng.randrange(WEEK_SECONDS))
        calls.append((number, answer, rng.randint(0, 3600)))
    return calls


def rate_all(tariff: Tariff, calls) -> int:
    for_call = CallPricing.for_call
    total = 0
    for number, answer, duration in calls:
        total += for_call(tariff, number, answer).cost(duration)
    return total


def baseline(table: dict[str, int], calls) -> int:
    total = 0
    for number, _answer, duration in calls:
        price = table.get(number[:4], 3_000_000_000)
        total += -(-price * duration // 60)
    return total


def crossed_share(tariff: Tariff, calls) -> float:
    crossed = 0
    for number, answer, duration in calls:
        pricing = CallPricing.for_call(tariff, number, answer)
        charged = charged_seconds(pricing.rate, duration)
        if len(list(tariff.schedule.segments(pricing.answer, charged))) > 1:
            crossed += 1
    return crossed / len(calls) if calls else 0.0


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def timed(function, *args) -> tuple[float, float, int]:
    """Wall-clock and CPU seconds of one run. On a busy machine the CPU time is the fairer
    figure: it leaves out the time other processes had the core."""
    started, started_cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return time.perf_counter() - started, time.process_time() - started_cpu, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000, help="calls to rate")
    parser.add_argument("--seed", type=int, default=20_250_106, help="random seed")
    parser.add_argument("--profile", action="store_true", help="profile with cProfile")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    tariff, prefixes = build_tariff(rng)
    calls = generate_calls(rng, prefixes, args.calls)
    table = {prefix[:4]: 1_000_000 * (i % 5_000) for i, prefix in enumerate(prefixes)}

    print(f"python   {platform.python_implementation()} {platform.python_version()}")
    print(f"cpu      {cpu_model()}")
    print(f"tariff   {len(tariff):,} rates, {PREFIXES:,} prefixes, zone {TIMEZONE}")
    print(f"calls    {args.calls:,} (seed {args.seed})")

    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(rate_all, tariff, calls)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)
        return 0

    elapsed, cpu, total = timed(rate_all, tariff, calls)
    base_elapsed, base_cpu, _ = timed(baseline, table, calls)
    share = crossed_share(tariff, calls)
    count = args.calls
    per_second, per_cpu_second = count / elapsed, count / cpu
    base_per_second, base_per_cpu_second = count / base_elapsed, count / base_cpu
    verdict = "meets" if per_cpu_second >= TARGET_PER_SECOND else "BELOW"
    target = f"{verdict} the target of {TARGET_PER_SECOND:,}/s"
    print(f"rated    {per_second:,.0f} calls/s in {elapsed:.2f} s wall")
    print(f"         {per_cpu_second:,.0f} calls/s in {cpu:.2f} s CPU ({target})")
    print(f"baseline {base_per_second:,.0f} loops/s in {base_elapsed:.2f} s wall")
    print(f"         {base_per_cpu_second:,.0f} loops/s in {base_cpu:.2f} s CPU")
    print("         (the same calls, each only a dict lookup and integer arithmetic)")
    print(f"ratio    rating costs {cpu / base_cpu:.1f}x the baseline loop (CPU time)")
    print(f"crossed  {share:.2%} of calls crossed a band boundary")
    print(f"total    {total:,} micro-units charged (a checksum of the results)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
