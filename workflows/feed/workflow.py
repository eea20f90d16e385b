"""ErpChangeFeed: one long-running run per ERP that turns ERP changes into events.

Each poll reads, kind by kind (customers, items, orders, invoices, subscriptions), the
ERP's changes in (modification time, id) order from that kind's durable cursor, and
publishes every new snapshot: the business events it makes go into the ledger, and the
workflows it concerns get a signal (the deal of an order or invoice, the mirror of a
customer or item, the renewal of a subscription). Then it sleeps. Two things keep it
from losing updates:

- the keyset cursor (time *and* id), so records sharing a timestamp across a page
  boundary are all read;
- an overlap window re-read on every poll, so a change committed late with an older
  timestamp (Tryton stamps a transaction's start; clocks drift) is still seen.

What the overlap re-reads is recognised by a version key per record and not sent
again; the ledger refuses a fact it holds and the workflows ignore stale snapshots
anyway. The run continues as new every few hundred polls, or sooner when a backlog
makes its history long, carrying cursors and seen keys.

Runs started before the feed read every kind (``FEED_KINDS_PATCH``) keep reading
invoices only until they continue as new.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.erp import ErpActivities
    from activities.feed import FeedActivities
    from models.billing import ChangeCursor, InvoiceSnapshot
    from models.changes import ChangeKind, ErpChange
    from models.events import SourceSystem
    from models.messages import (
        DeliverInvoiceChangesInput,
        FetchChangesInput,
        FetchInvoiceChangesInput,
        InvoiceDelivery,
        PublishChangesInput,
    )
    from models.types import UtcDatetime
    from models.workflow_ids import close_won_workflow_id
    from workflows.lag import LagWindow
    from workflows.task_queues import erp_task_queue

FEED_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
CALL_TIMEOUT = timedelta(minutes=2)
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
FEED_KINDS_PATCH = "feed-all-kinds-v1"
# Masters before the records that name them, orders before their invoices.
KIND_ORDER = (
    ChangeKind.CUSTOMER,
    ChangeKind.ITEM,
    ChangeKind.ORDER,
    ChangeKind.INVOICE,
    ChangeKind.SUBSCRIPTION,
)
# Continue as new past this many history events or bytes (or when the server says
# so): a backlog of thousands of pages must not grow one run's history without bound,
# and every page is in it twice (read, then published), so bytes run out first.
HISTORY_LIMIT = 10_000
HISTORY_BYTES = 8 * 1024 * 1024
# Seen keys carried per kind: enough for any overlap window in steady state; beyond
# it a re-read is published again and the ledger refuses the repeat.
SEEN_LIMIT = 5_000


def erp_change_feed_workflow_id(erp_system: str) -> str:
    return f"erp-change-feed:{erp_system}"


class FeedConfig(BaseModel):
    poll_interval: timedelta = timedelta(seconds=30)
    overlap: timedelta = timedelta(minutes=5)
    page_size: int = 200
    polls_per_run: int = 200


class FeedInput(BaseModel):
    erp_system: str
    config: FeedConfig = FeedConfig()
    cursor: ChangeCursor | None = None
    seen: dict[str, str] = {}
    """Invoice id → version key, for what lies inside the overlap window."""
    delivered: int = 0
    unmatched: int = 0
    cursors: dict[ChangeKind, ChangeCursor] = {}
    seen_by_kind: dict[ChangeKind, dict[str, str]] = {}
    """Per kind, record id → version key, for what lies inside the overlap window."""
    recorded: int = 0
    duplicates: int = 0


class StreamStatus(BaseModel):
    cursor: ChangeCursor | None = None
    published: int = 0


class FeedStatus(BaseModel):
    cursor: ChangeCursor | None
    last_poll_at: UtcDatetime | None
    lag_seconds: float | None
    """From the ERP's timestamp of the newest change delivered to the poll that read it."""
    delivered: int
    unmatched: int
    polls: int
    recorded: int = 0
    """Events the feed put in the ledger."""
    duplicates: int = 0
    """Events it found already there (the same fact read again)."""
    lag_p50_seconds: float | None = None
    lag_p95_seconds: float | None = None
    """Over the last changes published: ERP modification time → event in the ledger."""
    streams: dict[ChangeKind, StreamStatus] = {}


_STAMP = "%Y-%m-%dT%H:%M:%S.%f"  # fixed width, so version keys sort by time as text


def _version(invoice: InvoiceSnapshot) -> str:
    stamp = invoice.modified_at.strftime(_STAMP)
    return f"{stamp}|{invoice.status}|{invoice.amount_due.amount}"


@workflow.defn
class ErpChangeFeed:
    @workflow.init
    def __init__(self, request: FeedInput) -> None:
        self._status = FeedStatus(
            cursor=request.cursor,
            last_poll_at=None,
            lag_seconds=None,
            delivered=request.delivered,
            unmatched=request.unmatched,
            polls=0,
            recorded=request.recorded,
            duplicates=request.duplicates,
        )
        self._lags = LagWindow()

    @workflow.query
    def status(self) -> FeedStatus:
        return self._status

    @workflow.run
    async def run(self, request: FeedInput) -> None:
        if workflow.patched(FEED_KINDS_PATCH):
            await self._run_all_kinds(request)
            return
        config = request.config
        # A new feed follows what changes from now on (minus the overlap); history
        # before it is reconciliation's to compare, not thousands of signals.
        cursor = request.cursor or ChangeCursor(modified_at=workflow.now() - config.overlap)
        seen = dict(request.seen)
        for _ in range(config.polls_per_run):
            cursor = await self._poll(request.erp_system, config, cursor, seen)
            await workflow.sleep(config.poll_interval)
        workflow.continue_as_new(
            request.model_copy(
                update={
                    "cursor": cursor,
                    "seen": seen,
                    "delivered": self._status.delivered,
                    "unmatched": self._status.unmatched,
                }
            )
        )

    async def _poll(
        self, erp_system: str, config: FeedConfig, cursor: ChangeCursor, seen: dict[str, str]
    ) -> ChangeCursor:
        window_start = cursor.modified_at - config.overlap
        position = ChangeCursor(modified_at=window_start)
        newest = cursor
        while True:
            page = await workflow.execute_activity_method(
                ErpActivities.fetch_invoice_changes,
                FetchInvoiceChangesInput(after=position, limit=config.page_size),
                task_queue=erp_task_queue(workflow.info().task_queue),
                start_to_close_timeout=CALL_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=FEED_RETRY,
            )
            fresh = [i for i in page.invoices if seen.get(i.id) != _version(i)]
            await self._deliver(fresh)
            if fresh:
                newest_fresh = max(i.modified_at for i in fresh)
                self._status.lag_seconds = (workflow.now() - newest_fresh).total_seconds()
            for invoice in fresh:
                seen[invoice.id] = _version(invoice)
            if page.invoices:
                position = page.invoices[-1].position
                if _after(position, newest):
                    newest = position
            if not page.has_more:
                break
        # Keys older than the next window can no longer be re-read: forget them.
        horizon = (newest.modified_at - config.overlap).strftime(_STAMP)
        for invoice_id in [k for k, v in seen.items() if v.split("|", 1)[0] < horizon]:
            del seen[invoice_id]
        self._status.cursor = newest
        self._status.last_poll_at = workflow.now()
        self._status.polls += 1
        return newest

    async def _deliver(self, invoices: list[InvoiceSnapshot]) -> None:
        deliveries = [
            InvoiceDelivery(workflow_id=close_won_workflow_id(i.crm_opportunity_id), invoice=i)
            for i in invoices
            if i.crm_opportunity_id
        ]
        self._status.unmatched += len(invoices) - len(deliveries)
        if not deliveries:
            return
        result = await workflow.execute_activity_method(
            FeedActivities.deliver_invoice_changes,
            DeliverInvoiceChangesInput(deliveries=deliveries),
            start_to_close_timeout=CALL_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=FEED_RETRY,
        )
        self._status.delivered += result.delivered
        self._status.unmatched += len(result.unmatched)

    # -- every kind (FEED_KINDS_PATCH) ----------------------------------------------------

    async def _run_all_kinds(self, request: FeedInput) -> None:
        config = request.config
        kinds = await workflow.execute_activity_method(
            ErpActivities.change_kinds,
            task_queue=erp_task_queue(workflow.info().task_queue),
            start_to_close_timeout=CALL_TIMEOUT,
            retry_policy=FEED_RETRY,
        )
        # A new feed follows what changes from now on (minus the overlap); history
        # before it is reconciliation's to compare, not thousands of signals.
        start = ChangeCursor(modified_at=workflow.now() - config.overlap)
        cursors: dict[ChangeKind, ChangeCursor] = {}
        seen: dict[ChangeKind, dict[str, str]] = {}
        for kind in (k for k in KIND_ORDER if k in kinds):
            carried = request.cursor if kind is ChangeKind.INVOICE else None
            cursors[kind] = request.cursors.get(kind) or carried or start
            seen[kind] = dict(request.seen_by_kind.get(kind, {}))
            self._status.streams[kind] = StreamStatus(cursor=cursors[kind])
        system = SourceSystem(request.erp_system)
        polls = 0
        while polls < config.polls_per_run and not self._history_full():
            for kind in cursors:
                cursors[kind] = await self._poll_kind(system, kind, config, cursors[kind], seen)
                if self._history_full():
                    break
            else:
                polls += 1
                self._status.polls += 1
                self._status.last_poll_at = workflow.now()
                await workflow.sleep(config.poll_interval)
        workflow.continue_as_new(
            request.model_copy(
                update={
                    "cursor": None,
                    "seen": {},
                    "cursors": cursors,
                    "seen_by_kind": seen,
                    "delivered": self._status.delivered,
                    "unmatched": self._status.unmatched,
                    "recorded": self._status.recorded,
                    "duplicates": self._status.duplicates,
                }
            )
        )

    def _history_full(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > HISTORY_LIMIT
            or info.get_current_history_size() > HISTORY_BYTES
        )

    async def _poll_kind(
        self,
        system: SourceSystem,
        kind: ChangeKind,
        config: FeedConfig,
        cursor: ChangeCursor,
        seen_by_kind: dict[ChangeKind, dict[str, str]],
    ) -> ChangeCursor:
        """Read one kind from the overlap window on; the newest position published."""
        seen = seen_by_kind[kind]
        position = ChangeCursor(modified_at=cursor.modified_at - config.overlap)
        newest = cursor
        while True:
            page = await workflow.execute_activity_method(
                ErpActivities.fetch_changes,
                FetchChangesInput(kind=kind, after=position, limit=config.page_size),
                task_queue=erp_task_queue(workflow.info().task_queue),
                start_to_close_timeout=CALL_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=FEED_RETRY,
            )
            fresh = [c for c in page.changes if seen.get(c.id) != _change_version(c)]
            await self._publish(system, kind, fresh)
            for change in fresh:
                seen[change.id] = _change_version(change)
            if page.changes:
                position = page.changes[-1].position
                if _after(position, newest):
                    newest = position
            if not page.has_more or self._history_full():
                break
        _forget_before(seen, newest.modified_at - config.overlap)
        self._status.streams[kind].cursor = newest
        if kind is ChangeKind.INVOICE:
            self._status.cursor = newest
        return newest

    async def _publish(
        self, system: SourceSystem, kind: ChangeKind, changes: list[ErpChange]
    ) -> None:
        if not changes:
            return
        result = await workflow.execute_activity_method(
            FeedActivities.publish_changes,
            PublishChangesInput(erp_system=system, changes=changes),
            start_to_close_timeout=CALL_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=FEED_RETRY,
        )
        self._status.streams[kind].published += len(changes)
        self._status.recorded += result.recorded
        self._status.duplicates += result.duplicates
        self._status.delivered += result.signalled
        self._status.unmatched += len(result.unmatched)
        self._lags.add(result.lag_seconds)
        self._status.lag_seconds = result.lag_seconds[-1] if result.lag_seconds else None
        self._status.lag_p50_seconds = self._lags.quantile(0.50)
        self._status.lag_p95_seconds = self._lags.quantile(0.95)


def _change_version(change: ErpChange) -> str:
    """Time first (so keys age out by text comparison), then the content: two versions
    stamped in the same instant are still two versions."""
    digest = hashlib.sha256(change.model_dump_json().encode()).hexdigest()[:16]
    return f"{change.modified_at.strftime(_STAMP)}|{digest}"


def _forget_before(seen: dict[str, str], horizon_at: datetime) -> None:
    """Drop keys older than the next overlap window (they cannot be re-read), and the
    oldest beyond ``SEEN_LIMIT``."""
    horizon = horizon_at.strftime(_STAMP)
    for record_id in [k for k, v in seen.items() if v.split("|", 1)[0] < horizon]:
        del seen[record_id]
    if len(seen) > SEEN_LIMIT:
        for record_id, _ in sorted(seen.items(), key=lambda kv: kv[1])[: len(seen) - SEEN_LIMIT]:
            del seen[record_id]


def _after(a: ChangeCursor, b: ChangeCursor) -> bool:
    return (a.modified_at, a.id) > (b.modified_at, b.id)
