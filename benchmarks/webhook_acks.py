"""webhook_acks: how fast the API answers signed webhooks, now that it answers from the inbox.

Starts the real local stack (Temporal dev server on SQLite/WAL, API with its inbox relay,
worker, both sandboxes: ``DevStack``, as ``syncline dev`` runs it) in a temporary folder,
optionally on a PostgreSQL store, and measures:

* **acks**: S concurrent senders, each sending N signed closed-won callouts for new
  opportunities one after another (a sender waits for each answer): the 202's latency
  p50/p95/p99 and acks/s; then how long until the relay has signalled every one
  (the inbox empty, every delivery ``accepted``), from the first send;
* **acks, paced**: the same senders, each sending about ``--pace`` a second (waiting for
  each answer, as a CRM's callout does): the latency a sender sees at that offered load,
  where the closed loop above measures capacity (its latency is queueing: Little's law);
* **acks, Temporal down**: the same again with the Temporal dev server stopped, so
  neither the relay's signals nor the deals they start compete with the ingress for the
  machine: the inbox's own cost. Then Temporal is started again and the time until every
  delivery is signalled is measured from the restart;
* **baseline, the old path's cost**, in the same run against the same Temporal: the
  same number of senders and requests, each one signal-with-start of a new deal through
  the deal's contract, as the ingress did before answering (without its database write,
  so the old path cost at least this): latency p50/p95/p99 and requests/s. The ratio
  is the baseline's latency over the ack's.

Each ack phase also prints the API's own handling time from its ``/metrics`` (the
FastAPI instrumentation's histogram, so as bucket bounds): what the process spent from
the handler's start to its answer, apart from the wait before its event loop got to it.

    python benchmarks/webhook_acks.py [--senders 100] [--each 10] [--pace 1] [--postgres URL]
        [--json F]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlmodel import col

from models.deal import CloseWonTrigger
from models.tables import DeliveryStatus, WebhookDelivery
from models.types import utc_now
from store import Store
from store.inbox import Inbox
from workers.demo import percentile
from workers.dev_stack import OPERATOR_KEY, DevStack, StackOptions, StackPorts
from workers.settings import Settings
from workers.signatures import signed_headers
from workers.temporal import connect
from workflows.deal import contract as deal

Send = Callable[[str], Awaitable[None]]


def _opportunity_id(run: str, sender: int, n: int) -> str:
    """Unknown to the CRM: each deal's run reads it, finds nothing, and ends quickly."""
    return f"006{run}{sender:03d}{n:04d}"


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


_DURATION_BUCKET = "http_server_request_duration_seconds_bucket{"
_ACK_LABELS = ('http_route="/webhooks/salesforce"', 'http_response_status_code="202"')
_LE = re.compile(r'le="([^"]+)"')


async def _handler_buckets(stack: DevStack, env: dict[str, str]) -> dict[float, float]:
    """The API's own histogram of its 202s' handling time (OpenTelemetry's FastAPI
    instrumentation, on ``/metrics``): upper bound in seconds -> cumulative count. It
    times the handler, not the wait before the process's event loop reaches it."""
    async with httpx.AsyncClient(base_url=stack.api_url) as http:
        answer = await http.get(
            "/metrics", headers={"Authorization": f"Bearer {env[OPERATOR_KEY]}"}
        )
        answer.raise_for_status()
    buckets: dict[float, float] = {}
    for line in answer.text.splitlines():
        if line.startswith(_DURATION_BUCKET) and all(label in line for label in _ACK_LABELS):
            found = _LE.search(line)
            if found is not None:
                bound = float(found.group(1))
                buckets[bound] = buckets.get(bound, 0.0) + float(line.rsplit(" ", 1)[1])
    return buckets


def _handler_quantiles(before: dict[float, float], after: dict[float, float]) -> dict[str, Any]:
    """A phase's handler times from the histogram's growth: each quantile as the bucket
    bound it falls under (ms), and the share handled within 50 ms."""
    grown = {bound: after[bound] - before.get(bound, 0.0) for bound in sorted(after)}
    total = grown.get(float("inf"), 0.0)
    if not total:
        return {}

    def under(q: float) -> float:
        return next(b for b, n in grown.items() if n >= q * total)

    return {
        **{
            f"{name}_le_ms": 1000 * under(q)
            for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))
        },
        "within_50_ms": round(grown.get(0.05, 0.0) / total, 3),
    }


def _latencies(latencies: list[float], elapsed: float) -> dict[str, float]:
    return {
        "requests": len(latencies),
        "per_second": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * percentile(latencies, 0.5), 1),
        "p95_ms": round(1000 * percentile(latencies, 0.95), 1),
        "p99_ms": round(1000 * percentile(latencies, 0.99), 1),
    }


async def _senders(
    senders: int, each: int, send: Send, pace: float = 0.0
) -> tuple[list[float], float]:
    """``senders`` at once, each sending ``each`` in turn; every latency, and the wall time.

    ``pace`` 0: each sends its next as soon as it has the answer (closed loop: the
    server's capacity, every latency is queueing behind the others). ``pace`` R: each
    sends about R a second (exponential gaps, seeded), waiting for each answer as a
    CRM's callout does, and sending at once when it fell behind: the latency a sender
    sees at that offered load."""
    run = uuid.uuid4().hex[:8]
    latencies: list[float] = []

    async def sender(index: int) -> None:
        gaps = random.Random(index)
        next_at = time.perf_counter() + (gaps.expovariate(pace) if pace else 0.0)
        for n in range(each):
            if pace:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += gaps.expovariate(pace)
            begun = time.perf_counter()
            await send(_opportunity_id(run, index, n))
            latencies.append(time.perf_counter() - begun)

    started = time.perf_counter()
    await asyncio.gather(*(sender(i) for i in range(senders)))
    return latencies, time.perf_counter() - started


async def _acks(
    stack: DevStack,
    env: dict[str, str],
    senders: int,
    each: int,
    *,
    temporal_down: bool = False,
    pace: float = 0.0,
) -> dict[str, Any]:
    secret = env["SYNCLINE_WEBHOOK_SECRET"]
    codes: dict[int, int] = {}
    store = Store.from_url(env["SYNCLINE_DATABASE_URL"])
    limits = httpx.Limits(max_connections=senders, max_keepalive_connections=senders)
    async with httpx.AsyncClient(base_url=stack.api_url, limits=limits, timeout=60) as http:

        async def send(opportunity_id: str) -> None:
            body = json.dumps(
                {"event": "opportunity.closed_won", "opportunityId": opportunity_id}
            ).encode()
            headers = {**signed_headers(secret, body), "Content-Type": "application/json"}
            answer = await http.post("/webhooks/salesforce", content=body, headers=headers)
            codes[answer.status_code] = codes.get(answer.status_code, 0) + 1

        first_sent = utc_now()
        if temporal_down:
            stack.kill("temporal")
        api_cpu, own_cpu = _cpu_seconds(stack.pid("api")), _cpu_seconds(os.getpid())
        handled = await _handler_buckets(stack, env)
        latencies, elapsed = await _senders(senders, each, send, pace)
        # The API's own CPU per answer, the relay's share of the phase included: what
        # the machine's load does not change much, where latencies move with it. The
        # senders' too: they are one Python process, and its loop is part of every
        # latency they measure.
        api_cpu = _cpu_seconds(stack.pid("api")) - api_cpu
        own_cpu = _cpu_seconds(os.getpid()) - own_cpu
        handler = _handler_quantiles(handled, await _handler_buckets(stack, env))
    timed_from = first_sent
    if temporal_down:
        timed_from = utc_now()  # from the restart: the inbox waited until then
        stack.respawn("temporal")
    try:
        signalled_after = await _until_signalled(store, first_sent, timed_from, len(latencies))
    finally:
        await store.close()
    return {
        **_latencies(latencies, elapsed),
        "api_cpu_ms_per_ack": round(1000 * api_cpu / max(len(latencies), 1), 2),
        "handler": handler,
        "senders_cpu_ms_per_ack": round(1000 * own_cpu / max(len(latencies), 1), 2),
        "senders_cpu_share_of_a_core": round(own_cpu / elapsed, 2),
        "non_202": sum(v for k, v in codes.items() if k != 202),
        "all_signalled_seconds": round(signalled_after, 2),
    }


async def _until_signalled(
    store: Store, since: datetime, timed_from: datetime, expected: int, timeout: float = 600
) -> float:
    """Seconds from ``timed_from`` until the inbox is empty and the ``expected``
    deliveries received since ``since`` are all accepted."""
    deadline = time.monotonic() + timeout
    accepted = sa.select(sa.func.count(), sa.func.max(col(WebhookDelivery.relayed_at))).where(
        col(WebhookDelivery.status) == DeliveryStatus.ACCEPTED,
        col(WebhookDelivery.received_at) >= since,
    )
    while time.monotonic() < deadline:
        pending, _ = await Inbox(store).depth()
        async with store.sessions()() as session:
            done, last = (await session.execute(accepted)).one()
        if not pending and done >= expected and last is not None:
            return float((last - timed_from).total_seconds())
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the relay did not signal {expected} deliveries in {timeout} s")


async def _baseline(
    stack: DevStack, env: dict[str, str], senders: int, each: int
) -> dict[str, Any]:
    """The old ingress's Temporal call, per request: signal-with-start of a new deal."""
    settings = Settings.from_env_values(env)
    client = await connect(settings)

    async def send(opportunity_id: str) -> None:
        await deal.signal_close_won(
            client,
            settings.task_queue,
            CloseWonTrigger(
                crm_opportunity_id=opportunity_id,
                delivery_id=uuid.uuid4().hex,
                correlation_id=uuid.uuid4().hex,
                received_at=utc_now(),
            ),
        )

    latencies, elapsed = await _senders(senders, each, send)
    return _latencies(latencies, elapsed)


@contextlib.asynccontextmanager
async def _stack(database_url: str | None) -> AsyncIterator[tuple[DevStack, dict[str, str]]]:
    with tempfile.TemporaryDirectory(prefix="syncline-acks-") as workdir:
        stack = DevStack(
            StackOptions(
                crm_stream="off",
                workdir=Path(workdir),
                ports=StackPorts.free(),
                ui=False,
                database_url=database_url,
                # Capacity is measured here, not the per-sender limit a deployment sets.
                webhook_rate_limit="1000000/second",
            )
        )
        try:
            env = await stack.start(timeout=120)
            yield stack, env
        finally:
            stack.stop()


async def _quiet(seconds: float) -> None:
    """Let the deals the previous phase started finish in the worker before measuring."""
    await asyncio.sleep(seconds)


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--senders", type=int, default=100)
    parser.add_argument("--each", type=int, default=10)
    parser.add_argument("--postgres", help="a PostgreSQL database URL for Syncline's store")
    parser.add_argument("--settle-seconds", type=float, default=20.0)
    parser.add_argument(
        "--pace",
        type=float,
        default=1.0,
        help="deliveries a second per sender in the paced phase (0: skip that phase)",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    async with _stack(args.postgres) as (stack, env):
        acks = await _acks(stack, env, args.senders, args.each)
        await _quiet(args.settle_seconds)
        paced: dict[str, Any] | None = None
        if args.pace:
            paced = await _acks(stack, env, args.senders, args.each, pace=args.pace)
            await _quiet(args.settle_seconds)
        down = await _acks(stack, env, args.senders, args.each, temporal_down=True)
        await _quiet(args.settle_seconds)
        baseline = await _baseline(stack, env, args.senders, args.each)
    ratio = {q: round(baseline[f"{q}_ms"] / acks[f"{q}_ms"], 1) for q in ("p50", "p95", "p99")}
    store = "postgresql" if args.postgres else "sqlite"
    print(
        f"acks ({store} store), {args.senders} senders x {args.each}: {acks['requests']} "
        f"answered, {acks['per_second']}/s, p50 {acks['p50_ms']} ms, p95 {acks['p95_ms']} ms, "
        f"p99 {acks['p99_ms']} ms, non-202 {acks['non_202']}, API CPU "
        f"{acks['api_cpu_ms_per_ack']} ms per ack; all signalled after "
        f"{acks['all_signalled_seconds']} s"
    )
    if paced is not None:
        print(
            f"acks paced, {args.senders} senders at {args.pace}/s each (offered "
            f"{args.senders * args.pace:g}/s): {paced['per_second']}/s, p50 {paced['p50_ms']} "
            f"ms, p95 {paced['p95_ms']} ms, p99 {paced['p99_ms']} ms, non-202 "
            f"{paced['non_202']}, API CPU {paced['api_cpu_ms_per_ack']} ms per ack; "
            f"all signalled after {paced['all_signalled_seconds']} s"
        )
    print(
        f"acks with Temporal down: {down['per_second']}/s, p50 {down['p50_ms']} ms, "
        f"p95 {down['p95_ms']} ms, p99 {down['p99_ms']} ms, non-202 {down['non_202']}, API CPU "
        f"{down['api_cpu_ms_per_ack']} ms per ack; all "
        f"signalled {down['all_signalled_seconds']} s after Temporal was started again"
    )
    print(
        f"baseline (signal-with-start per request, same Temporal): {baseline['per_second']}/s, "
        f"p50 {baseline['p50_ms']} ms, p95 {baseline['p95_ms']} ms, p99 {baseline['p99_ms']} ms"
    )
    print(f"baseline / ack latency: p50 {ratio['p50']}x, p95 {ratio['p95']}x, p99 {ratio['p99']}x")
    for name, phase in (("acks", acks), ("paced", paced), ("Temporal down", down)):
        handler = phase.get("handler") if phase is not None else None
        if phase is not None and handler:
            print(
                f"the API's handler time ({name}; histogram bucket bounds): p50 <= "
                f"{handler['p50_le_ms']:g} ms, p95 <= {handler['p95_le_ms']:g} ms, p99 <= "
                f"{handler['p99_le_ms']:g} ms; {100 * handler['within_50_ms']:.1f}% within 50 ms; "
                f"the senders' process: {phase['senders_cpu_ms_per_ack']} ms CPU per ack, "
                f"{100 * phase['senders_cpu_share_of_a_core']:.0f}% of a core"
            )
    if args.json:
        result = {
            "store": store,
            "senders": args.senders,
            "each": args.each,
            "acks": acks,
            "acks_paced": {"pace_per_sender": args.pace, **(paced or {})},
            "acks_temporal_down": down,
            "baseline_signal_with_start": baseline,
            "baseline_over_ack": ratio,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
