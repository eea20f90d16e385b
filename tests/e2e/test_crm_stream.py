"""The CRM change stream on the real stack: nothing lost while the ingress is down.

A stack of its own (NetSuite-shaped sandbox, SQLite), with the stream reading the
sandbox CRM's Pub/Sub API, and three outages:

* the API and the worker down while deals close won: the CRM's Flow callouts give up
  (every retry refused), which is what ten minutes of downtime does to a webhook; it is
  simulated by staying down until the sandbox has marked every callout failed, not by
  waiting ten minutes. After the restart every deal gets its order from the stream,
  none from reconciliation (none runs), and none twice;
* the worker killed while the stream is routing a batch: the retried run resumes from
  its last heartbeat, so nothing is lost, and what it routes again is absorbed;
* the stream away past the CRM's retention (the sandbox's bus clock moved 73 hours):
  one exception per channel, a reconciliation of the gap, and the stream reads on.

``SYNCLINE_STREAM_DEALS`` sets the first outage's deal count (200 by default).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError

from connectors.errors import TransientError
from tests.e2e.conftest import Stack, _running_stack
from workers.dev_stack import StackOptions, StackPorts
from workers.doctor.checks import CHECKS
from workers.doctor.runner import run_doctor
from workers.settings import Settings
from workflows.deal import contract as deal
from workflows.stream import contract as stream

pytestmark = [pytest.mark.e2e]
log = logging.getLogger(__name__)

DEALS = int(os.environ.get("SYNCLINE_STREAM_DEALS", "200"))
OPPORTUNITIES = "/data/OpportunityChangeEvent"
T = TypeVar("T")


@pytest.fixture(scope="module")
async def stream_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    options = StackOptions(
        workdir=tmp_path_factory.mktemp("crm-stream"),
        ports=StackPorts.free(),
        ui=False,
        erp_poll_seconds=1.0,
        crm_stream="pubsub",
        # Short runs and keep-alives, so positions are recorded within seconds.
        crm_stream_window_seconds=2.0,
        pubsub_keepalive_seconds=1.0,
        crm_stream_batch_size=10,
        # One attempt per callout, as Salesforce makes (the sandbox's default retries a
        # Flow's fault path for seconds): an outage loses a callout at once.
        crm_callout_retry_delays=(),
        # No Account relay: the stream is the only path this stack's CRM has besides
        # the Flow callouts (the mirror's two-path case has a test of its own).
        crm_change_events=(),
    )
    async for running in _running_stack(options):
        yield running


async def _reconciliations_but_the_nightly(stack: Stack) -> list[dict[str, Any]]:
    """The runs something asked for. The nightly schedule's own run is left out: it
    fires by the wall clock (a run of the suite crossed 02:00 UTC in these tests once)."""
    answer: list[dict[str, Any]] = (await stack.api.get("/api/reconciliations")).json()
    return [run for run in answer if run["trigger"] != "schedule"]


async def _until(
    read: Callable[[], Awaitable[T]], ok: Callable[[T], bool], timeout: float, what: str
) -> T:
    deadline = time.monotonic() + timeout
    value: T | None = None
    while time.monotonic() < deadline:
        try:
            value = await read()
        except (httpx.TransportError, RPCError, TransientError):
            value = None  # down, restarting, or busy (the ERP's concurrency limit)
        else:
            if ok(value):
                return value
        await asyncio.sleep(0.5)
    raise AssertionError(f"{what}: never true; last {value}")


async def _streams(stack: Stack) -> dict[str, dict[str, Any]]:
    response = await stack.api.get("/api/crm-stream")
    response.raise_for_status()
    return {s["channel"]: s for s in response.json()}


async def _positioned(stack: Stack) -> None:
    """Both channels have a position of their own (before an outage)."""
    await _until(
        lambda: _streams(stack),
        lambda s: len(s) == 2 and all(x["replay_id"] for x in s.values()),
        30,
        "the streams have positions",
    )


async def _healthy(stack: Stack) -> None:
    async def health() -> int:
        return (await stack.api.get("/healthz")).status_code

    await _until(health, lambda code: code == 200, 60, "the API answers")


async def _open_deals(stack: Stack, count: int, name: str) -> list[str]:
    gate = asyncio.Semaphore(8)

    async def one(n: int) -> str:
        async with gate:
            return await stack.open_deal(name=f"{name} {n}")

    return list(await asyncio.gather(*(one(n) for n in range(count))))


async def _close_won(stack: Stack, ids: Sequence[str]) -> None:
    gate = asyncio.Semaphore(8)

    async def one(opportunity_id: str) -> None:
        async with gate:
            await stack.close_won(opportunity_id)

    await asyncio.gather(*(one(i) for i in ids))


async def _callouts_given_up(stack: Stack, ids: Sequence[str]) -> None:
    """Every closed-won callout of these deals failed: the webhook path lost them."""
    wanted = set(ids)

    async def failed() -> set[str]:
        async with httpx.AsyncClient(base_url=stack.dev.crm_url) as http:
            answer = await http.get(
                "/admin/webhook-deliveries",
                params={"event": "opportunity.closed_won", "status": "failed"},
            )
        return {d["record_id"] for d in answer.json()["deliveries"]} & wanted

    await _until(failed, lambda found: found == wanted, 60, "every callout given up")


async def _one_order_each(stack: Stack, ids: Sequence[str], timeout: float) -> None:
    async def orders() -> dict[str, list[Any]]:
        return await stack.erp.orders_by_deal(ids)

    found = await _until(
        orders, lambda by_deal: len(by_deal) == len(ids), timeout, "an order for every deal"
    )
    assert {i: len(o) for i, o in found.items() if len(o) != 1} == {}


async def test_deals_won_while_the_api_and_worker_are_down_get_their_orders(
    stream_stack: Stack,
) -> None:
    stack = stream_stack
    await _positioned(stack)
    ids = await _open_deals(stack, DEALS, "Downtime")
    stack.dev.kill("api")
    stack.dev.kill("worker")
    started = time.monotonic()
    await _close_won(stack, ids)
    await _callouts_given_up(stack, ids)
    down_for = time.monotonic() - started

    stack.dev.respawn("worker")
    stack.dev.respawn("api")
    await _healthy(stack)
    back = time.monotonic()
    await _one_order_each(stack, ids, timeout=120)
    caught_up = time.monotonic() - back

    # The stream's counters grow when a run of its reading activity ends (within its
    # window and one keep-alive), which can be after the last order is placed.
    await _until(
        lambda: _streams(stack),
        lambda s: s[OPPORTUNITIES]["closed_won"] >= DEALS,
        30,
        "the stream counted every closed-won",
    )
    # None through reconciliation: no run was started, none reported.
    assert await _reconciliations_but_the_nightly(stack) == []
    sample = await stack.deal(ids[0])
    assert sample["status"] == "order_accepted"
    assert [e["event_type"] for e in sample["events"]].count("order.accepted") == 1
    log.info("%s deals: down %.0f s, every order %.1f s after restart", DEALS, down_for, caught_up)


async def test_a_stream_killed_mid_batch_loses_and_repeats_no_order(stream_stack: Stack) -> None:
    stack = stream_stack
    client = await Client.connect(
        stack.dev.temporal_address, data_converter=pydantic_data_converter
    )
    ids = await _open_deals(stack, 30, "Mid-batch")
    stack.dev.kill("api")  # the stream alone: no callout gets through
    stack.dev.kill("worker")
    await _close_won(stack, ids)
    stack.dev.respawn("worker")

    async def first_deal_started() -> bool:
        await deal.deal_handle(client, ids[0]).describe()
        return True

    # The first deal of the batch exists: the run is routing it. Kill it there.
    await _until(first_deal_started, bool, 60, "the stream routes the batch")
    stack.dev.restart("worker")
    await _one_order_each(stack, ids, timeout=90)
    stack.dev.respawn("api")
    await _healthy(stack)
    deals = [await stack.deal(i) for i in ids]
    assert {d["status"] for d in deals} == {"order_accepted"}
    repeated = sum(d["duplicate_deliveries"] for d in deals)
    log.info("killed mid-batch: %s closed-won routed again and absorbed", repeated)


async def test_the_doctor_checks_the_stream_can_subscribe(stream_stack: Stack) -> None:
    (check,) = [c for c in CHECKS if c.name == "crm.change_stream"]
    settings = Settings.from_env_values(stack_env := stream_stack.env)
    (ok,) = await run_doctor(settings, timeout=10, checks=[check])
    assert ok.status == "pass" and "may subscribe" in ok.detail
    elsewhere = {**stack_env, "SYNCLINE_CRM_STREAM_CHANNELS": "/data/ContactChangeEvent"}
    (refused,) = await run_doctor(Settings.from_env_values(elsewhere), timeout=10, checks=[check])
    assert refused.status == "warn" and "ContactChangeEvent" in refused.detail


async def test_a_position_past_retention_opens_one_exception_and_reconciles_the_gap(
    stream_stack: Stack,
) -> None:
    stack = stream_stack
    await _positioned(stack)
    stack.dev.kill("worker")
    missed = await stack.open_deal(name="Missed")  # both channels change meanwhile
    async with httpx.AsyncClient(base_url=stack.dev.crm_url) as http:
        # Seventy-three hours on the CRM's event bus: what came after the streams'
        # positions is purged.
        moved = await http.post("/admin/event-bus/clock", json={"advanceSeconds": 73 * 3600})
        assert moved.json()["stored"] == 0
    stack.dev.respawn("worker")

    async def gap_exceptions() -> list[dict[str, Any]]:
        answer = await stack.api.get(
            "/api/exceptions", params={"process": "crm_stream", "status": "open"}
        )
        return [e for e in answer.json() if e["reason"] == "crm_events_lost"]

    exceptions = await _until(gap_exceptions, lambda e: len(e) == 2, 60, "one per channel")
    streams = await _streams(stack)
    assert {s["gaps"] for s in streams.values()} == {1}
    assert {e["workflow_id"] for e in exceptions} == {
        stream.stream_workflow_id("salesforce", channel) for channel in streams
    }

    async def runs() -> list[dict[str, Any]]:
        return await _reconciliations_but_the_nightly(stack)

    started = await _until(runs, lambda r: len(r) == 2, 60, "a reconciliation per gap")
    assert {r["trigger"] for r in started} == {"stream_gap"}

    # The stream reads on from the oldest event kept.
    await stack.close_won(missed)
    await _one_order_each(stack, [missed], timeout=60)
    for exception in exceptions:
        retried = await stack.api.post(f"/api/exceptions/{exception['id']}/retry")
        assert retried.status_code == 202
    await _until(gap_exceptions, lambda e: e == [], 60, "the gap's exceptions closed")
