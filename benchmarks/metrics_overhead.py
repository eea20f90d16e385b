"""metrics_overhead: close-won throughput with metrics on and off, in the same run.

Each round starts the real stack twice in temporary folders, identical but for
``SYNCLINE_METRICS`` (on: OpenTelemetry instruments in the connectors, activities and
ingress, Temporal's metric buffer drained into them, the store's gauges on their
default 15 s timer, and both /metrics endpoints scraped every 5 s, three times as often
as Prometheus's default; off:
the no-op meter and the SDK's default runtime). The order alternates between rounds so
neither setting always runs on a warmer machine. It prints deals/s per run, the
medians, and on/off as a ratio.

    python benchmarks/metrics_overhead.py [--deals 300] [--rounds 3] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
from pathlib import Path
from typing import Any

import httpx
from close_won import Run, _syncline_run, started_stack

from workers.demo import open_deals, seed_crm_catalog
from workers.dev_stack import DevStack


async def _scrape_forever(stack: DevStack, token: str) -> int:
    """Scrape both endpoints every 5 s, as a Prometheus would; the number of scrapes."""
    scrapes = 0
    async with httpx.AsyncClient(timeout=10) as http:
        while True:
            await http.get(stack.worker_metrics_url)
            await http.get(f"{stack.api_url}/metrics", headers={"Authorization": f"Bearer {token}"})
            scrapes += 1
            await asyncio.sleep(5)


async def _one(metrics: bool, deals: int, timeout: float) -> Run:
    async with started_stack(metrics=metrics) as (stack, env, crm, erp):
        scraper = (
            asyncio.create_task(_scrape_forever(stack, env["SYNCLINE_OPERATOR_KEY"]))
            if metrics
            else None
        )
        try:
            entries = await seed_crm_catalog(crm, erp)
            opened = await open_deals(crm, entries, deals, "m", random.Random("m"), concurrency=20)
            return await _syncline_run(crm, opened, timeout)
        finally:
            if scraper is not None:
                scraper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await scraper


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    runs: dict[str, list[Run]] = {"on": [], "off": []}
    for round_number in range(args.rounds):
        order = ("on", "off") if round_number % 2 == 0 else ("off", "on")
        for setting in order:
            run = await _one(setting == "on", args.deals, args.timeout)
            runs[setting].append(run)
            print(
                f"round {round_number + 1}, metrics {setting:>3}: {run.deals} deals in "
                f"{run.seconds:.1f} s = {run.deals_per_second:.2f} deals/s; "
                f"latency p50 {run.p50:.2f} s, p95 {run.p95:.2f} s"
            )
    median = {k: statistics.median(r.deals_per_second for r in v) for k, v in runs.items()}
    p95 = {k: statistics.median(r.p95 for r in v) for k, v in runs.items()}
    ratio = median["on"] / median["off"]
    print(
        f"\nmedian deals/s: metrics on {median['on']:.2f}, off {median['off']:.2f}; "
        f"on/off {ratio:.3f} ({100 * (1 - ratio):+.1f} % throughput cost); "
        f"p95 latency on {p95['on']:.2f} s, off {p95['off']:.2f} s"
    )
    if args.json:
        results: dict[str, Any] = {
            "deals": args.deals,
            "runs": {k: [vars(r) for r in v] for k, v in runs.items()},
            "median_deals_per_second": median,
            "ratio_on_off": round(ratio, 3),
        }
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
