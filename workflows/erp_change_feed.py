"""ErpChangeFeed: one long-running run per ERP that turns ERP changes into signals.

Each poll reads the ERP's invoice changes in (modification time, id) order from the
durable cursor, hands every new snapshot to the deal workflow of the opportunity it
bills, and sleeps. Two things keep it from losing updates:

- the keyset cursor (time *and* id), so records sharing a timestamp across a page
  boundary are all read;
- an overlap window re-read on every poll, so a change committed late with an older
  timestamp (Tryton stamps a transaction's start; clocks drift) is still seen.

What the overlap re-reads is recognised by a version key per invoice and not sent
again; the deals ignore stale or repeated snapshots anyway. The run continues as new
every few hundred polls so its history stays small, carrying cursor and seen keys.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.erp import ErpActivities
    from activities.feed import FeedActivities
    from models.billing import ChangeCursor, InvoiceSnapshot
    from models.messages import (
        DeliverInvoiceChangesInput,
        FetchInvoiceChangesInput,
        InvoiceDelivery,
    )
    from models.types import UtcDatetime
    from workflows.ids import close_won_workflow_id
    from workflows.task_queues import erp_task_queue

FEED_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
CALL_TIMEOUT = timedelta(minutes=2)
HEARTBEAT_TIMEOUT = timedelta(seconds=30)


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


class FeedStatus(BaseModel):
    cursor: ChangeCursor | None
    last_poll_at: UtcDatetime | None
    lag_seconds: float | None
    """From the ERP's timestamp of the newest change delivered to the poll that read it."""
    delivered: int
    unmatched: int
    polls: int


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
        )

    @workflow.query
    def status(self) -> FeedStatus:
        return self._status

    @workflow.run
    async def run(self, request: FeedInput) -> None:
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


def _after(a: ChangeCursor, b: ChangeCursor) -> bool:
    return (a.modified_at, a.id) > (b.modified_at, b.id)
