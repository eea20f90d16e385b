"""Hands ERP changes to the workflows they concern, as signals."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from models.messages import DeliverInvoiceChangesInput, DeliverInvoiceChangesResult


class FeedActivities:
    def __init__(self, client: Client) -> None:
        self._client = client

    @activity.defn
    async def deliver_invoice_changes(
        self, request: DeliverInvoiceChangesInput
    ) -> DeliverInvoiceChangesResult:
        """Signal each invoice snapshot to its deal's workflow.

        At least once: a retried delivery re-sends snapshots the deal already holds,
        which it ignores. An invoice whose order has no running deal (created outside
        Syncline, or billed after the deal stopped following) is reported, not lost:
        the ERP still has it and reconciliation compares it.
        """
        delivered, unmatched = 0, []
        for delivery in request.deliveries:
            invoice = delivery.invoice
            handle = self._client.get_workflow_handle(delivery.workflow_id)
            try:
                await handle.signal("invoice_changed", invoice)
            except RPCError as error:
                if error.status is not RPCStatusCode.NOT_FOUND:
                    raise
                unmatched.append(invoice.id)
                activity.logger.info(
                    "invoice %s: no running workflow %s", invoice.id, delivery.workflow_id
                )
                continue
            delivered += 1
            activity.heartbeat(delivered)
        return DeliverInvoiceChangesResult(delivered=delivered, unmatched=unmatched)
