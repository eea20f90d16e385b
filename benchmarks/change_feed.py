"""change_feed: a backlog of ERP changes through ErpChangeFeed into the ledger, then lag.

In a temporary folder the script seeds the NetSuite-shaped sandbox with a backlog of
changes (``seeding/netsuite_backlog.py``: sales orders, most with CRM external ids and no
running deal, some entered in the ERP, some cancelled, and the invoices made from
them, some paid; stamped over the last 30 days), serves it on
127.0.0.1 (``syncline sandbox netsuite``, its own process) and measures, in one run:

* baseline: a plain asyncio loop with no Temporal, paging the same changes through the
  same ``NetSuiteClient.changes()`` (orders, invoices, payments) and recording them by
  the feed's own rules (``activities/erp_facts.py``) into a fresh ledger: changes/s and
  events/s;
* Syncline: the same backlog through ``ErpChangeFeed`` on a local Temporal dev server
  (the installed ``temporal`` binary, SQLite file with WAL), both workers of
  ``build_workers`` in this process, the feed started with its cursors at the start of
  the backlog: wall time from the start until its order and invoice cursors stand on
  the backlog's last change (to the last event's ``recorded_at``); changes/s,
  events/s, ratio to the baseline, whether both ledgers hold the same events, runs
  (continue-as-new) and their history; if the feed's run stops instead (terminated,
  failed), how far it got and why;
* steady-state lag: with the feed caught up and polling every second, sales made
  through the sandbox's REST API at a steady rate (an order; 2 s later its invoice;
  2 s later a payment, in full or half), and the lag of the events they make, from
  ``FeedStatus`` and from the ledger (``recorded_at - occurred_at``), against the
  floor of any polling design: the poll interval.

CPU seconds of each process (this one: worker and client; the ERP sandbox; the
Temporal dev server) are read from /proc for each phase.

    python benchmarks/change_feed.py [--changes 100000] [--page-size 200]
        [--steady-seconds 60] [--json benchmarks/results/change_feed.json]
    python benchmarks/change_feed.py --changes 10000 --steady-seconds 20   # quick
    py-spy record -o feed.svg -- python benchmarks/change_feed.py --changes 20000 \
        --steady-seconds 0 --skip-baseline                                     # profile
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from cpu import Clocks
from seeding.netsuite_backlog import (  # benchmarks/ is sys.path[0]
    BacklogSpec,
    BacklogSummary,
    seed_backlog_file,
)
from sqlmodel import col, select
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from activities.erp_facts import record_invoice, record_order, record_payment
from connectors.governor import LocalGovernor
from connectors.netsuite import NetSuiteClient, OAuth2Credentials
from connectors.salesforce import SalesforceClient
from models.billing import ChangeCursor
from models.changes import ChangeKind, ErpChange, InvoiceChange, OrderChange
from models.events import EventType, SourceSystem
from models.facts import OrderFacts
from models.settlement import PaymentChange
from models.tables import LedgerEvent
from models.types import utc_now
from sandbox.catalog import DEFAULT_CATALOG
from sandbox.netsuite.certificates import make_key_pair
from sandbox.netsuite.provision import map_certificate
from sandbox.salesforce.server import SalesforceSandboxConfig
from sandbox.salesforce.server import build_app as build_crm_app
from sandbox.tryton.server import HOST, free_port, serving
from store import Store
from workers.binaries import temporal_cli
from workers.demo import percentile
from workers.worker import build_workers
from workflows.feed import contract as feed_contract
from workflows.feed.contract import FeedConfig, FeedInput, FeedStatus
from workflows.lag import WINDOW as LAG_WINDOW
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

ERP_CLIENT_ID = "bench-erp"
# The integration's key pair; its certificate is mapped on the sandbox at the start.
ERP_KEYS = make_key_pair()
# NetSuite's shared tier; the worker (5) and the load generator (4) stay under it.
ERP_ACCOUNT_LIMIT = 15
SYSTEM = SourceSystem.NETSUITE
BACKLOG_KINDS = (ChangeKind.ORDER, ChangeKind.INVOICE, ChangeKind.PAYMENT)
STEADY_TYPES = (EventType.ORDER_ACCEPTED, EventType.INVOICE_POSTED, EventType.PAYMENT_APPLIED)
INVOICE_AFTER = 2.0  # seconds from a steady sale's order to its invoice, and to payment


# --- results ---------------------------------------------------------------------------------


@dataclass
class Throughput:
    changes: int
    events: int
    seconds: float
    changes_per_second: float
    events_per_second: float
    cpu_seconds: dict[str, float]
    """Per process over the phase: this one (worker/loop), erp sandbox, temporal."""


@dataclass
class Drain:
    syncline: Throughput
    baseline: Throughput | None
    ratio: float | None
    """Syncline events/s ÷ baseline events/s."""
    stopped: str | None
    """Why the feed stopped before the backlog was in the ledger; None when it was."""
    runs: int
    """Feed runs the drain took (1 + continue-as-new)."""
    history_events: int
    history_bytes: int
    duplicates: int
    unmatched: int
    ledger: dict[str, int]
    same_events_as_baseline: bool | None
    """The Syncline ledger holds as many events of each type as the baseline's."""
    progress: list[tuple[float, int]] = field(default_factory=list)
    """(seconds since start, events in the ledger), every few seconds."""


@dataclass
class BaselineRun:
    throughput: Throughput
    ledger: dict[str, int]


@dataclass
class Lag:
    rate_sales_per_second: float
    seconds: float
    warmup_seconds: float
    poll_interval_seconds: float
    feed_recorded: int
    """Events the feed recorded during the phase (its ``FeedStatus.recorded``)."""
    events: int
    ledger_p50: float
    ledger_p95: float
    ledger_p99: float
    ledger_max: float
    """recorded_at - occurred_at of the events the steady sales made (ERP stamps are
    whole seconds, so this includes 0-1 s of truncation)."""
    answered_p50: float
    answered_p95: float
    """recorded_at - the moment the ERP answered the write (invoices and payments)."""
    feed_status_p50: float | None
    feed_status_p95: float | None
    feed_status_steady_only: bool
    """Whether FeedStatus's window held steady-state changes only (else drain ones too)."""
    changes_published: int
    p95_over_poll_interval: float
    write_errors: int
    cpu_seconds: dict[str, float]


@dataclass
class Result:
    measured_at: str
    machine: str
    load_average_before_after: list[float]
    changes: int
    page_size: int
    overlap_seconds: float
    seed_seconds: float
    backlog: dict[str, Any]
    drain: Drain
    lag: Lag | None


# --- the processes -----------------------------------------------------------------------------


def _pid_with_argument(argument: str) -> int | None:
    """The process whose command line holds ``argument`` (the dev server, by its db)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if argument.encode() in (entry / "cmdline").read_bytes():
                return int(entry.name)
        except OSError:
            continue
    return None


def _erp_argv(db: Path, port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "workers.cli",
        "sandbox",
        "netsuite",
        "--host",
        HOST,
        "--port",
        str(port),
        "--db",
        str(db),
    ]


def _erp_env() -> dict[str, str]:
    return {
        **os.environ,
        "SYNCLINE_SANDBOX_ERP_CONCURRENCY_LIMIT": str(ERP_ACCOUNT_LIMIT),
    }


async def _erp_client(url: str, limit: int) -> NetSuiteClient:
    async with httpx.AsyncClient(base_url=url) as admin:
        certificate_id = await map_certificate(admin, ERP_CLIENT_ID, ERP_KEYS.certificate_pem)
    credentials = OAuth2Credentials(ERP_CLIENT_ID, certificate_id, ERP_KEYS.private_key_pem)
    return NetSuiteClient(url, credentials, governor=LocalGovernor(limit))


async def _ledger(path: Path) -> Store:
    store = Store.from_url(f"sqlite+aiosqlite:///{path}")
    await store.migrate()
    return store


# --- the baseline: the same work in a plain loop -------------------------------------------


async def baseline_drain(
    erp: NetSuiteClient, store: Store, start: ChangeCursor, page_size: int, clocks: Clocks
) -> Throughput:
    """Every order, then every invoice, then every payment from ``start``, page by page,
    each change's events
    appended one by one, as ``FeedActivities.publish_changes`` does when no deal runs
    (no signals)."""
    cpu, begun = clocks.read(), time.perf_counter()
    changes = events = 0
    for kind in BACKLOG_KINDS:
        after = start
        while True:
            page = await erp.changes(kind, after, page_size)
            for change in page.changes:
                events += await record(store, change)
            changes += len(page.changes)
            if page.changes:
                after = page.changes[-1].position
            if not page.has_more:
                break
    seconds = time.perf_counter() - begun
    return _throughput(changes, events, seconds, Clocks.spent(cpu, clocks.read()))


async def record(store: Store, change: ErpChange) -> int:
    """What the feed records for a change whose deal is not running, by the same rules
    (``activities.erp_facts``, as ``ChangePublisher`` calls them; no signals). The
    Syncline ledger is checked against this one at the end, so a rule changed in one
    place only shows."""
    now, correlation = utc_now(), "baseline"
    if isinstance(change, OrderChange):
        return await record_order(store, OrderFacts.of_change(change), SYSTEM, correlation, now)
    if isinstance(change, InvoiceChange):
        return await record_invoice(store, change, SYSTEM, correlation, now)
    if isinstance(change, PaymentChange):
        return await record_payment(store, change, SYSTEM, correlation, now)
    return 0


def _throughput(changes: int, events: int, seconds: float, cpu: dict[str, float]) -> Throughput:
    return Throughput(
        changes=changes,
        events=events,
        seconds=round(seconds, 2),
        changes_per_second=round(changes / seconds, 1),
        events_per_second=round(events / seconds, 1),
        cpu_seconds=cpu,
    )


# --- Syncline: the feed on Temporal --------------------------------------------------------


@asynccontextmanager
async def temporal(workdir: Path) -> AsyncIterator[tuple[WorkflowEnvironment, int | None]]:
    """A local dev server from the installed binary, persisted like ``syncline dev``'s
    (its default limits: a run's history may not pass 50 MB, as on Temporal Cloud).

    Its log level is ``error``: past 10 MB of a run's history it warns on every event."""
    db = workdir / "temporal.db"
    extra = ["--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]
    env = await WorkflowEnvironment.start_local(
        data_converter=pydantic_data_converter,
        dev_server_existing_path=str(temporal_cli()),
        dev_server_database_filename=str(db),
        dev_server_log_level="error",
        dev_server_extra_args=extra,
        search_attributes=list(SEARCH_ATTRIBUTES),
        ip=HOST,
    )
    try:
        yield env, _pid_with_argument(str(db))
    finally:
        await env.shutdown()


@asynccontextmanager
async def feed_workers(
    client: Client, workdir: Path, erp: NetSuiteClient, store: Store, task_queue: str
) -> AsyncIterator[None]:
    """Both workers of ``build_workers``; the CRM (in process) is never called here."""
    crm_app = build_crm_app(
        SalesforceSandboxConfig(
            db_path=workdir / "crm.db", client_id="crm", client_secret="crm-secret"
        )
    )
    crm = SalesforceClient(
        "http://crm.sandbox", "crm", "crm-secret", transport=httpx.ASGITransport(app=crm_app)
    )
    workers = build_workers(
        client,
        task_queue=task_queue,
        crm=crm,
        erp=erp,
        erp_system=SYSTEM,
        store=store,
        erp_max_concurrency=5,
    )
    try:
        async with workers[0], workers[1]:
            yield
    finally:
        await crm.aclose()


async def start_feed(
    client: Client, task_queue: str, start: datetime, config: FeedConfig
) -> WorkflowHandle[Any, Any]:
    """Every cursor at the start of the backlog: orders and invoices from there (less the
    overlap), customers and items stamped before it read nothing."""
    cursor = ChangeCursor(modified_at=start)
    return await client.start_workflow(
        feed_contract.WORKFLOW_TYPE,
        FeedInput(
            erp_system=SYSTEM.value,
            config=config,
            cursors={kind: cursor for kind in ChangeKind},
        ),
        id=feed_contract.feed_workflow_id(SYSTEM.value),
        task_queue=task_queue,
    )


async def ledger_counts(store: Store) -> dict[str, int]:
    """Events in the ledger by type."""
    async with store.engine.connect() as connection:
        rows = await connection.execute(
            sa.select(col(LedgerEvent.event_type), sa.func.count()).group_by(
                col(LedgerEvent.event_type)
            )
        )
        return {str(event_type): int(count) for event_type, count in rows}


async def last_recorded(store: Store) -> datetime:
    async with store.engine.connect() as connection:
        value = await connection.scalar(sa.select(sa.func.max(col(LedgerEvent.recorded_at))))
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime), value
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def syncline_drain(
    client: Client,
    store: Store,
    summary: BacklogSummary,
    erp_db: Path,
    task_queue: str,
    config: FeedConfig,
    clocks: Clocks,
    timeout: float,
) -> tuple[Throughput, list[tuple[float, int]], WorkflowHandle[Any, Any], str | None]:
    """Until the feed's order and invoice cursors stand on the backlog's last change (a
    stream's cursor moves when a pass over that kind has published everything)."""
    last = last_positions(erp_db)
    cpu, begun, started_at = clocks.read(), time.perf_counter(), utc_now()
    handle = await start_feed(client, task_queue, summary.first_modified, config)
    progress: list[tuple[float, int]] = []
    # A stopped run first (a describe is the server's alone; a query on a closed run
    # would make the worker replay its whole history), then the cursors.
    while not (stopped := await _not_running(handle)) and not await _caught_up(handle, last):
        elapsed = time.perf_counter() - begun
        if elapsed > timeout:
            stopped = f"timeout after {timeout:.0f} s"
            break
        await asyncio.sleep(1)
        if len(progress) * 5 <= elapsed:  # every 5 s
            progress.append((round(elapsed, 1), sum((await ledger_counts(store)).values())))
            print(f"  {elapsed:6.0f} s: {progress[-1][1]:,} events in the ledger")
            if len(progress) > 6 and progress[-7][1] == progress[-1][1]:
                print(f"  no new event for 30 s: {await _pending(handle)}")
    observed, cpu_spent = utc_now(), Clocks.spent(cpu, clocks.read())
    counts = await ledger_counts(store)
    # The end is the last event's own time, not this loop's next look.
    seconds = (min(observed, await last_recorded(store)) - started_at).total_seconds()
    changes = summary.changes if not stopped else await _changes_read(handle, erp_db)
    result = _throughput(changes, sum(counts.values()), seconds, cpu_spent)
    return result, progress, handle, stopped


async def _changes_read(handle: WorkflowHandle[Any, Any], erp_db: Path) -> int:
    """How far a stopped feed got: the backlog up to the ``after`` cursor of the last
    page it asked for (orders are read before invoices)."""
    last: dict[str, Any] | None = None
    async for event in handle.fetch_history_events():
        attributes = event.activity_task_scheduled_event_attributes
        if attributes.activity_type.name == "fetch_changes":
            last = json.loads(attributes.input.payloads[0].data)
    if last is None or last["kind"] not in ("order", "invoice"):
        return 0
    after = ChangeCursor.model_validate(last["after"])
    stamp = after.modified_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    with closing(sqlite3.connect(erp_db)) as conn:
        orders = conn.execute("SELECT COUNT(*) FROM txn WHERE type = 'SalesOrd'").fetchone()[0]
        read = conn.execute(
            "SELECT COUNT(*) FROM txn WHERE type = ? "
            "AND (lastmodifieddate < ? OR (lastmodifieddate = ? AND id <= ?))",
            ("SalesOrd" if last["kind"] == "order" else "CustInvc", stamp, stamp, after.id),
        ).fetchone()[0]
    return int(read) + (int(orders) if last["kind"] == "invoice" else 0)


async def _caught_up(
    handle: WorkflowHandle[Any, Any], last: dict[ChangeKind, ChangeCursor]
) -> bool:
    try:
        streams = (await feed_status(handle)).streams
    except (RPCError, WorkflowQueryFailedError):  # not queryable yet, or stopped
        return False
    return all(
        kind in streams
        and (cursor := streams[kind].cursor) is not None
        and (cursor.modified_at, cursor.id) >= (position.modified_at, position.id)
        for kind, position in last.items()
    )


async def _pending(handle: WorkflowHandle[Any, Any]) -> str:
    """What the feed waits on: its workflow task's attempts, its activities'."""
    raw = (await handle.describe()).raw_description
    task = raw.pending_workflow_task
    activities = [
        f"{a.activity_type.name} attempt {a.attempt} {a.last_failure.message[:200]!r}"
        for a in raw.pending_activities
    ]
    return f"workflow task attempt {task.attempt}; activities {activities}"


async def _not_running(handle: WorkflowHandle[Any, Any]) -> str | None:
    """Why the feed's latest run stopped (terminated, failed), or None while it runs."""
    description = await handle.describe()
    if description.status in (None, WorkflowExecutionStatus.RUNNING):
        return None
    info = description.raw_description.workflow_execution_info
    return (
        f"feed run {description.status.name} after {info.history_length:,} history events, "
        f"{info.history_size_bytes / 1e6:.1f} MB of history"
    )


async def feed_runs(client: Client) -> tuple[int, int, int]:
    """Runs of the feed so far, and their history events and bytes."""
    runs = events = size = 0
    workflow_id = feed_contract.feed_workflow_id(SYSTEM.value)
    async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'"):
        runs += 1
        handle = client.get_workflow_handle(workflow_id, run_id=execution.run_id)
        info = (await handle.describe()).raw_description.workflow_execution_info
        events += info.history_length
        size += info.history_size_bytes
    return runs, events, size


async def feed_status(handle: WorkflowHandle[Any, Any]) -> FeedStatus:
    # The handle from start names no run: queries go to the latest (continue-as-new).
    return await feed_contract.STATUS.ask(handle)


# --- steady state: sales at a steady rate, and their lag -----------------------------------


@dataclass
class SteadyLoad:
    erp: NetSuiteClient
    customers: list[str]
    items: list[tuple[str, Decimal]]  # (item id, rate)
    tag: str
    orders: list[str] = field(default_factory=list)
    invoices: list[str] = field(default_factory=list)
    answered: dict[tuple[str, str], float] = field(default_factory=dict)
    """(event type, source id) -> wall time the ERP answered the write that makes it."""
    errors: int = 0

    async def sale(self, n: int) -> None:
        """An order; its invoice 2 s later; 2 s later a payment (in full, or half). Half
        the orders carry a CRM opportunity id (their deal is not running), half were
        entered in the ERP; the feed records order.accepted only for those."""
        try:
            item_id, rate = self.items[n % len(self.items)]
            quantity = 1 + n % 5
            from_crm = n % 4 < 2
            order: dict[str, Any] = {
                "entity": {"id": self.customers[n % len(self.customers)]},
                "item": {"items": [{"item": {"id": item_id}, "quantity": quantity, "rate": rate}]},
            }
            if from_crm:
                order["externalId"] = f"006{self.tag}{n:011d}"
            order_id = await self.erp.create_record("salesOrder", order)
            self.orders.append(order_id)
            if not from_crm:
                self.answered[(EventType.ORDER_ACCEPTED, order_id)] = time.time()
            await asyncio.sleep(INVOICE_AFTER)
            invoice_id = await self.erp.create_record("invoice", {"createdFrom": {"id": order_id}})
            self.invoices.append(invoice_id)
            self.answered[(EventType.INVOICE_POSTED, invoice_id)] = time.time()
            await asyncio.sleep(INVOICE_AFTER)
            total = rate * quantity
            amount = total if n % 2 == 0 else (total / 2).quantize(Decimal("0.01"))
            await self.erp.create_record(
                "customerPayment", {"createdFrom": {"id": invoice_id}, "payment": amount}
            )
            self.answered[(EventType.PAYMENT_APPLIED, invoice_id)] = time.time()
        except Exception as error:  # counted, and the run goes on: a lost sale is a figure
            self.errors += 1
            print(f"  steady sale {n} failed: {error!r}")


async def make_load(erp: NetSuiteClient) -> SteadyLoad:
    customers = [str(r["id"]) for r in await erp.suiteql("SELECT id FROM customer")][:200]
    one_time = {c.sku for c in DEFAULT_CATALOG if c.term_months is None}
    items = [
        (str(r["id"]), Decimal(str(r["baseprice"])))
        for r in await erp.suiteql("SELECT id, itemid, baseprice FROM item")
        if r["itemid"] in one_time
    ]
    return SteadyLoad(erp, customers, items, tag="ST" + uuid.uuid4().hex[:2].upper())


async def steady_lag(
    load: SteadyLoad,
    store: Store,
    handle: WorkflowHandle[Any, Any],
    rate: float,
    seconds: float,
    warmup: float,
    poll_interval: float,
    clocks: Clocks,
) -> Lag:
    before, run_before = await feed_status(handle), (await handle.describe()).run_id
    cpu = clocks.read()
    begun = time.perf_counter()
    measure_from = utc_now() + timedelta(seconds=warmup)
    sales: list[asyncio.Task[None]] = []
    for n in range(round(rate * (warmup + seconds))):
        # On a fixed schedule, whatever each sale takes: an open-loop load.
        await asyncio.sleep(max(0.0, begun + n / rate - time.perf_counter()))
        sales.append(asyncio.create_task(load.sale(n)))
    await asyncio.gather(*sales)
    await _settle(store, load, timeout=30 + 10 * poll_interval)
    after, run_after = await feed_status(handle), (await handle.describe()).run_id
    cpu_spent = Clocks.spent(cpu, clocks.read())
    # FeedStatus's quantiles are over the last LAG_WINDOW changes its run published: the
    # steady phase's alone once it published that many, or when a new run began in it.
    published = sum(s.published for s in after.streams.values())
    if run_after == run_before:
        published -= sum(s.published for s in before.streams.values())
    lags, answered = await _ledger_lags(store, load, measure_from)
    p95 = percentile(lags, 0.95)
    return Lag(
        rate_sales_per_second=rate,
        seconds=seconds,
        warmup_seconds=warmup,
        poll_interval_seconds=poll_interval,
        feed_recorded=after.recorded - before.recorded,
        events=len(lags),
        ledger_p50=round(percentile(lags, 0.50), 2),
        ledger_p95=round(p95, 2),
        ledger_p99=round(percentile(lags, 0.99), 2),
        ledger_max=round(max(lags, default=float("nan")), 2),
        answered_p50=round(percentile(answered, 0.50), 2),
        answered_p95=round(percentile(answered, 0.95), 2),
        feed_status_p50=after.lag_p50_seconds,
        feed_status_p95=after.lag_p95_seconds,
        feed_status_steady_only=run_after != run_before or published >= LAG_WINDOW,
        changes_published=published,
        p95_over_poll_interval=round(p95 / poll_interval, 2),
        write_errors=load.errors,
        cpu_seconds=cpu_spent,
    )


async def _settle(store: Store, load: SteadyLoad, timeout: float) -> None:
    """Until every steady write's event is in the ledger (or ``timeout``)."""
    deadline = time.monotonic() + timeout
    wanted = set(load.answered)
    while time.monotonic() < deadline:
        async with store.engine.connect() as connection:
            rows = await connection.execute(
                sa.select(col(LedgerEvent.event_type), col(LedgerEvent.source_id)).where(
                    col(LedgerEvent.source_id).in_({source for _, source in wanted})
                )
            )
            if wanted <= {(str(t), str(s)) for t, s in rows}:
                return
        await asyncio.sleep(0.5)
    print("  steady: not every event reached the ledger before the timeout")


async def _ledger_lags(
    store: Store, load: SteadyLoad, measure_from: datetime
) -> tuple[list[float], list[float]]:
    """Per event the steady sales made after the warm-up: recorded_at - occurred_at,
    and recorded_at - when the ERP answered the write (where that write is known)."""
    sources = set(load.orders) | set(load.invoices)
    async with store._sessions() as session:  # the benchmark reads the ledger directly
        rows = (
            await session.scalars(
                select(LedgerEvent)
                .where(col(LedgerEvent.event_type).in_([str(t) for t in STEADY_TYPES]))
                .where(col(LedgerEvent.source_id).in_(sources))
                .where(col(LedgerEvent.occurred_at) >= measure_from.replace(microsecond=0))
            )
        ).all()
    lags = [(r.recorded_at - r.occurred_at).total_seconds() for r in rows]
    answered = [
        r.recorded_at.timestamp() - load.answered[(r.event_type, r.source_id)]
        for r in rows
        if r.event_type != EventType.ORDER_ACCEPTED and (r.event_type, r.source_id) in load.answered
    ]
    return lags, answered


# --- the run -----------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> Result:
    load_before = os.getloadavg()[0]
    config = FeedConfig(
        poll_interval=timedelta(seconds=args.poll_seconds),
        overlap=timedelta(minutes=args.overlap_minutes),
        page_size=args.page_size,
    )
    with tempfile.TemporaryDirectory(prefix="syncline-feed-bench-") as tmp:
        workdir = Path(tmp)
        begun = time.perf_counter()
        summary = seed_backlog_file(workdir / "erp.db", BacklogSpec(changes=args.changes))
        seed_seconds = time.perf_counter() - begun
        print(
            f"seeded {summary.changes:,} changes ({summary.orders:,} orders, "
            f"{summary.invoices:,} invoices, {summary.payments:,} payments) "
            f"in {seed_seconds:.1f} s"
        )
        port = free_port()
        with serving(
            _erp_argv(workdir / "erp.db", port), port, workdir / "erp.log", env=_erp_env()
        ) as erp_process:
            url = f"http://{HOST}:{port}"
            drain, lag = await _measure(args, workdir, url, erp_process.pid, summary, config)
    return Result(
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        load_average_before_after=[round(load_before, 2), round(os.getloadavg()[0], 2)],
        changes=args.changes,
        page_size=args.page_size,
        overlap_seconds=config.overlap.total_seconds(),
        seed_seconds=round(seed_seconds, 1),
        backlog=summary.model_dump(mode="json"),
        drain=drain,
        lag=lag,
    )


async def _measure(
    args: argparse.Namespace,
    workdir: Path,
    url: str,
    erp_pid: int,
    summary: BacklogSummary,
    config: FeedConfig,
) -> tuple[Drain, Lag | None]:
    erp = await _erp_client(url, 5)
    start = ChangeCursor(modified_at=summary.first_modified - config.overlap)
    try:
        baseline = None
        if not args.skip_baseline:
            baseline = await _baseline(workdir, erp, start, args.page_size, erp_pid)
        async with temporal(workdir) as (env, temporal_pid):
            pids = {"erp": erp_pid} | ({"temporal": temporal_pid} if temporal_pid else {})
            return await _syncline(
                args, workdir, env.client, erp, url, summary, config, pids, baseline
            )
    finally:
        await erp.aclose()


async def _baseline(
    workdir: Path,
    erp: NetSuiteClient,
    start: ChangeCursor,
    page_size: int,
    erp_pid: int,
) -> BaselineRun:
    store = await _ledger(workdir / "baseline.db")
    try:
        print("baseline: a plain loop, no Temporal ...")
        throughput = await baseline_drain(
            erp, store, start, page_size, Clocks({"erp": erp_pid}, own="worker")
        )
        baseline = BaselineRun(throughput, await ledger_counts(store))
    finally:
        await store.close()
    print(
        f"baseline: {throughput.changes:,} changes, {throughput.events:,} events in "
        f"{throughput.seconds:.1f} s = {throughput.events_per_second:,.0f} events/s; "
        f"ledger {baseline.ledger}"
    )
    return baseline


def last_positions(erp_db: Path) -> dict[ChangeKind, ChangeCursor]:
    """The newest (lastmodifieddate, id) of each backlog kind: the feed is done there."""
    types = {
        ChangeKind.ORDER: "SalesOrd",
        ChangeKind.INVOICE: "CustInvc",
        ChangeKind.PAYMENT: "CustPymt",
    }
    with closing(sqlite3.connect(erp_db)) as conn:
        last = {}
        for kind, type_code in types.items():
            stamp, internal_id = conn.execute(
                "SELECT lastmodifieddate, id FROM txn WHERE type = ? "
                "ORDER BY lastmodifieddate DESC, id DESC LIMIT 1",
                (type_code,),
            ).fetchone()
            modified = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            last[kind] = ChangeCursor(modified_at=modified, id=internal_id)
        return last


async def _syncline(
    args: argparse.Namespace,
    workdir: Path,
    client: Client,
    erp: NetSuiteClient,
    url: str,
    summary: BacklogSummary,
    config: FeedConfig,
    pids: dict[str, int],
    baseline: BaselineRun | None,
) -> tuple[Drain, Lag | None]:
    clocks = Clocks(pids, own="worker")
    store = await _ledger(workdir / "syncline.db")
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        async with feed_workers(client, workdir, erp, store, task_queue):
            print("syncline: ErpChangeFeed on the Temporal dev server ...")
            syncline, progress, handle, stopped = await syncline_drain(
                client,
                store,
                summary,
                workdir / "erp.db",
                task_queue,
                config,
                clocks,
                args.timeout,
            )
            runs, history_events, history_bytes = await feed_runs(client)
            status = None if stopped else await feed_status(handle)
            ledger = await ledger_counts(store)
            drain = Drain(
                syncline=syncline,
                baseline=baseline.throughput if baseline else None,
                ratio=round(syncline.events_per_second / baseline.throughput.events_per_second, 3)
                if baseline
                else None,
                stopped=stopped,
                runs=runs,
                history_events=history_events,
                history_bytes=history_bytes,
                duplicates=status.duplicates if status else -1,
                unmatched=status.unmatched if status else -1,
                ledger=ledger,
                same_events_as_baseline=ledger == baseline.ledger if baseline else None,
                progress=progress,
            )
            _print_drain(drain)
            lag = None
            if stopped:
                return drain, None
            if args.steady_seconds > 0:
                print(f"steady: {args.steady_rate:g} sales/s for {args.steady_seconds:g} s ...")
                load_erp = await _erp_client(url, 4)
                try:
                    lag = await steady_lag(
                        await make_load(load_erp),
                        store,
                        handle,
                        args.steady_rate,
                        args.steady_seconds,
                        args.warmup_seconds,
                        args.poll_seconds,
                        clocks,
                    )
                finally:
                    await load_erp.aclose()
                _print_lag(lag)
            await handle.terminate("benchmark over")
            return drain, lag
    finally:
        await store.close()


def _print_drain(drain: Drain) -> None:
    s, b = drain.syncline, drain.baseline
    print(f"\n== backlog drain: {s.changes:,} changes, {s.events:,} ledger events ==")
    print(
        f"syncline : {s.seconds:.1f} s = {s.events_per_second:,.0f} events/s, "
        f"{s.changes_per_second:,.0f} changes/s; CPU s {s.cpu_seconds}"
    )
    if b is not None:
        print(
            f"baseline : {b.seconds:.1f} s = {b.events_per_second:,.0f} events/s, "
            f"{b.changes_per_second:,.0f} changes/s; CPU s {b.cpu_seconds}"
        )
        print(f"ratio syncline/baseline: {drain.ratio:.3f}")
    if drain.stopped:
        print(f"THE FEED STOPPED before the backlog was in: {drain.stopped}")
    print(
        f"feed runs: {drain.runs} ({drain.runs - 1} continue-as-new), "
        f"{drain.history_events:,} history events, {drain.history_bytes / 1e6:.1f} MB; "
        f"duplicates {drain.duplicates}, unmatched (no deal running) {drain.unmatched:,}"
    )
    same = {True: "same as the baseline's", False: "DIFFERS from the baseline's", None: ""}
    print(f"ledger: {drain.ledger} {same[drain.same_events_as_baseline]}")


def _print_lag(lag: Lag) -> None:
    print(
        f"\n== steady state: {lag.rate_sales_per_second:g} sales/s "
        f"(order, invoice, payment), poll every {lag.poll_interval_seconds:g} s =="
    )
    print(
        f"ledger lag (recorded - occurred), {lag.events} events: p50 {lag.ledger_p50:.2f} s, "
        f"p95 {lag.ledger_p95:.2f} s, p99 {lag.ledger_p99:.2f} s, max {lag.ledger_max:.2f} s"
    )
    print(f"from the ERP's answer: p50 {lag.answered_p50:.2f} s, p95 {lag.answered_p95:.2f} s")
    window = "steady changes only" if lag.feed_status_steady_only else "INCLUDES drain changes"
    print(
        f"FeedStatus: p50 {lag.feed_status_p50} s, p95 {lag.feed_status_p95} s "
        f"(window of {LAG_WINDOW}: {window}; {lag.changes_published} published in the phase)"
    )
    print(
        f"lag p95 / poll interval: {lag.p95_over_poll_interval:.2f}; "
        f"events the feed recorded {lag.feed_recorded}; write errors {lag.write_errors}; "
        f"CPU s {lag.cpu_seconds}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--page-size", type=int, default=200)
    parser.add_argument("--overlap-minutes", type=float, default=5.0)
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    parser.add_argument("--steady-seconds", type=float, default=60.0, help="0: skip")
    parser.add_argument("--warmup-seconds", type=float, default=20.0)
    parser.add_argument("--steady-rate", type=float, default=5.0, help="sales (invoices) per s")
    parser.add_argument("--timeout", type=float, default=1800.0, help="for the drain")
    parser.add_argument(
        "--skip-baseline", action="store_true", help="the feed alone (e.g. under py-spy)"
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    # The worker's warnings (failed workflow tasks, retried activities) are findings too.
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    try:
        import uvloop  # as the worker process runs (workers/cli.py)

        loop_factory: Any = uvloop.new_event_loop
    except ImportError:
        loop_factory = None
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        result = runner.run(run(args))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=2) + "\n")
    print(f"\nload average before/after: {result.load_average_before_after}")


if __name__ == "__main__":
    main()
