"""Publishing ERP changes: a signal to each workflow a change concerns (the deal, the
customer or item mirror, the renewal), and their business events into the ledger.

One writer per fact. A running deal records the facts about its own order (it holds
the deal's correlation id, and the order.accepted it recorded on placing the order);
the feed records what no running deal will: orders, invoices and payments born in the
ERP or arriving after their deal stopped following, and every customer version.
Either way an event's id is the fact, so a page read twice is one event.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta

from temporalio.client import Client

from models.billing import InvoiceSnapshot
from models.changes import (
    CustomerChange,
    ErpChange,
    InvoiceChange,
    ItemChange,
    OrderChange,
    OrderStatus,
    SubscriptionChange,
)
from models.events import BusinessEvent, SourceSystem
from models.facts import (
    OrderFacts,
    customer_upserted_event,
    invoice_events,
    order_accepted_event,
    order_cancelled_event,
)
from models.lifecycle import MirrorInput, RenewalInput
from models.messages import PublishChangesResult
from models.types import utc_now
from store import Store
from telemetry.metrics import ERP_COMMIT_TO_LEDGER, EVENT_LAG
from workflows.contract import PayloadT, Signal
from workflows.deal import contract as deal
from workflows.mirror import contract as mirror
from workflows.renewal import contract as renewal


class ChangePublisher:
    """The one path from an ERP record to the workflows it concerns and the ledger:
    the change feed publishes through it, and reconciliation hands it what it repairs."""

    def __init__(
        self,
        client: Client,
        store: Store | None = None,
        *,
        task_queue: str = "",
        renewal_lead: timedelta = timedelta(days=90),
    ) -> None:
        self._client = client
        self._store = store
        self._task_queue = task_queue
        self._renewal_lead = renewal_lead

    async def publish(
        self,
        changes: Sequence[ErpChange],
        erp_system: SourceSystem,
        correlation_id: str,
        on_progress: Callable[[int], None] | None = None,
    ) -> PublishChangesResult:
        """The feed's one path from an ERP record to workflows and the ledger;
        reconciliation hands the records it repairs to it too."""
        result = PublishChangesResult()
        for change in changes:
            taken_by_deal = await self._signal(change, erp_system, correlation_id, result)
            if not taken_by_deal:
                for event in await self._events_for(change, erp_system, correlation_id):
                    if await self._ledger().append_event(event):
                        result.recorded += 1
                    else:
                        result.duplicates += 1
            lag = (utc_now() - change.modified_at).total_seconds()
            result.lag_seconds.append(lag)
            EVENT_LAG.record(
                lag, {"syncline.lag": ERP_COMMIT_TO_LEDGER, "syncline.erp": erp_system}
            )
            if on_progress is not None:
                on_progress(len(result.lag_seconds))
        return result

    def _ledger(self) -> Store:
        if self._store is None:
            raise RuntimeError("ChangePublisher needs the store to publish changes")
        return self._store

    async def _events_for(
        self, change: ErpChange, system: SourceSystem, correlation_id: str
    ) -> list[BusinessEvent]:
        now = utc_now()
        if isinstance(change, OrderChange):
            order = OrderFacts.of_change(change)
            if change.status is OrderStatus.CANCELLED:
                return [order_cancelled_event(order, system, correlation_id, now)]
            if change.crm_opportunity_id:
                return []  # placed by a deal, which recorded order.accepted on placing it
            return [order_accepted_event(order, system, correlation_id, now)]
        if isinstance(change, InvoiceChange):
            return await self._invoice_events(change, system, correlation_id)
        if isinstance(change, CustomerChange):
            return [customer_upserted_event(change, system, correlation_id, now)]
        return []  # items and subscriptions are their workflows' to act on

    async def _invoice_events(
        self, invoice: InvoiceChange, system: SourceSystem, correlation_id: str
    ) -> list[BusinessEvent]:
        paid_before = await self._ledger().paid_to_date(system, invoice.id)
        return invoice_events(invoice, paid_before, system, correlation_id, utc_now())

    async def _signal(
        self,
        change: ErpChange,
        system: SourceSystem,
        correlation_id: str,
        result: PublishChangesResult,
    ) -> bool:
        """Hand the change to its workflow; whether a running deal took it (and so
        records its facts itself)."""
        if isinstance(change, InvoiceChange) and change.crm_opportunity_id:
            snapshot = InvoiceSnapshot.model_validate(change.model_dump(exclude={"kind"}))
            return await self._signal_deal(
                deal.INVOICE_CHANGED, change.crm_opportunity_id, snapshot, change.id, result
            )
        if (
            isinstance(change, OrderChange)
            and change.crm_opportunity_id
            and change.status is OrderStatus.CANCELLED
        ):
            return await self._signal_deal(
                deal.ORDER_CHANGED, change.crm_opportunity_id, change, change.id, result
            )
        if isinstance(change, CustomerChange | ItemChange):
            await mirror.signal_with_start_mirror(
                self._client,
                self._task_queue,
                MirrorInput(
                    erp_system=system,
                    kind=change.kind,
                    erp_id=change.id,
                    correlation_id=correlation_id,
                ),
                mirror.CHANGED,
                change,
            )
            result.signalled += 1
        elif isinstance(change, SubscriptionChange):
            await renewal.signal_with_start_renewal(
                self._client,
                self._task_queue,
                RenewalInput(
                    erp_system=system,
                    subscription_id=change.id,
                    lead=self._renewal_lead,
                    correlation_id=correlation_id,
                ),
                change,
            )
            result.signalled += 1
        return False

    async def _signal_deal(
        self,
        signal: Signal[PayloadT],
        opportunity_id: str,
        payload: PayloadT,
        record_id: str,
        result: PublishChangesResult,
    ) -> bool:
        if not await signal.send_if_running(
            deal.deal_handle(self._client, opportunity_id), payload
        ):
            # Changed after the deal stopped following (or its deal never reached
            # Syncline): the feed records the facts; reconciliation compares the rest.
            result.unmatched.append(record_id)
            return False
        result.signalled += 1
        return True
