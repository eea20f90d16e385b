"""webhook_acks: how fast the API answers signed webhooks, now that it answers from the inbox.

Starts the real local stack (Temporal dev server on SQLite/WAL, API with its inbox relay,
worker, both sandboxes: ``DevStack``, as ``syncline dev`` runs it) in a temporary folder,
optionally on a PostgreSQL store, and measures:

* **acks**: S concurrent senders (each its own HTTP client and connection, as a CRM's
  callouts are), each sending N signed closed-won callouts for new
  opportunities one after another (a sender waits for each answer): the 202's latency
  p50/p95/p99 and acks/s; then how long until the relay has signalled every one
  (the inbox empty, every delivery ``accepted``), from the first send;
* **acks, paced**: the same senders, each sending about ``--pace`` a second (waiting for
  each answer, as a CRM's callout does): the latency a sender sees at that offered load,
  where the closed loop above measures capacity (its latency is queueing: Little's law);
* **acks, paced, the workers stopped**: the paced phase again with the stack's workers
  stopped (the deals wait in Temporal's task queue, and are placed once the workers are
  started again): the ingress, its relay and Temporal on the machine, the deals'
  processing elsewhere, as in a deployment where the workers run on their own machines;
* **acks, Temporal down**, closed loop and then paced: the Temporal dev server stopped,
  so neither the relay's signals nor the deals they start compete with the ingress for
  the machine: the inbox's own cost. Then Temporal is started again and the time until
  every delivery is signalled is measured from the restart;
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
import re
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from cpu import CpuClock  # benchmarks/ is sys.path[0]
from sqlmodel import col
from webhook_senders import (  # benchmarks/ is sys.path[0]
    Sent,
    send_concurrently,
    webhook_sender,
)

from models.deal import CloseWonTrigger
from models.tables import DeliveryStatus, WebhookDelivery
from models.types import utc_now
from store import Store
from store.inbox import Inbox
from workers.demo import percentile
from workers.dev_stack import OPERATOR_KEY, DevStack, StackOptions, StackPorts
from workers.settings import Settings
from workers.temporal import connect
from workflows.deal import contract as deal

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


def _latencies(sent: Sent) -> dict[str, float]:
    latencies = sent.latencies
    return {
        "requests": len(latencies),
        "per_second": round(sent.per_second, 1),
        "p50_ms": round(1000 * percentile(latencies, 0.5), 1),
        "p95_ms": round(1000 * percentile(latencies, 0.95), 1),
        "p99_ms": round(1000 * percentile(latencies, 0.99), 1),
    }


async def _acks(
    stack: DevStack,
    env: dict[str, str],
    senders: int,
    each: int,
    *,
    stopped: Sequence[str] = (),
    pace: float = 0.0,
) -> dict[str, Any]:
    secret = env["SYNCLINE_WEBHOOK_SECRET"]
    codes: dict[int, int] = {}
    store = Store.from_url(env["SYNCLINE_DATABASE_URL"])
    first_sent = utc_now()
    for name in stopped:
        stack.kill(name)
    api_clock = CpuClock(stack.pid("api"))
    api_cpu = api_clock.seconds()
    handled = await _handler_buckets(stack, env)
    sent = await send_concurrently(
        senders, each, webhook_sender(stack.api_url, secret, codes), pace
    )
    # The API's own CPU per answer, the relay's share of the phase included: what
    # the machine's load does not change much, where latencies move with it.
    api_cpu = api_clock.seconds() - api_cpu
    handler = _handler_quantiles(handled, await _handler_buckets(stack, env))
    timed_from = first_sent
    if "temporal" in stopped:
        timed_from = utc_now()  # from the restart: the inbox waited until then
    for name in stopped:
        stack.respawn(name)
    try:
        signalled_after = await _until_signalled(store, first_sent, timed_from, len(sent.latencies))
    finally:
        await store.close()
    return {
        **_latencies(sent),
        "api_cpu_ms_per_ack": round(1000 * api_cpu / max(len(sent.latencies), 1), 2),
        "handler": handler,
        "senders_cpu_ms_per_ack": round(1000 * sent.cpu_seconds / max(len(sent.latencies), 1), 2),
        "senders_cpu_share_of_a_core": round(sent.cpu_seconds / sent.seconds, 2),
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

    return _latencies(await send_concurrently(senders, each, lambda: contextlib.nullcontext(send)))


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
    store = "postgresql" if args.postgres else "sqlite"
    phases: dict[str, dict[str, Any]] = {}
    async with _stack(args.postgres) as (stack, env):
        for phase in _phases(args.pace, stack.worker_names):
            phases[phase.key] = await _acks(
                stack, env, args.senders, args.each, pace=phase.pace, stopped=phase.stopped
            )
            _print_phase(phase, phases[phase.key], args.senders, store)
            await _quiet(args.settle_seconds)
        baseline = await _baseline(stack, env, args.senders, args.each)
    acks = phases["acks"]
    ratio = {q: round(baseline[f"{q}_ms"] / acks[f"{q}_ms"], 1) for q in ("p50", "p95", "p99")}
    print(
        f"baseline (signal-with-start per request, same Temporal): {baseline['per_second']}/s, "
        f"p50 {baseline['p50_ms']} ms, p95 {baseline['p95_ms']} ms, p99 {baseline['p99_ms']} ms"
    )
    print(f"baseline / ack latency: p50 {ratio['p50']}x, p95 {ratio['p95']}x, p99 {ratio['p99']}x")
    if args.json:
        result = {
            "store": store,
            "senders": args.senders,
            "each": args.each,
            "pace_per_sender": args.pace,
            **phases,
            "baseline_signal_with_start": baseline,
            "baseline_over_ack": ratio,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n")


@dataclass(frozen=True)
class Phase:
    key: str
    label: str
    pace: float = 0.0
    stopped: Sequence[str] = ()


def _phases(pace: float, workers: Sequence[str]) -> list[Phase]:
    closed = [
        Phase("acks", "acks (closed loop)"),
        Phase("acks_temporal_down", "acks with Temporal down (closed loop)", stopped=("temporal",)),
    ]
    if not pace:
        return closed
    return [
        closed[0],
        Phase("acks_paced", "acks paced", pace),
        Phase(
            "acks_paced_workers_stopped",
            "acks paced, the workers stopped (deals wait in Temporal, as where the workers "
            "run on other machines)",
            pace,
            tuple(workers),
        ),
        closed[1],
        Phase("acks_paced_temporal_down", "acks paced, Temporal down", pace, ("temporal",)),
    ]


def _print_phase(phase: Phase, result: dict[str, Any], senders: int, store: str) -> None:
    offered = f", offered {senders * phase.pace:g}/s" if phase.pace else ""
    after = "Temporal was started again" if "temporal" in phase.stopped else "the first send"
    print(
        f"{phase.label} ({store} store, {senders} senders{offered}): {result['requests']} "
        f"answered, {result['per_second']}/s, p50 {result['p50_ms']} ms, p95 "
        f"{result['p95_ms']} ms, p99 {result['p99_ms']} ms, non-202 {result['non_202']}, "
        f"API CPU {result['api_cpu_ms_per_ack']} ms per ack; all signalled "
        f"{result['all_signalled_seconds']} s after {after}"
    )
    handler = result.get("handler")
    if handler:
        print(
            f"  the API's handler time (histogram bucket bounds): p50 <= "
            f"{handler['p50_le_ms']:g} ms, p95 <= {handler['p95_le_ms']:g} ms, p99 <= "
            f"{handler['p99_le_ms']:g} ms; {100 * handler['within_50_ms']:.1f}% within 50 ms; "
            f"the senders' process: {result['senders_cpu_ms_per_ack']} ms CPU per ack, "
            f"{100 * result['senders_cpu_share_of_a_core']:.0f}% of a core"
        )


if __name__ == "__main__":
    asyncio.run(main())
