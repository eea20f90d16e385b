"""The storm: deals closed won while duplicate and reordered webhooks arrive, the ERP
fails, throttles and drops responses after committing, CRM write-backs fail, and the
worker, the API and the Temporal server are killed and restarted. After it settles:
one ERP order per won deal, one booking per order, every delivery accounted for, and
reconciliation finds nothing unexplained. Seeded, so a failure can be replayed.

``SYNCLINE_CHAOS_DEALS`` (default 1,000) and ``SYNCLINE_CHAOS_SEED`` choose the storm.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from connectors.errors import TransientError
from tests.e2e.conftest import Stack

pytestmark = pytest.mark.chaos

DEALS = int(os.environ.get("SYNCLINE_CHAOS_DEALS", "1000"))
SEED = int(os.environ.get("SYNCLINE_CHAOS_SEED", "20261123"))
OPPORTUNITY_PATH = "/services/data/v59.0/sobjects/Opportunity"


async def _admin(base_url: str, body: Any) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        (await http.post("/admin/faults", json=body)).raise_for_status()


async def _rules(base_url: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
        rules: list[dict[str, Any]] = (await http.get("/admin/faults")).json()
        return rules


class Sender:
    """Extra deliveries, as a CRM that retries: until the API answers, however often
    it is down."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.sent = 0
        self.refused_by_a_restart = 0
        self.throttled = 0
        self.replays = 0

    async def deliver(self, opportunity_id: str) -> None:
        body = self.stack.callout(opportunity_id)
        while True:
            try:
                # Signed at each attempt, as a sender's redelivery is.
                answer = await self.stack.post_webhook(body)
            except httpx.TransportError:
                self.refused_by_a_restart += 1
                await asyncio.sleep(0.5)
                continue
            if answer.status_code == 503:  # stored, Temporal unavailable: send again
                await asyncio.sleep(0.5)
                continue
            if answer.status_code == 429:  # over the per-sender rate: as told, later
                self.throttled += 1
                await asyncio.sleep(float(answer.headers["Retry-After"]))
                continue
            self.sent += 1
            if answer.status_code == 409:  # signed in the same second as one processed
                assert "replayed signature" in answer.text, answer.text
                self.replays += 1
                return
            assert answer.status_code == 202, answer.text
            return


async def _healthy_again(stack: Stack, since: float) -> float:
    """Seconds from a restart until the API answers healthy (it asks Temporal, so this
    times a Temporal restart too)."""
    while True:
        try:
            if (await stack.api.get("/healthz")).status_code == 200:
                return round(time.monotonic() - since, 1)
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.2)


async def _polling_again(stack: Stack, since: float) -> float:
    """Seconds from a worker's SIGKILL until a worker polls again: a poller seen after
    the kill (the task queue still lists the dead one for a while)."""
    killed_at = datetime.now(UTC)
    client = await Client.connect(stack.dev.temporal_address)
    while True:
        try:
            answer = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace="default",
                    task_queue=TaskQueue(name="syncline"),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
            if any(p.last_access_time.ToDatetime(UTC) > killed_at for p in answer.pollers):
                return round(time.monotonic() - since, 1)
        except RPCError:
            pass
        await asyncio.sleep(0.2)


def _fired(initial: list[dict[str, Any]], left: list[dict[str, Any]]) -> dict[str, int]:
    fired: Counter[str] = Counter()
    for rule, remaining in zip(initial, left, strict=True):
        name = f"{rule['mode']} {rule.get('status', '')}".strip()
        if rule.get("path_prefix"):
            name += f" on {rule['path_prefix'].rstrip('/').rsplit('/', 1)[-1]} writes"
        fired[name] += (rule["times"] or 0) - (remaining["times"] or 0)
    return dict(fired)


async def _orders_placed(stack: Stack, ids: list[str], quiet: float) -> dict[str, int]:
    """Orders per deal once every deal has one, or once nothing new came for ``quiet``
    seconds: what the webhooks lost is reconciliation's to find, not the wait's."""
    counts: dict[str, int] = {}
    last_change = time.monotonic()
    while time.monotonic() - last_change < quiet:
        try:
            rows = await stack.erp.erp.suiteql(  # type: ignore[attr-defined]
                "SELECT externalid FROM transaction "
                "WHERE type = 'SalesOrd' AND externalid IS NOT NULL"
            )
        except TransientError:  # the storm's faults answer anyone
            await asyncio.sleep(0.5)
            continue
        wanted = set(ids)
        now = dict(Counter(str(r["externalid"]) for r in rows if str(r["externalid"]) in wanted))
        if now != counts:
            counts, last_change = now, time.monotonic()
        if len(counts) == len(ids):
            return counts
        await asyncio.sleep(1.0)
    return counts


async def _booked_against_erp(stack: Stack, ids: list[str]) -> tuple[Decimal, dict[str, Decimal]]:
    """The ERP's order total over the storm's deals, and the bookings report's total per
    currency over the same days: computed from the ledger alone, they must agree."""
    rows = await stack.erp.erp.suiteql(  # type: ignore[attr-defined]
        "SELECT externalid, foreigntotal FROM transaction "
        "WHERE type = 'SalesOrd' AND externalid IS NOT NULL"
    )
    wanted = set(ids)
    erp_total = sum(
        (Decimal(str(r["foreigntotal"])) for r in rows if str(r["externalid"]) in wanted),
        Decimal(0),
    )
    today = datetime.now(UTC).date()
    window = {"from": str(today - timedelta(days=1)), "to": str(today + timedelta(days=1))}
    answer = await stack.api.get("/api/reports/bookings", params=window)
    answer.raise_for_status()
    return erp_total, {row["currency"]: Decimal(row["amount"]) for row in answer.json()["rows"]}


async def _deals_with_an_accepted_delivery(stack: Stack) -> set[str]:
    engine = create_async_engine(stack.env["SYNCLINE_DATABASE_URL"])
    async with engine.connect() as connection:
        rows = await connection.execute(
            sa.text("SELECT DISTINCT subject_id FROM webhook_deliveries WHERE status = 'ACCEPTED'")
        )
        found = {str(subject) for (subject,) in rows.all()}
    await engine.dispose()
    return found


async def test_the_storm(storm_stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    stack = storm_stack
    rng = random.Random(SEED)
    ids = [await stack.open_deal(name=f"Storm {n}") for n in range(DEALS)]
    erp_rules = [
        stack.erp.order_write_fault({"mode": "error", "status": 500, "times": max(2, DEALS // 20)}),
        stack.erp.order_write_fault({"mode": "rate_limit", "retry_after": 1, "times": 2}),
        {"mode": "error", "status": 500, "times": max(3, DEALS // 10)},
        {"mode": "rate_limit", "retry_after": 1, "times": max(3, DEALS // 10)},
        stack.erp.order_write_fault({"mode": "commit_then_drop", "times": max(2, DEALS // 20)}),
        # Past the client's 30 s read timeout: it retries while the first request is
        # still on its way to a commit; the ERP's unique external id keeps one order.
        stack.erp.order_write_fault({"mode": "latency", "latency_ms": 31_000, "times": 3}),
        {"mode": "latency", "latency_ms": 100, "times": DEALS},
    ]
    crm_rules = [
        {
            "mode": "error",
            "status": 503,
            "method": "PATCH",
            "path_prefix": OPPORTUNITY_PATH,
            "times": max(3, DEALS // 10),
        },
    ]
    await _admin(stack.dev.erp_url, erp_rules)
    await _admin(stack.dev.crm_url, crm_rules)

    sender = Sender(stack)
    # Up to two extra deliveries for a third of the deals, sent in shuffled order.
    extras = [i for i in ids if rng.random() < 1 / 3 for _ in range(rng.randint(1, 2))]
    rng.shuffle(extras)
    recovery: dict[str, asyncio.Task[float]] = {}
    third = max(1, DEALS // 3)

    async def close_one(opportunity_id: str) -> None:
        # The CRM's faults hit its users too (one path for every PATCH): they retry.
        while True:
            try:
                await stack.close_won(opportunity_id)
                return
            except TransientError:
                await asyncio.sleep(0.2)

    async def close(batch: list[str]) -> None:
        await asyncio.gather(*(close_one(i) for i in batch))

    started = time.monotonic()
    await close(ids[:third])
    extra_sends = asyncio.gather(*(sender.deliver(i) for i in extras))

    def restart(process: str) -> None:
        stack.dev.restart(process)
        wait = _polling_again if process == "worker" else _healthy_again
        recovery[process] = asyncio.create_task(wait(stack, time.monotonic()))

    restart("worker")  # SIGKILL with deals in flight
    await close(ids[third : 2 * third])
    restart("api")
    await recovery["api"]
    restart("temporal")  # on its persisted database
    await close(ids[2 * third :])
    await extra_sends

    placed = await _orders_placed(stack, ids, quiet=60)
    settled = time.monotonic() - started
    fired = _fired(erp_rules, await _rules(stack.dev.erp_url))
    fired |= {f"CRM {k}": v for k, v in _fired(crm_rules, await _rules(stack.dev.crm_url)).items()}
    await _admin(stack.dev.erp_url, [])
    await _admin(stack.dev.crm_url, [])
    # Before reconciliation: a deal with no accepted delivery is one the webhooks lost.
    lost = set(ids) - await _deals_with_an_accepted_delivery(stack)

    # Reconciliation: anything a webhook lost, it replays; then nothing is unexplained.
    asked = await stack.api.post("/api/reconciliations", json={"domains": ["orders"]})
    run_id = asked.json()["id"]
    for _ in range(240):
        report = (await stack.api.get(f"/api/reconciliations/{run_id}")).json()
        if report["status"] != "running":
            break
        await asyncio.sleep(0.5)
    placed = await _orders_placed(stack, ids, quiet=30)
    erp_total, reported = await _booked_against_erp(stack, ids)

    engine = create_async_engine(stack.env["SYNCLINE_DATABASE_URL"])
    async with engine.connect() as connection:
        statuses: dict[str, int] = dict(
            (
                await connection.execute(
                    sa.text("SELECT status, count(*) FROM webhook_deliveries GROUP BY status")
                )
            ).all()
        )
        booked = (
            await connection.execute(
                sa.text(
                    "SELECT subject_id, count(*) FROM ledger_events "
                    "WHERE event_type = 'order.accepted' GROUP BY subject_id"
                )
            )
        ).all()
    await engine.dispose()
    bookings = {subject: n for subject, n in booked if subject in set(ids)}

    figures = {
        "deals": DEALS,
        "seed": SEED,
        "extra deliveries sent": sender.sent,
        "extra deliveries refused as replays (409)": sender.replays,
        "sends throttled (429, sent again)": sender.throttled,
        "sends refused while the API restarted": sender.refused_by_a_restart,
        "deliveries stored by status": statuses,
        "deals whose every delivery was lost (reconciliation's to replay)": len(lost),
        "ERP orders": sum(placed.values()),
        "duplicate ERP orders": sum(n - 1 for n in placed.values() if n > 1),
        "deals with a booking": len(bookings),
        "ERP order total / bookings report": [
            str(erp_total),
            {k: str(v) for k, v in reported.items()},
        ],
        "reconciliation": {d["domain"]: d["by_class"] for d in report["domains"]},
        "unexplained": report["unexplained"],
        "faults fired": fired,
        "seconds from a restart to working again": {k: await t for k, t in recovery.items()},
        "settled in seconds": round(settled, 1),
    }
    with capsys.disabled():  # the figures belong in the CI log, pass or fail
        sys.stderr.write(f"\nstorm: {json.dumps(figures, indent=1)}\n")
    assert placed == {i: 1 for i in ids}
    assert bookings == {i: 1 for i in ids}
    assert reported == {"USD": erp_total}  # the bookings report, to the cent
    assert report["status"] == "completed" and report["unexplained"] == 0
    # The only refusals are replays, each answered 409 with its reason.
    assert statuses.get("REJECTED", 0) == sender.replays
