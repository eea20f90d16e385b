"""close_won: deals through webhook → CloseWonToOrder → order accepted, on the local stack.

For each setting it starts the real stack (Temporal dev server on SQLite/WAL, API,
worker, both sandboxes) in a temporary folder and measures:

* Syncline: N deals closed won in the sandbox CRM (the CRM calls the webhook), until
  every order number is on its opportunity: deals/s and latency percentiles;
* baseline, in the same run on the same stack: a plain asyncio script doing the same
  CRM and ERP calls per deal directly (same connectors, same ERP concurrency limit),
  with no durability, no ledger, no exactly-once. The worker's change feed keeps
  polling the ERP meanwhile, as it does during Syncline's run, so both sides share the
  ERP's concurrency pool with it; the script, like any careful NetSuite client, backs
  off and retries a limit-exceeded answer (the deal's calls are idempotent by external
  id) instead of dying on it, and says how often it had to;
* the ERP's own ceiling where its latency dominates, and limit-exceeded answers seen;
* webhook acknowledgement latency with 100 concurrent senders;
* ERP calls per deal, counted by the sandbox per correlation id (so the change feed's
  polls are not in it), for deals of new customers and, separately, of customers
  already known;
* history events, workflow tasks and billable actions per deal, from a sample of the
  run's histories (definition in ``temporal_cost``), and the same for a bare workflow
  of the deal's former command shape run on the same dev server in the same run
  (``temporal_cost.BareDeal``): its rate is the ceiling the engine itself sets;
* for the one-at-a-time deals, where their time goes, from their histories.

    python benchmarks/close_won.py [--deals 500] [--json results.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from cpu import Clocks
from temporal_cost import BareRun, HistoryCost, mean_cost, run_bare  # benchmarks/ is sys.path[0]
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)
from webhook_senders import send_concurrently, webhook_sender

import workflows.mirror.contract as mirror_contract
import workflows.renewal.contract as renewal_contract
from connectors.errors import TransientError
from connectors.governor import LocalGovernor
from connectors.netsuite import NetSuiteClient
from connectors.protocols import ErpClient
from connectors.salesforce import SalesforceClient
from models.crm import OpportunityOrderUpdate
from models.erp import CustomerUpsert, SalesOrderDraft, SalesOrderLine
from models.types import utc_now
from workers.demo import (
    DemoDeal,
    bounded,
    close_won,
    create_open_deal,
    open_deals,
    percentile,
    poll_orders,
    seed_crm_catalog,
)
from workers.dev_stack import DevStack, StackOptions, StackPorts
from workers.settings import Settings
from workers.wiring import build_netsuite
from workflows.deal.contract import deal_handle


@dataclass
class Run:
    deals: int
    seconds: float
    deals_per_second: float
    p50: float
    p95: float
    p99: float


@dataclass
class FollowOn:
    runs_per_deal: float
    cost: HistoryCost
    """Mean of a sample of the runs' histories so far (a renewal waits for its date)."""


@dataclass
class SettingResult:
    name: str
    erp_latency_ms: int
    erp_limit: int
    syncline: Run
    baseline: Run
    ratio: float
    erp_calls_per_deal: float
    erp_ceiling_deals_per_second: float
    fraction_of_ceiling: float
    limit_exceeded: int
    baseline_limit_exceeded: int
    baseline_retries: int
    duplicate_orders: int
    erp_calls_new_customer: float
    erp_calls_known_customer: float
    deal_cost: HistoryCost
    one_at_a_time: Run | None = None
    one_at_a_time_phases: dict[str, float] | None = None
    bare: BareRun | None = None
    ratio_to_bare: float | None = None
    erp_slots_busy: float = 0.0
    """During Syncline's run, the share of the ERP's slot time in use (slot seconds the
    sandbox counted, over the limit times the run's wall time): how full Syncline kept the pool."""
    erp_mean_call_ms: float = 0.0
    """Mean time an ERP request held its slot: the latency set plus the sandbox's own
    work, which on a busy machine is what bounds the rate, not the latency set."""
    erp_slots_busy_intake: float = 0.0
    """The busy share while the burst was still coming in: from the first close to the
    moment the last deal's ERP activity was scheduled (``intake_seconds`` later)."""
    erp_slots_busy_after_intake: float = 0.0
    """The busy share from then to the last order: once every deal waits for the ERP."""
    intake_seconds: float = 0.0
    cpu_ms_per_deal: dict[str, float] | None = None
    """During Syncline's run, CPU milliseconds per deal by process of the stack (``this``:
    the benchmark's own process, which closes the deals in the CRM)."""
    follow_on_cpu_ms_per_deal: dict[str, float] | None = None
    """CPU milliseconds per deal by process from the last order to a quiet stack: the
    renewal and ERP mirror runs the change feed starts for the deals' orders, customers
    and items (the benchmark's own process is idle then)."""
    follow_on_runs: dict[str, FollowOn] | None = None
    """By workflow type, the runs the deals' orders set going and what a sample cost."""
    settled_seconds: dict[str, float] | None = None
    """Before each phase, the seconds waited for the stack to go quiet (under 60 % of a
    core in three 2 s windows in a row; ``Clocks.settled``): the previous phase's
    follow-on work left to finish."""


def _per_deal(before: dict[str, float], after: dict[str, float], deals: int) -> dict[str, float]:
    """CPU milliseconds per deal by process between two readings."""
    return {name: round(1000 * (after[name] - before[name]) / max(deals, 1), 1) for name in before}


def _run(deals: int, seconds: float, latencies: Sequence[float]) -> Run:
    return Run(
        deals=deals,
        seconds=round(seconds, 2),
        deals_per_second=round(deals / seconds, 2),
        p50=round(percentile(latencies, 0.50), 3),
        p95=round(percentile(latencies, 0.95), 3),
        p99=round(percentile(latencies, 0.99), 3),
    )


async def _unloaded_latency(crm: SalesforceClient, deals: list[DemoDeal]) -> Run:
    """One deal at a time: what a single closed-won costs end to end, without queueing."""
    started = time.time()
    for deal in deals:
        await close_won(crm, deal)
        while deal.order_number is None:
            await asyncio.sleep(0.02)
            await poll_orders(crm, [deal])
    latencies = [d.accepted_at - d.closed_at for d in deals if d.accepted_at is not None]
    return _run(len(deals), time.time() - started, latencies)


async def _erp_stats(erp_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=erp_url) as http:
        stats: dict[str, Any] = (await http.get("/admin/stats")).json()
        return stats


async def _erp_calls_by_correlation(erp_url: str) -> dict[str, int]:
    async with httpx.AsyncClient(base_url=erp_url) as http:
        counts: dict[str, int] = (await http.get("/admin/requests-by-correlation")).json()
        return counts


def _calls_per_deal(before: dict[str, int], after: dict[str, int]) -> float:
    """Mean ERP calls of the deals between two snapshots. A deal's correlation id is the
    webhook's (a uuid); the long-running processes (the feed, mirrors) correlate by
    their workflow id, which has a colon: those are left out."""
    grown = [n - before.get(key, 0) for key, n in after.items() if ":" not in key]
    grown = [n for n in grown if n > 0]
    return round(sum(grown) / max(len(grown), 1), 2)


async def _known_customer_deals(
    crm: SalesforceClient, entries: dict[str, str], of: Sequence[DemoDeal]
) -> list[DemoDeal]:
    """One more open deal for each account of ``of`` (deals already ordered)."""
    rng = random.Random("k")
    return [
        await create_open_deal(crm, entries, "k", index, rng, account_id=deal.account_id)
        for index, deal in enumerate(of)
    ]


FOLLOW_ON_TYPES = (renewal_contract.WORKFLOW_TYPE, mirror_contract.WORKFLOW_TYPE)


async def _run_counts(client: Client) -> dict[str, int]:
    """Runs of each follow-on workflow type so far (the catalog's seeding starts item
    mirrors before any deal)."""
    return {
        kind: (await client.count_workflows(f"WorkflowType = '{kind}'")).count
        for kind in FOLLOW_ON_TYPES
    }


async def _follow_on_runs(
    client: Client, deals: int, before: dict[str, int]
) -> dict[str, FollowOn]:
    """The renewal and ERP mirror runs started since ``before``, per deal, with the
    history cost of a sample of each type."""
    runs: dict[str, FollowOn] = {}
    for kind, count in (await _run_counts(client)).items():
        sample = [
            await client.get_workflow_handle(e.id, run_id=e.run_id).fetch_history()
            async for e in client.list_workflows(f"WorkflowType = '{kind}'", limit=SAMPLE)
        ]
        runs[kind] = FollowOn(round((count - before[kind]) / max(deals, 1), 2), mean_cost(sample))
    return runs


async def _histories(client: Client, deals: Sequence[DemoDeal]) -> list[WorkflowHistory]:
    return [await deal_handle(client, d.opportunity_id).fetch_history() for d in deals]


def _phases(deals: Sequence[DemoDeal], histories: Sequence[WorkflowHistory]) -> dict[str, float]:
    """Median seconds of each stretch of a deal, from close-won to the order written
    back: the CRM's callout, the ingress and the start (to the start event); the first
    workflow task and the CRM read (to the ERP activity's scheduling); the ERP queue;
    the ERP activity; the task that writes the order back (its start is the
    ``Syncline_Synced_At__c`` the latency ends at)."""
    stretches: dict[str, list[float]] = {}
    for deal, history in zip(deals, histories, strict=True):
        times: dict[str, float] = {}
        for event in history.events:
            at = event.event_time.ToMicroseconds() / 1e6
            kind = event.event_type
            if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
                times.setdefault("started", at)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                times.setdefault("scheduled", at)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
                times.setdefault("activity_started", at)
            elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
                times.setdefault("activity_completed", at)
        if len(times) < 4 or deal.accepted_at is None:
            continue
        marks = [
            ("close_won_to_start", deal.closed_at, times["started"]),
            ("start_to_erp_scheduled", times["started"], times["scheduled"]),
            ("erp_queue", times["scheduled"], times["activity_started"]),
            ("erp_activity", times["activity_started"], times["activity_completed"]),
            ("to_written_back", times["activity_completed"], deal.accepted_at),
        ]
        for name, begin, end in marks:
            stretches.setdefault(name, []).append(end - begin)
    return {name: round(percentile(values, 0.5), 3) for name, values in stretches.items()}


async def _syncline_run(
    crm: SalesforceClient, deals: list[DemoDeal], timeout: float, slots: SlotClock | None = None
) -> Run:
    if slots is not None:
        slots.start()
    started = time.time()
    try:
        await bounded(50, deals, lambda deal: close_won(crm, deal))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and any(d.order_number is None for d in deals):
            await asyncio.sleep(0.5)
            await poll_orders(crm, deals)
    finally:
        if slots is not None:
            await slots.stop()
    done = [d for d in deals if d.accepted_at is not None]
    finished = max(d.accepted_at for d in done if d.accepted_at is not None)
    return _run(
        len(done), finished - started, [d.accepted_at - d.closed_at for d in done if d.accepted_at]
    )


class SlotClock:
    """The ERP sandbox's slot seconds read every ``every`` seconds during a run, so the
    busy share can be told apart by stretch: while the burst of closed-won deals is
    still coming in, and once every deal has reached its ERP step."""

    def __init__(self, erp_url: str, every: float = 0.5) -> None:
        self._erp_url = erp_url
        self._every = every
        self.readings: list[tuple[float, float]] = []
        self.started = 0.0
        """When the run began (``start``): where the intake's stretch begins."""
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.started = time.time()
        self._task = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.readings.append((time.time(), (await _erp_stats(self._erp_url))["slot_seconds"]))

    async def _read(self) -> None:
        async with httpx.AsyncClient(base_url=self._erp_url) as http:
            while True:
                stats = (await http.get("/admin/stats")).json()
                self.readings.append((time.time(), stats["slot_seconds"]))
                await asyncio.sleep(self._every)

    def slot_seconds_at(self, at: float) -> float:
        """Interpolated between the readings around ``at``."""
        before = [r for r in self.readings if r[0] <= at] or self.readings[:1]
        after = [r for r in self.readings if r[0] >= at] or self.readings[-1:]
        (t0, s0), (t1, s1) = before[-1], after[0]
        return s0 if t1 <= t0 else s0 + (s1 - s0) * (at - t0) / (t1 - t0)

    def busy(self, begin: float, end: float, limit: int) -> float:
        if end <= begin:
            return 0.0
        used = self.slot_seconds_at(end) - self.slot_seconds_at(begin)
        return round(used / (limit * (end - begin)), 3)


def _last_erp_step(histories: Sequence[WorkflowHistory]) -> float:
    """When the last of the deals had its ERP activity scheduled: the end of the intake
    (a deal that never reached it, which a run with every order placed does not have,
    is left out rather than ending the benchmark)."""
    scheduled = (
        next(
            (
                event.event_time.ToMicroseconds() / 1e6
                for event in history.events
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
            ),
            None,
        )
        for history in histories
    )
    return max(at for at in scheduled if at is not None)


async def _baseline_deal(crm: SalesforceClient, erp: ErpClient, opportunity_id: str) -> None:
    """What a plain script does per deal: the same calls, nothing durable around them."""
    opportunity, account = await crm.get_opportunity_and_account(opportunity_id)
    assert account is not None, "benchmark deals always have an account"
    customer = await erp.upsert_customer(
        CustomerUpsert(
            external_id=account.id,
            company_name=account.name,
            billing_address=account.billing_address,
            currency=opportunity.currency,
        )
    )
    skus = sorted({line.product_code for line in opportunity.lines if line.product_code})
    items = await erp.find_items(skus)
    order = await erp.create_sales_order(
        SalesOrderDraft(
            external_id=opportunity.id,
            customer_id=customer.id,
            currency=opportunity.currency,
            tran_date=opportunity.close_date or utc_now().date(),
            lines=[
                SalesOrderLine(
                    item_id=items[line.product_code].id,
                    sku=line.product_code,
                    quantity=line.quantity,
                    rate=line.unit_price,
                )
                for line in opportunity.lines
                if line.product_code
            ],
        )
    )
    await crm.write_order_status(
        opportunity.id,
        OpportunityOrderUpdate(
            erp_order_id=order.id,
            order_number=order.order_number,
            order_status=order.status,
            synced_at=utc_now(),
        ),
    )


async def _baseline_run(
    stack: DevStack, env: dict[str, str], deals: list[DemoDeal], erp_limit: int
) -> tuple[Run, int]:
    crm = SalesforceClient(
        stack.crm_url, env["SYNCLINE_CRM_CLIENT_ID"], env["SYNCLINE_CRM_CLIENT_SECRET"]
    )
    erp = build_netsuite(Settings.from_env_values(env), LocalGovernor(erp_limit))
    try:
        return await _baseline_deals(crm, erp, deals)
    finally:
        await crm.aclose()
        await erp.aclose()


BASELINE_ATTEMPTS = 10
KNOWN_DEALS = 50
"""Deals of customers already in the identity map, counted for their ERP calls."""
SAMPLE = 20
"""Deal histories read for their events and billable actions."""


async def _baseline_deals(
    crm: SalesforceClient, erp: ErpClient, deals: list[DemoDeal]
) -> tuple[Run, int]:
    """The plain script over ``deals``, 50 at a time, each deal timed (retries included);
    the run and how many attempts were retried."""
    latencies: list[float] = []
    retries = 0

    def count(_: RetryCallState) -> None:
        nonlocal retries
        retries += 1

    async def one(deal: DemoDeal) -> None:
        begun = time.time()
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TransientError),
            wait=wait_random_exponential(multiplier=0.05, max=2),
            stop=stop_after_attempt(BASELINE_ATTEMPTS),
            before_sleep=count,
            reraise=True,
        ):
            with attempt:
                await _baseline_deal(crm, erp, deal.opportunity_id)
        latencies.append(time.time() - begun)

    started = time.time()
    try:
        await bounded(50, deals, one)
    except TransientError as error:
        raise RuntimeError(
            f"the baseline gave up on a deal after {BASELINE_ATTEMPTS} attempts: {error}"
        ) from error
    return _run(len(deals), time.time() - started, latencies), retries


async def _webhook_acks(
    stack: DevStack, env: dict[str, str], senders: int, per_sender: int
) -> dict[str, float]:
    """Acknowledgement latency, closed loop: each delivery is stored in the inbox before
    its 202 (``webhook_acks.py`` measures it in more phases)."""
    codes: dict[int, int] = {}
    open_sender = webhook_sender(stack.api_url, env["SYNCLINE_WEBHOOK_SECRET"], codes)
    sent = await send_concurrently(senders, per_sender, open_sender)
    return {
        "senders": senders,
        "deliveries": len(sent.latencies),
        "acks_per_second": round(sent.per_second, 1),
        "p50_ms": round(1000 * percentile(sent.latencies, 0.5), 1),
        "p99_ms": round(1000 * percentile(sent.latencies, 0.99), 1),
        "non_202": sum(v for k, v in codes.items() if k != 202),
    }


@contextlib.asynccontextmanager
async def started_stack(
    *, erp_concurrency_limit: int = 5, erp_latency_ms: int = 0, metrics: bool = True
) -> AsyncIterator[tuple[DevStack, dict[str, str], SalesforceClient, NetSuiteClient]]:
    """The whole local stack in a temporary folder, with clients for both sandboxes."""
    with tempfile.TemporaryDirectory(prefix="syncline-bench-") as workdir:
        stack = DevStack(
            StackOptions(
                # The webhook path alone: what this counts (deliveries, duplicates, ERP calls)
                # is the webhook's; the CRM change stream is measured on a stack of its own.
                crm_stream="off",
                workdir=Path(workdir),
                ports=StackPorts.free(),
                ui=False,
                erp_concurrency_limit=erp_concurrency_limit,
                erp_latency_ms=erp_latency_ms,
                metrics=metrics,
                # Capacity is measured here, not the per-sender limit a deployment sets.
                webhook_rate_limit="1000000/second",
            )
        )
        try:
            env = await stack.start(timeout=120)
            crm = SalesforceClient(
                stack.crm_url, env["SYNCLINE_CRM_CLIENT_ID"], env["SYNCLINE_CRM_CLIENT_SECRET"]
            )
            erp = build_netsuite(Settings.from_env_values(env))
            try:
                yield stack, env, crm, erp
            finally:
                await crm.aclose()
                await erp.aclose()
        finally:
            stack.stop()


async def run_setting(
    name: str, deals: int, erp_latency_ms: int, erp_limit: int, timeout: float, acks: bool
) -> tuple[SettingResult, dict[str, float] | None]:
    async with started_stack(erp_concurrency_limit=erp_limit, erp_latency_ms=erp_latency_ms) as (
        stack,
        env,
        crm,
        erp,
    ):
        entries = await seed_crm_catalog(crm, erp)
        syncline_deals = await open_deals(
            crm, entries, deals, "s", random.Random("s"), concurrency=20
        )
        single_deals = (
            await open_deals(crm, entries, 20, "u", random.Random("u"), concurrency=20)
            if acks
            else []
        )
        baseline_deals = await open_deals(
            crm, entries, deals, "b", random.Random("b"), concurrency=20
        )
        before = await _erp_stats(stack.erp_url)
        by_correlation = await _erp_calls_by_correlation(stack.erp_url)
        clocks = Clocks({name: stack.pid(name) for name in stack.process_names()}, own="this")
        # Each phase starts on a quiet stack: the last one's follow-on work (renewals, the
        # ERP mirror runs for its new orders) is not charged to the next one.
        settled = {"syncline": await clocks.settled()}
        client = await Client.connect(stack.temporal_address)
        runs_before = await _run_counts(client)
        cpu_before = clocks.read()
        slots = SlotClock(stack.erp_url)
        syncline = await _syncline_run(crm, syncline_deals, timeout, slots)
        cpu_after = clocks.read()
        cpu_ms = _per_deal(cpu_before, cpu_after, syncline.deals)
        middle = await _erp_stats(stack.erp_url)
        new_calls = _calls_per_deal(by_correlation, await _erp_calls_by_correlation(stack.erp_url))
        settled["baseline"] = await clocks.settled()
        # What the deals set going after their orders (the change feed's renewal and ERP
        # mirror runs): part of a deal's cost, though after its latency ends.
        follow_on_ms = _per_deal(cpu_after, clocks.read(), syncline.deals)
        follow_on = await _follow_on_runs(client, syncline.deals, runs_before)
        baseline, baseline_retries = await _baseline_run(stack, env, baseline_deals, erp_limit)
        after = await _erp_stats(stack.erp_url)
        known_deals = await _known_customer_deals(crm, entries, syncline_deals[:KNOWN_DEALS])
        by_correlation = await _erp_calls_by_correlation(stack.erp_url)
        await _syncline_run(crm, known_deals, timeout)
        known_calls = _calls_per_deal(
            by_correlation, await _erp_calls_by_correlation(stack.erp_url)
        )
        orders = await erp.suiteql("SELECT id, externalid FROM transaction WHERE type = 'SalesOrd'")
        syncline_histories = await _histories(client, syncline_deals)
        deal_cost = mean_cost(syncline_histories[:SAMPLE])
        intake_end = _last_erp_step(syncline_histories)
        finished = slots.started + syncline.seconds
        # The engine alone, right after Syncline on the same server: the ceiling it sets.
        bare, single = None, None
        if acks:
            settled["bare"] = await clocks.settled()
            bare = await run_bare(stack.temporal_address, deals, single=20)
            settled["one_at_a_time"] = await clocks.settled()
            single = await _unloaded_latency(crm, single_deals)
        phases = _phases(single_deals, await _histories(client, single_deals)) if acks else None
        ack = await _webhook_acks(stack, env, senders=100, per_sender=10) if acks else None
    calls_per_deal = (middle["requests"] - before["requests"]) / max(syncline.deals, 1)
    slot_seconds = middle["slot_seconds"] - before["slot_seconds"]
    admitted = (middle["requests"] - middle["limit_exceeded"]) - (
        before["requests"] - before["limit_exceeded"]
    )
    per_call = max(erp_latency_ms / 1000, 1e-9)
    ceiling = erp_limit / (calls_per_deal * per_call) if erp_latency_ms else float("inf")
    externals = [row["externalid"] for row in orders]
    result = SettingResult(
        name=name,
        erp_latency_ms=erp_latency_ms,
        erp_limit=erp_limit,
        syncline=syncline,
        baseline=baseline,
        ratio=round(syncline.deals_per_second / baseline.deals_per_second, 3),
        erp_calls_per_deal=round(calls_per_deal, 2),
        erp_ceiling_deals_per_second=round(ceiling, 2) if erp_latency_ms else 0.0,
        fraction_of_ceiling=round(syncline.deals_per_second / ceiling, 3)
        if erp_latency_ms
        else 0.0,
        limit_exceeded=middle["limit_exceeded"] - before["limit_exceeded"],
        baseline_limit_exceeded=after["limit_exceeded"] - middle["limit_exceeded"],
        baseline_retries=baseline_retries,
        duplicate_orders=len(externals) - len(set(externals)),
        erp_calls_new_customer=new_calls,
        erp_calls_known_customer=known_calls,
        deal_cost=deal_cost,
        one_at_a_time=single,
        one_at_a_time_phases=phases,
        bare=bare,
        ratio_to_bare=round(syncline.deals_per_second / bare.workflows_per_second, 3)
        if bare
        else None,
        erp_slots_busy=round(slot_seconds / (erp_limit * syncline.seconds), 3),
        erp_mean_call_ms=round(1000 * slot_seconds / max(admitted, 1), 1),
        erp_slots_busy_intake=slots.busy(slots.started, intake_end, erp_limit),
        erp_slots_busy_after_intake=slots.busy(intake_end, finished, erp_limit),
        intake_seconds=round(intake_end - slots.started, 2),
        cpu_ms_per_deal=cpu_ms,
        settled_seconds=settled,
        follow_on_cpu_ms_per_deal=follow_on_ms,
        follow_on_runs=follow_on,
    )
    return result, ack


def _print(result: SettingResult) -> None:
    s, b = result.syncline, result.baseline
    print(
        f"\n== {result.name}: ERP latency {result.erp_latency_ms} ms, limit {result.erp_limit} =="
    )
    print(
        f"syncline : {s.deals} deals in {s.seconds:.1f} s = {s.deals_per_second:.2f} deals/s; "
        f"latency p50 {s.p50:.2f} s, p95 {s.p95:.2f} s, p99 {s.p99:.2f} s"
    )
    print(
        f"baseline : {b.deals} deals in {b.seconds:.1f} s = {b.deals_per_second:.2f} deals/s; "
        f"per-deal p50 {b.p50:.2f} s, p95 {b.p95:.2f} s, p99 {b.p99:.2f} s; "
        f"{result.baseline_limit_exceeded} limit-exceeded answers, "
        f"{result.baseline_retries} attempts retried"
    )
    print(f"ratio syncline/baseline: {result.ratio:.3f}")
    if result.settled_seconds:
        print(
            "waited for the stack to go quiet before (s): "
            + ", ".join(f"{k} {v:.1f}" for k, v in result.settled_seconds.items())
        )
    if result.one_at_a_time:
        one = result.one_at_a_time
        print(f"one deal at a time ({one.deals}): latency p50 {one.p50:.2f} s, p95 {one.p95:.2f} s")
    if result.one_at_a_time_phases:
        print(
            "  where it goes (medians, s): "
            + ", ".join(f"{k} {v:.3f}" for k, v in result.one_at_a_time_phases.items())
        )
    print(
        f"ERP calls per deal: {result.erp_calls_new_customer} for a new customer, "
        f"{result.erp_calls_known_customer} for a known one (the feed's polls left out); "
        f"all ERP requests during the run / deals: {result.erp_calls_per_deal}; "
        f"limit-exceeded answers: {result.limit_exceeded}; "
        f"duplicate orders: {result.duplicate_orders}"
    )
    c = result.deal_cost
    print(
        f"per deal: {c.events} history events, {c.workflow_tasks} workflow tasks, "
        f"{c.billable_actions} billable actions"
    )
    if result.bare:
        bare = result.bare
        print(
            f"bare workflow of the former shape: {bare.workflows} in {bare.seconds:.1f} s = "
            f"{bare.workflows_per_second:.2f}/s, one at a time p50 {bare.one_at_a_time_p50:.2f} s; "
            f"{bare.cost.events} events, {bare.cost.billable_actions} billable actions; "
            f"syncline / bare: {result.ratio_to_bare:.3f}"
        )
    if result.erp_latency_ms:
        print(
            f"ERP ceiling {result.erp_ceiling_deals_per_second:.2f} deals/s; "
            f"syncline at {100 * result.fraction_of_ceiling:.0f}% of it"
        )
    print(
        f"ERP slots busy during Syncline's run: {100 * result.erp_slots_busy:.0f}% of "
        f"{result.erp_limit}; mean time a request held its slot {result.erp_mean_call_ms} ms"
    )
    print(
        f"  while the deals came in (the first {result.intake_seconds:.1f} s, until the last "
        f"deal's ERP step was scheduled): {100 * result.erp_slots_busy_intake:.0f}%; "
        f"after: {100 * result.erp_slots_busy_after_intake:.0f}%"
    )
    for label, cpu in (
        ("during Syncline's run", result.cpu_ms_per_deal),
        (
            "after it, until the stack was quiet (renewal and ERP mirror runs)",
            result.follow_on_cpu_ms_per_deal,
        ),
    ):
        if cpu:
            print(
                f"CPU per deal {label}: {sum(cpu.values()):.1f} ms ("
                + ", ".join(f"{k} {ms}" for k, ms in sorted(cpu.items(), key=lambda i: -i[1]))
                + ")"
            )
    for kind, run in (result.follow_on_runs or {}).items():
        print(
            f"  {kind} runs started: {run.runs_per_deal} per deal, each so far "
            f"{run.cost.events} events, {run.cost.workflow_tasks} workflow tasks, "
            f"{run.cost.billable_actions} billable actions"
        )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=900)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: dict[str, Any] = {}
    fast, ack = await run_setting("no added latency", args.deals, 0, 5, args.timeout, acks=True)
    _print(fast)
    if ack:
        print(
            f"webhook acks, {ack['senders']} concurrent senders: {ack['deliveries']} deliveries, "
            f"{ack['acks_per_second']}/s, p50 {ack['p50_ms']} ms, p99 {ack['p99_ms']} ms, "
            f"non-202 {ack['non_202']}"
        )
    slow, _ = await run_setting("ERP 150 ms per call", args.deals, 150, 5, args.timeout, acks=False)
    _print(slow)
    results = {"settings": [asdict(fast), asdict(slow)], "webhook_acks": ack}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
