"""crm_stream: CRM change events through CrmChangeStream, against a plain subscriber loop.

In a temporary folder the script starts the sandbox CRM in its own process with its
Pub/Sub API (``syncline sandbox salesforce``, ``SYNCLINE_SANDBOX_PUBSUB_PORT``) and a
Temporal dev server (the installed ``temporal``, SQLite with WAL) with two namespaces,
and measures two things, each for Syncline and for a baseline in the same run:

* steady lag: opportunities closed won through the CRM's REST API at a steady rate,
  and for each the time from the close (the API call's answer, just after the commit)
  to its deal workflow started in Temporal (its start time, from visibility);
* backlog drain: a backlog of closed-won events made while nobody reads (as ten
  minutes of downtime at the backlog's rate would leave), then read from the position
  before it: events per second until the last deal workflow has started.

Syncline is ``CrmChangeStream`` and its activity (``CrmStreamActivities``, the real
connector and router) on a worker in this process, in the ``default`` namespace. The
baseline is a plain asyncio loop: the same ``PubSubClient`` subscription, the same
parser and router (so the same signal-with-start per deal), in the ``baseline``
namespace; no workflow, no heartbeats, no position kept anywhere. Deals are started on
a task queue nobody polls: what is measured is the trigger reaching Temporal, not the
orders.

    python benchmarks/crm_stream.py [--rate 10] [--steady-seconds 30] [--backlog 6000]
        [--json benchmarks/results/crm_stream.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.crm_stream import CrmStreamActivities
from activities.crm_triggers import CrmTriggerRouter, TriggerSource
from connectors.salesforce import SalesforceClient
from connectors.salesforce.pubsub import PubSubClient, ReplayStart
from models.types import utc_now
from models.webhooks import parse_salesforce_webhook
from store import Store
from workers.binaries import temporal_cli
from workers.demo import percentile
from workflows.stream import contract as stream
from workflows.stream.workflow import CrmChangeStream

HOST = "127.0.0.1"
CHANNEL = "/data/OpportunityChangeEvent"
STREAM_QUEUE = "bench-stream"
DEALS_QUEUE = "bench-deals"  # nobody polls it: a deal started is the end of the trigger
BASELINE = "baseline"
STEADY_WINDOW = 5.0
CLIENT_ID, CLIENT_SECRET = "bench-crm", secrets.token_urlsafe(16)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Crm:
    rest: SalesforceClient
    pubsub: PubSubClient
    url: str


@asynccontextmanager
async def sandbox_crm(workdir: Path) -> AsyncIterator[Crm]:
    port, pubsub_port = _free_port(), _free_port()
    env = {
        **os.environ,
        "SYNCLINE_CRM_CLIENT_ID": CLIENT_ID,
        "SYNCLINE_CRM_CLIENT_SECRET": CLIENT_SECRET,
        "SYNCLINE_SANDBOX_PUBSUB_PORT": str(pubsub_port),
        "SYNCLINE_SANDBOX_EVENT_BUS": "Opportunity",
        "SYNCLINE_SANDBOX_PUBSUB_KEEPALIVE_SECONDS": "5",
    }
    argv = [sys.executable, "-m", "workers.cli", "sandbox", "salesforce", "--port", str(port)]
    argv += ["--db", str(workdir / "crm.db")]
    with (workdir / "crm.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            *argv, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://{HOST}:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(200):
                with suppress(httpx.TransportError):
                    if (await http.get(f"{url}/admin/health")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
        rest = SalesforceClient(url, CLIENT_ID, CLIENT_SECRET, client_name="sales_user")
        pubsub = PubSubClient(f"{HOST}:{pubsub_port}", rest, tls=False)
        yield Crm(rest, pubsub, url)
        await pubsub.aclose()
        await rest.aclose()
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


@asynccontextmanager
async def temporal(workdir: Path) -> AsyncIterator[tuple[Client, Client]]:
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal_cli()),
        dev_server_database_filename=str(workdir / "temporal.db"),
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--namespace",
            BASELINE,
        ],
        ip=HOST,
    )
    try:
        baseline = await Client.connect(
            env.client.service_client.config.target_host,
            namespace=BASELINE,
            data_converter=pydantic_data_converter,
        )
        yield env.client, baseline
    finally:
        await env.shutdown()


def router(client: Client, store: Store) -> CrmTriggerRouter:
    return CrmTriggerRouter(
        client, store, task_queue=DEALS_QUEUE, erp_system="netsuite", crm_client_name="syncline"
    )


async def open_opportunities(crm: Crm, count: int, name: str) -> list[str]:
    gate = asyncio.Semaphore(8)

    async def one(n: int) -> str:
        async with gate:
            return await crm.rest.create(
                "Opportunity",
                {"Name": f"{name} {n}", "StageName": "Prospecting", "CloseDate": "2026-12-31"},
            )

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def close_won(crm: Crm, ids: Sequence[str], rate: float | None) -> dict[str, float]:
    """Close each won, at ``rate`` per second (None: as fast as 8 at a time go); the
    wall-clock time each answered."""
    closed: dict[str, float] = {}
    gate = asyncio.Semaphore(8)
    started = time.monotonic()

    async def one(n: int, opportunity_id: str) -> None:
        if rate is not None:
            await asyncio.sleep(max(0.0, started + n / rate - time.monotonic()))
        async with gate:
            await crm.rest.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
            closed[opportunity_id] = time.time()

    await asyncio.gather(*(one(n, i) for n, i in enumerate(ids)))
    return closed


async def deal_starts(client: Client, ids: Sequence[str], timeout: float) -> dict[str, float]:
    """Opportunity id → its deal's start time, once every one of ``ids`` has a deal."""
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    found: dict[str, float] = {}
    while time.monotonic() < deadline:
        async for w in client.list_workflows(f"TaskQueue='{DEALS_QUEUE}'"):
            opportunity_id = w.id.rsplit(":", 1)[-1]
            if opportunity_id in wanted:
                found[opportunity_id] = w.start_time.timestamp()
        if len(found) == len(wanted):
            break
        await asyncio.sleep(1.0)
    return found


async def position(crm: Crm) -> bytes:
    """The channel's newest replay id, from a keep-alive at the tip."""
    subscription = crm.pubsub.subscribe(CHANNEL, ReplayStart(), batch_size=1)
    try:
        async for batch in subscription:
            if batch.latest_replay_id:
                return batch.latest_replay_id
    finally:
        await subscription.aclose()
    raise RuntimeError("no keep-alive")


async def plain_loop(
    crm: Crm, client: Client, store: Store, start: ReplayStart, lags: list[float]
) -> None:
    """The baseline: subscribe, parse, route; until cancelled. Its lags are measured as
    the stream's activity measures its own: the CRM's commit time to routed."""
    routing = router(client, store)
    async for batch in crm.pubsub.subscribe(CHANNEL, start, batch_size=100):
        for event in batch.events:
            trigger = parse_salesforce_webhook(event.payload)
            if routing.is_own_write(trigger):
                continue
            source = TriggerSource(f"bench:{event.replay_id.hex()}", "bench", utc_now())
            await routing.route(trigger, source)
            if event.committed_at is not None:
                lags.append((utc_now() - event.committed_at).total_seconds())


@asynccontextmanager
async def syncline_stream(
    crm: Crm, client: Client, store: Store, replay_id: bytes | None, window: float = 60.0
) -> AsyncIterator[Any]:
    activities = CrmStreamActivities(crm.pubsub, router(client, store), store)
    async with Worker(
        client,
        task_queue=STREAM_QUEUE,
        workflows=[CrmChangeStream],
        activities=[activities.follow_stream],
    ):
        request = stream.StreamInput(
            channel=CHANNEL,
            config=stream.StreamConfig(window=timedelta(seconds=window)),
            replay_id=replay_id.hex() if replay_id else None,
        )
        handle = await client.start_workflow(
            CrmChangeStream.run,
            request,
            id=stream.stream_workflow_id("salesforce", CHANNEL),
            task_queue=STREAM_QUEUE,
        )
        try:
            yield handle
        finally:
            await handle.terminate("benchmark phase over")


@dataclass
class Phase:
    events: int
    seconds: float
    events_per_second: float
    lag_p50: float
    """Close answered by the CRM's API → the deal started in Temporal (visibility)."""
    lag_p95: float
    lag_max: float
    commit_lag_p50: float | None = None
    """The CRM's commit timestamp → routed, as the reader measured it (the metric)."""
    commit_lag_p95: float | None = None


def _phase(closed: dict[str, float], started: dict[str, float], since: float) -> Phase:
    lags = [started[i] - closed[i] for i in closed if i in started]
    seconds = max(started.values(), default=since) - since
    return Phase(
        events=len(lags),
        seconds=round(seconds, 2),
        events_per_second=round(len(lags) / seconds, 1) if seconds > 0 else 0.0,
        lag_p50=round(percentile(lags, 0.50), 3),
        lag_p95=round(percentile(lags, 0.95), 3),
        lag_max=round(max(lags, default=float("nan")), 3),
    )


def _commit_lags(phase: Phase, p50: float | None, p95: float | None) -> Phase:
    phase.commit_lag_p50 = None if p50 is None else round(p50, 3)
    phase.commit_lag_p95 = None if p95 is None else round(p95, 3)
    return phase


async def steady(crm: Crm, client: Client, rate: float, seconds: float, name: str) -> Phase:
    ids = await open_opportunities(crm, int(rate * seconds), name)
    since = time.time()
    closed = await close_won(crm, ids, rate)
    return _phase(closed, await deal_starts(client, ids, 120), since)


async def drain(crm: Crm, client: Client, closed: dict[str, float], consume: Any) -> Phase:
    since = time.time()
    async with consume():
        started = await deal_starts(client, list(closed), 600)
    return _phase(closed, started, since)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="syncline-bench-stream-") as tmp:
        workdir = Path(tmp)
        store = Store.from_url(f"sqlite+aiosqlite:///{workdir / 'syncline.db'}")
        await store.migrate()
        async with sandbox_crm(workdir) as crm, temporal(workdir) as (client, baseline):
            baseline_lags: list[float] = []

            @asynccontextmanager
            async def baseline_loop(start: ReplayStart) -> AsyncIterator[None]:
                task = asyncio.create_task(plain_loop(crm, baseline, store, start, baseline_lags))
                await asyncio.sleep(0.5)  # subscribed before the first close
                try:
                    yield
                finally:
                    task.cancel()
                    with suppress(asyncio.CancelledError):
                        await task

            result: dict[str, Any] = {"rate": args.rate, "backlog": args.backlog}
            tip = await position(crm)
            # Short runs, so the stream's own lag figures (kept per finished run) are in.
            async with syncline_stream(crm, client, store, tip, window=STEADY_WINDOW) as handle:
                await asyncio.sleep(2)
                phase = await steady(crm, client, args.rate, args.steady_seconds, "Steady S")
                await asyncio.sleep(STEADY_WINDOW + 1)
                status = await stream.STATUS.ask(handle)
                result["steady_syncline"] = _commit_lags(
                    phase, status.lag_p50_seconds, status.lag_p95_seconds
                )
            async with baseline_loop(ReplayStart()):
                phase = await steady(crm, baseline, args.rate, args.steady_seconds, "Steady B")
                result["steady_baseline"] = _commit_lags(
                    phase, percentile(baseline_lags, 0.50), percentile(baseline_lags, 0.95)
                )
            # The backlog: closed while nobody reads, then read from the tip before it.
            before = await position(crm)
            ids = await open_opportunities(crm, args.backlog, "Backlog")
            closed = await close_won(crm, ids, None)
            result["drain_syncline"] = await drain(
                crm, client, closed, lambda: syncline_stream(crm, client, store, before)
            )
            result["drain_baseline"] = await drain(
                crm, baseline, closed, lambda: baseline_loop(ReplayStart.after(before))
            )
        await store.close()
    for key in list(result):
        if isinstance(result[key], Phase):
            result[key] = asdict(result[key])
    syncline, plain = result["drain_syncline"], result["drain_baseline"]
    result["drain_ratio"] = round(syncline["events_per_second"] / plain["events_per_second"], 2)
    result["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rate", type=float, default=10.0, help="closes per second, steady")
    parser.add_argument("--steady-seconds", type=float, default=30.0)
    parser.add_argument(
        "--backlog", type=int, default=6000, help="closed-won events: ten minutes at 10/s"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(args))
    for name in ("steady_syncline", "steady_baseline"):
        phase = result[name]
        print(
            f"{name:16} {phase['events']:5} events at {phase['events_per_second']:5.1f}/s: "
            f"commit → routed p50 {phase['commit_lag_p50']:.3f} s, "
            f"p95 {phase['commit_lag_p95']:.3f} s; close answered → deal started "
            f"p50 {phase['lag_p50']:.3f} s, p95 {phase['lag_p95']:.3f} s"
        )
    for name in ("drain_syncline", "drain_baseline"):
        phase = result[name]
        print(
            f"{name:16} {phase['events']:5} events in {phase['seconds']:7.2f} s "
            f"({phase['events_per_second']:7.1f}/s)"
        )
    steady, plain = result["steady_syncline"], result["steady_baseline"]
    print(
        "steady lag p50 / p95, Syncline / baseline: "
        f"{steady['commit_lag_p50'] / plain['commit_lag_p50']:.2f} / "
        f"{steady['commit_lag_p95'] / plain['commit_lag_p95']:.2f}"
    )
    print(f"backlog drain rate, Syncline / baseline: {result['drain_ratio']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
