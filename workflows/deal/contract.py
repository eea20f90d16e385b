"""The deal's published contract: ``CloseWonToOrder``, one run per opportunity.

The id is the business key (``close-won:salesforce:<opportunity id>``), so the engine
itself refuses a second concurrent run of one deal, and every trigger (webhook, change
stream, reconciliation's replay) reaches the deal by signal-with-start.
"""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from models.billing import InvoiceSnapshot
from models.changes import FulfilmentChange, OrderChange
from models.deal import (
    CloseWonInput,
    CloseWonResult,
    CloseWonTrigger,
    DealState,
    DealStatus,
    FollowCheck,
)
from models.lifecycle import OpportunityChanged
from workflows.contract import RETRY, Query, Signal
from workflows.search_attributes import CRM_OPPORTUNITY_ID, SYNC_STATUS, at_start

WORKFLOW_TYPE = "CloseWonToOrder"
VISIBILITY_QUERY = f"WorkflowType = '{WORKFLOW_TYPE}'"
"""Every run of every deal, as Temporal's visibility lists them."""
ID_PREFIX = "close-won:"
"""Every deal's id, whichever CRM it comes from (the CRM is the next part)."""

CLOSED_WON: Signal[CloseWonTrigger] = Signal("closed_won", CloseWonTrigger)
"""Each delivery of the closed-won trigger; only the first starts anything."""
OPPORTUNITY_CHANGED: Signal[OpportunityChanged] = Signal("opportunity_changed", OpportunityChanged)
"""From the CRM: the won opportunity changed (stage, amount, lines)."""
INVOICE_CHANGED: Signal[InvoiceSnapshot] = Signal("invoice_changed", InvoiceSnapshot)
"""From the ERP change feed: the whole of one invoice of the deal's order."""
ORDER_CHANGED: Signal[OrderChange] = Signal("order_changed", OrderChange)
"""From the ERP change feed: the deal's order changed in the ERP (moved on, edited or
cancelled there)."""
FULFILMENT_CHANGED: Signal[FulfilmentChange] = Signal("fulfilment_changed", FulfilmentChange)
"""From the ERP change feed: a fulfilment (shipment) of the deal's order."""
FOLLOW_CHECK: Signal[FollowCheck] = Signal("follow_check", FollowCheck)
"""From reconciliation: end the follow of the order's billing if ``BILLING_FOLLOW`` has
passed since it began (the deal judges by its own clock)."""
STATE: Query[DealState] = Query("state", DealState)
FOLLOWING_STATUSES = (DealStatus.ORDER_ACCEPTED, DealStatus.INVOICED)
"""A deal following its order's billing shows one of these (``PAID`` ends the run)."""

__all__ = [
    "CLOSED_WON",
    "FOLLOWING_STATUSES",
    "FOLLOW_CHECK",
    "FULFILMENT_CHANGED",
    "INVOICE_CHANGED",
    "OPPORTUNITY_CHANGED",
    "ORDER_CHANGED",
    "RETRY",
    "STATE",
    "VISIBILITY_QUERY",
    "WORKFLOW_TYPE",
    "deal_handle",
    "deal_workflow_id",
    "signal_close_won",
]


def deal_workflow_id(crm_opportunity_id: str) -> str:
    return f"{ID_PREFIX}salesforce:{crm_opportunity_id}"


def deal_handle(client: Client, crm_opportunity_id: str) -> WorkflowHandle[Any, CloseWonResult]:
    """The deal's newest run, whichever it is."""
    return client.get_workflow_handle(
        deal_workflow_id(crm_opportunity_id), result_type=CloseWonResult
    )


async def signal_close_won(
    client: Client, task_queue: str, trigger: CloseWonTrigger
) -> WorkflowHandle[Any, CloseWonResult]:
    """The one path by which a closed-won trigger reaches its deal."""
    return await client.start_workflow(
        WORKFLOW_TYPE,
        CloseWonInput(
            crm_opportunity_id=trigger.crm_opportunity_id, correlation_id=trigger.correlation_id
        ),
        id=deal_workflow_id(trigger.crm_opportunity_id),
        task_queue=task_queue,
        # A running workflow gets the signal (duplicates are counted, never acted on);
        # a finished one may run again, and its find-or-create steps find the order.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal=CLOSED_WON.name,
        start_signal_args=[trigger],
        # Known at start, so set by the start itself: an upsert would cost the run a
        # history event and a billable action (ignored when the run already exists).
        search_attributes=at_start(
            [
                (CRM_OPPORTUNITY_ID, trigger.crm_opportunity_id),
                (SYNC_STATUS, DealStatus.RECEIVED.value),
            ]
        ),
        result_type=CloseWonResult,
    )
