"""The worker process: runs the workflows and the activities that call the CRM and ERP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.worker import PollerBehaviorAutoscaling, Worker

from activities.change_publisher import ChangePublisher
from activities.crm import CrmActivities
from activities.crm_stream import ChangeEventSource, CrmStreamActivities
from activities.crm_triggers import CrmTriggerRouter
from activities.erp import ErpActivities
from activities.errors import UnexpectedErrors
from activities.feed import FeedActivities
from activities.ledger import LedgerActivities
from connectors.protocols import CrmClient, ErpClient
from models.events import SourceSystem
from reconciliation.activities import ReconcileActivities
from reconciliation.gaps import StreamGapActivities
from reconciliation.schedule import ReconcileTiming, ensure_reconcile_schedule
from reconciliation.workflow import Reconcile
from store import Store
from workers.activity_metrics import ActivityMetrics
from workers.metrics_export import TemporalMetrics, configure_metrics, serve_metrics
from workers.settings import Settings
from workers.startup import connect_when_ready
from workers.telemetry import configure_tracing
from workers.wiring import build_crm, build_erp, build_governor, build_pubsub, build_store
from workflows.deal.workflow import CloseWonToOrder
from workflows.feed import contract as feed
from workflows.feed.workflow import ErpChangeFeed
from workflows.mirror.workflow import ErpMirror
from workflows.renewal.workflow import Renewal
from workflows.stream import contract as stream
from workflows.stream.workflow import CrmChangeStream
from workflows.task_queues import erp_task_queue

log = logging.getLogger(__name__)

WORKFLOWS: Sequence[type] = (
    CloseWonToOrder,
    ErpChangeFeed,
    ErpMirror,
    Renewal,
    Reconcile,
    CrmChangeStream,
)

# On SIGTERM, let in-flight CRM/ERP calls finish rather than cancel them mid-write (a
# cancelled ERP call is safe to retry, but a finished one costs nothing more).
GRACEFUL_SHUTDOWN = timedelta(seconds=25)


def build_workers(
    client: Client,
    *,
    task_queue: str,
    crm: CrmClient,
    erp: ErpClient,
    erp_system: SourceSystem,
    store: Store,
    erp_max_concurrency: int,
    renewal_lead: timedelta = timedelta(days=90),
    reconcile_sla: timedelta = timedelta(minutes=15),
    max_cached_workflows: int = 1000,
    unexpected_error_attempts: int = 5,
    change_events: ChangeEventSource | None = None,
    crm_client_name: str = "syncline",
) -> list[Worker]:
    """Two workers on one client: the main queue (workflows, CRM and store activities)
    and the ERP queue, whose activity slots are bounded by the ERP concurrency limit so
    that deals beyond it wait in Temporal's queue rather than inside a running activity.
    ``max_cached_workflows`` bounds the runs kept in memory between tasks (0: every task
    replays its history, and no task waits on this worker's sticky queue).

    The slots are four times the limit: the governor inside the connector enforces the
    limit itself, and the activities waiting at it keep the ERP busy through the dispatch
    gap between one activity finishing and the next arriving from the queue, and while
    others are between their calls. During a burst of deals the ledger writes between a
    deal's ERP calls slow down (every process of the stack wants the CPU then), and with
    twice the limit the pool was 40-70 % busy through most of it; the benchmark measured
    7.9-8.8 deals/s with twice and 8.4-9.1 with four times (``benchmarks/README.md``).
    The price is longer waits inside a running activity: with three calls a deal, a
    queued activity outlasts ``CALL_TIMEOUT`` (2 min) only if the ERP takes over 10 s a
    call, and then it is retried like any timed-out call (the calls are idempotent).

    Workflow tasks are polled with autoscaling pollers. With a fixed count the SDK keeps
    one poller on the shared queue (four on the sticky one), and every new deal's first
    task arrives there: during a burst of 300 closed-won deals the first tasks waited a
    median 2-6 s for that one poller; with autoscaling, 0.3-0.8 s. Temporal's docs give
    server 1.28 as the first to send the scaling hints; the dev server pinned here is
    newer, and what the SDK does against an older cluster has not been tried here.

    ``change_events`` (the CRM's Pub/Sub API) adds the CRM change stream's reading
    activity; without it no stream can read on this worker.
    """
    crm_activities = CrmActivities(crm, store)
    ledger = LedgerActivities(store)
    erp_activities = ErpActivities(erp, store, erp_system)
    feed_activities = FeedActivities(
        ChangePublisher(client, store, task_queue=task_queue, renewal_lead=renewal_lead, crm=crm)
    )
    reconcile = ReconcileActivities(
        crm=crm,
        erp=erp,
        erp_system=erp_system,
        store=store,
        client=client,
        task_queue=task_queue,
        sla=reconcile_sla,
        renewal_lead=renewal_lead,
    )
    stream_activities = []
    if change_events is not None:
        router = CrmTriggerRouter(
            client,
            store,
            task_queue=task_queue,
            erp_system=erp_system.value,
            crm_client_name=crm_client_name,
        )
        stream_activities = [CrmStreamActivities(change_events, router, store).follow_stream]
    gaps = StreamGapActivities(client, task_queue)
    interceptors = [ActivityMetrics(), UnexpectedErrors(unexpected_error_attempts)]
    main = Worker(
        client,
        task_queue=task_queue,
        interceptors=interceptors,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
        max_cached_workflows=max_cached_workflows,
        workflow_task_poller_behavior=PollerBehaviorAutoscaling(),
        workflows=list(WORKFLOWS),
        activities=[
            crm_activities.fetch_opportunity,
            crm_activities.write_order_status,
            crm_activities.write_billing_status,
            crm_activities.mirror_customer,
            crm_activities.mirror_item,
            crm_activities.open_renewal,
            feed_activities.publish_changes,
            ledger.record_event,
            ledger.record_order,
            ledger.open_exception,
            ledger.resolve_exception,
            reconcile.save_report,
            reconcile.compare,
            reconcile.repair,
            reconcile.finish,
            gaps.reconcile_gap,
            *stream_activities,
        ],
    )
    erp_worker = Worker(
        client,
        task_queue=erp_task_queue(task_queue),
        interceptors=interceptors,
        activities=[
            erp_activities.place_order,
            erp_activities.change_kinds,
            erp_activities.fetch_changes,
            erp_activities.cancel_order,
            erp_activities.amend_order,
        ],
        max_concurrent_activities=4 * erp_max_concurrency,
        graceful_shutdown_timeout=GRACEFUL_SHUTDOWN,
    )
    return [main, erp_worker]


async def ensure_change_feed(
    client: Client, *, task_queue: str, erp_system: SourceSystem, poll_interval: timedelta
) -> None:
    """Start the ERP change feed unless it already runs (one per ERP, whichever worker
    gets there first)."""
    await feed.start_feed(
        client, task_queue, erp_system.value, feed.FeedConfig(poll_interval=poll_interval)
    )


async def ensure_crm_streams(client: Client, settings: Settings) -> None:
    """Start each configured channel's change stream unless it runs already."""
    config = stream.StreamConfig(
        batch_size=settings.crm_stream_batch_size,
        window=timedelta(seconds=settings.crm_stream_window_seconds),
    )
    for channel in settings.stream_channels:
        await stream.start_stream(client, settings.task_queue, channel, config, "salesforce")


async def run_worker(settings: Settings, *, stop: asyncio.Event | None = None) -> None:
    configure_tracing(settings, "worker")
    temporal_metrics = None
    if configure_metrics(settings, "worker") is not None:
        temporal_metrics = TemporalMetrics()
        serve_metrics(settings)
    store = build_store(settings)
    await store.migrate()
    governor = build_governor(settings)
    crm = build_crm(settings)
    pubsub = build_pubsub(settings, crm)
    erp, erp_system = build_erp(settings, governor)
    client = await connect_when_ready(
        settings, runtime=temporal_metrics.runtime if temporal_metrics else None
    )
    workers = build_workers(
        client,
        task_queue=settings.task_queue,
        crm=crm,
        erp=erp,
        erp_system=erp_system,
        store=store,
        erp_max_concurrency=settings.erp_max_concurrency,
        renewal_lead=timedelta(days=settings.renewal_lead_days),
        reconcile_sla=timedelta(minutes=settings.reconcile_sla_minutes),
        unexpected_error_attempts=settings.unexpected_error_attempts,
        change_events=pubsub,
        crm_client_name=settings.crm_client_name,
    )
    if settings.reconcile_schedule:
        await ensure_reconcile_schedule(
            client,
            settings.task_queue,
            ReconcileTiming(
                cron=settings.reconcile_cron,
                time_zone=settings.reconcile_timezone,
                catchup_window=timedelta(hours=settings.reconcile_catchup_hours),
            ),
        )
    await ensure_change_feed(
        client,
        task_queue=settings.task_queue,
        erp_system=erp_system,
        poll_interval=timedelta(seconds=settings.erp_poll_seconds),
    )
    if pubsub is not None:
        await ensure_crm_streams(client, settings)
    log.info("worker polling %s and %s", settings.task_queue, erp_task_queue(settings.task_queue))
    try:
        async with temporal_metrics.draining() if temporal_metrics else contextlib.nullcontext():
            runs = [asyncio.create_task(worker.run()) for worker in workers]
            if stop is None:
                await asyncio.gather(*runs)
            else:
                await stop.wait()
    finally:
        for worker in workers:
            await worker.shutdown()
        if pubsub is not None:
            await pubsub.aclose()
        await crm.aclose()
        await erp.aclose()
        await store.close()
