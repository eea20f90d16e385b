"""Publishing ERP changes: their business events into the ledger, then a signal to each
workflow a change concerns (the deal, the customer or item mirror, the renewal).

The ERP owns orders, invoices and payments, so the feed records every fact it reads,
whoever caused it and whether or not a deal is running: a finance user's edit or
cancellation, an invoice of another order of the opportunity, a payment while the
deal is parked. A running deal records the facts it causes itself (the order it
placed, cancelled or amended) by the same rules (``activities.order_ledger``), and an
event's id is the fact, so whichever writer is first, each fact is one event.
Recording comes before the signal: a deal that reads the ledger after a signal sees at
least what the feed saw. An order that changes after its deal's last run ended has no
run to show it on the opportunity: the publisher writes its status back itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from decimal import Decimal

from temporalio.client import Client

from activities.erp_facts import (
    booked_from_this_version,
    record_credit_memo,
    record_invoice,
    record_order,
    record_payment,
)
from activities.fulfilment_write_back import write_back_fulfilment
from connectors.errors import NotFoundError
from connectors.protocols import CrmClient
from models.billing import InvoiceSnapshot
from models.changes import (
    CreditMemoChange,
    CustomerChange,
    ErpChange,
    FulfilmentChange,
    InvoiceChange,
    ItemChange,
    OrderChange,
    PaymentChange,
    SubscriptionChange,
)
from models.crm import OpportunityOrderUpdate
from models.events import EventType, SourceSystem
from models.facts import OrderFacts, customer_upserted_event
from models.lifecycle import MirrorInput, RenewalInput
from models.messages import PublishChangesResult
from models.order_progress_facts import order_fulfilled_event
from models.types import utc_now
from store import Store
from telemetry.metrics import ERP_COMMIT_TO_LEDGER, EVENT_LAG
from workflows.contract import PayloadT, Signal
from workflows.deal import contract as deal
from workflows.mirror import contract as mirror
from workflows.renewal import contract as renewal

SettlingRecords = Callable[[Sequence[str]], Awaitable[list[ErpChange]]]
"""The ERP's credit memos and payments applied to some invoices (``ErpClient.settling_records``)."""

# Kinds whose every read records a fact (a second read of one is a duplicate). Credit
# memos and payments reach the deal through the invoices they settle: applying one
# changes the invoice, whose snapshot states its credits and cash.
_RECORDED_KINDS = (
    OrderChange,
    FulfilmentChange,
    InvoiceChange,
    CustomerChange,
    CreditMemoChange,
    PaymentChange,
)


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
        crm: CrmClient | None = None,
        settling_records: SettlingRecords | None = None,
    ) -> None:
        self._client = client
        self._store = store
        self._crm = crm
        self._settling_records = settling_records
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
            recorded = await self._record(change, erp_system, correlation_id)
            if recorded:
                result.recorded += recorded
            elif isinstance(change, _RECORDED_KINDS):
                result.duplicates += 1  # read before: the ledger holds all it says
            if not recorded and await self._its_deal_read_it(change, erp_system):
                result.known_to_deal += 1
            else:
                await self._signal(change, erp_system, correlation_id, result)
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

    async def _record(self, change: ErpChange, system: SourceSystem, correlation_id: str) -> int:
        """The facts the ledger does not yet hold of the change; how many."""
        now = utc_now()
        if isinstance(change, OrderChange):
            return await record_order(
                self._ledger(), OrderFacts.of_change(change), system, correlation_id, now
            )
        if isinstance(change, InvoiceChange):
            snapshot = InvoiceSnapshot.model_validate(change.model_dump(exclude={"kind"}))
            recorded = await record_invoice(self._ledger(), snapshot, system, correlation_id, now)
            return recorded + await self._record_settling(snapshot, system, correlation_id)
        if isinstance(change, CustomerChange):
            event = customer_upserted_event(change, system, correlation_id, now)
            return int(await self._ledger().append_event(event))
        if isinstance(change, FulfilmentChange):
            event = order_fulfilled_event(change, system, correlation_id, now)
            return int(await self._ledger().append_event(event))
        if isinstance(change, CreditMemoChange):
            return await record_credit_memo(self._ledger(), change, system, correlation_id, now)
        if isinstance(change, PaymentChange):
            return await record_payment(self._ledger(), change, system, correlation_id, now)
        return 0  # items and subscriptions are their workflows' to act on

    async def _its_deal_read_it(self, change: ErpChange, system: SourceSystem) -> bool:
        """An order in the very version its deal read when it placed or amended it (and
        booked it from): the deal has nothing to learn from it, and a signal would cost
        its history four events and a billable action (issue 22). The feed's first read
        of an order it books itself is news, and signalled."""
        if not isinstance(change, OrderChange) or not change.crm_opportunity_id:
            return False
        return await booked_from_this_version(self._ledger(), OrderFacts.of_change(change), system)

    async def _record_settling(
        self, invoice: InvoiceSnapshot, system: SourceSystem, correlation_id: str
    ) -> int:
        """With ``settling_records`` (reconciliation's publisher): when the ERP shows the
        invoice settled by more credit or cash than the ledger holds, the records that
        settled it, read from the ERP and recorded. The feed reads them as kinds of
        their own and needs no such look-up."""
        if self._settling_records is None:
            return 0
        held = await self._ledger().events_from_sources(
            system, [invoice.id], [EventType.CREDIT_MEMO_APPLIED, EventType.PAYMENT_APPLIED]
        )
        sums = {EventType.CREDIT_MEMO_APPLIED: Decimal(0), EventType.PAYMENT_APPLIED: Decimal(0)}
        for event in held:
            sums[EventType(event.event_type)] += Decimal(str(event.payload["amount"]))
        if (
            invoice.credited <= sums[EventType.CREDIT_MEMO_APPLIED]
            and invoice.amount_paid.amount <= sums[EventType.PAYMENT_APPLIED]
        ):
            return 0
        recorded = 0
        for change in await self._settling_records([invoice.id]):
            recorded += await self._record(change, system, correlation_id)
        return recorded

    async def _signal(
        self,
        change: ErpChange,
        system: SourceSystem,
        correlation_id: str,
        result: PublishChangesResult,
    ) -> None:
        """Hand the change to the workflow that acts on it."""
        if isinstance(change, InvoiceChange) and change.crm_opportunity_id:
            snapshot = InvoiceSnapshot.model_validate(change.model_dump(exclude={"kind"}))
            await self._signal_deal(
                deal.INVOICE_CHANGED, change.crm_opportunity_id, snapshot, change.id, result
            )
        if isinstance(change, OrderChange) and change.crm_opportunity_id:
            # Every change, not only a cancellation: the deal keeps the opportunity's
            # order status (and its billing against the total) equal to the ERP's.
            if not await self._signal_deal(
                deal.ORDER_CHANGED, change.crm_opportunity_id, change, change.id, result
            ):
                await self._write_back_order(change.crm_opportunity_id, change)
        elif isinstance(change, FulfilmentChange) and change.crm_opportunity_id:
            if not await self._signal_deal(
                deal.FULFILMENT_CHANGED, change.crm_opportunity_id, change, change.id, result
            ):
                await write_back_fulfilment(self._crm, change.crm_opportunity_id, change)
        elif isinstance(change, CustomerChange | ItemChange):
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

    async def _signal_deal(
        self,
        signal: Signal[PayloadT],
        opportunity_id: str,
        payload: PayloadT,
        record_id: str,
        result: PublishChangesResult,
    ) -> bool:
        """Whether a running deal took the signal."""
        if await signal.send_if_running(deal.deal_handle(self._client, opportunity_id), payload):
            result.signalled += 1
            return True
        # Changed after the deal stopped following (or its deal never reached
        # Syncline): the facts are recorded; reconciliation compares the rest.
        result.unmatched.append(record_id)
        return False

    async def _write_back_order(self, opportunity_id: str, change: OrderChange) -> None:
        """The ERP moved or cancelled an order after its deal's last run ended: no run is
        left to show it on the opportunity, so the publisher does, for the order the
        opportunity names and only when the status it shows is not the ERP's."""
        if self._crm is None:
            return
        try:
            opportunity = await self._crm.get_opportunity(opportunity_id)
        except NotFoundError:
            return  # deleted in the CRM: nothing shows the order any more
        if opportunity.erp_order_id != change.id or opportunity.erp_order_status == (
            change.erp_status
        ):
            return
        await self._crm.write_order_status(
            opportunity_id,
            OpportunityOrderUpdate(
                erp_order_id=change.id,
                order_number=change.order_number,
                order_status=change.erp_status,
                synced_at=utc_now(),
            ),
        )
