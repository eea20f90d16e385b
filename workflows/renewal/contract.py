"""The renewal's published contract: ``Renewal``, one run per ERP subscription."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from models.changes import SubscriptionChange
from models.lifecycle import RenewalInput, RenewalState, RenewalStatus
from workflows.contract import RETRY, Query, Signal
from workflows.search_attributes import (
    CRM_OPPORTUNITY_ID,
    ERP_CUSTOMER_ID,
    ERP_ORDER_ID,
    ERP_SUBSCRIPTION_ID,
    SYNC_STATUS,
    Wanted,
    at_start,
)

WORKFLOW_TYPE = "Renewal"
ID_PREFIX = "renewal:"

CHANGED: Signal[SubscriptionChange] = Signal("changed", SubscriptionChange)
"""The subscription as the ERP shows it now (a new end date moves the timer)."""
STATE: Query[RenewalState] = Query("state", RenewalState)

__all__ = [
    "CHANGED",
    "RETRY",
    "STATE",
    "WORKFLOW_TYPE",
    "renewal_attributes",
    "renewal_workflow_id",
    "signal_with_start_renewal",
]


def renewal_workflow_id(erp_system: str, subscription_id: str) -> str:
    return f"{ID_PREFIX}{erp_system}:{subscription_id}"


def renewal_attributes(
    status: RenewalStatus, subscription_id: str, subscription: SubscriptionChange | None
) -> Wanted:
    """What a renewal shows in the Web UI: its status and the subscription's keys."""
    wanted: Wanted = [(SYNC_STATUS, status.value), (ERP_SUBSCRIPTION_ID, subscription_id)]
    if subscription is not None:
        wanted = [
            *wanted,
            (ERP_CUSTOMER_ID, subscription.customer_id),
            (CRM_OPPORTUNITY_ID, subscription.crm_opportunity_id),
            (ERP_ORDER_ID, subscription.erp_order_id),
        ]
    return wanted


async def signal_with_start_renewal(
    client: Client, task_queue: str, start: RenewalInput, subscription: SubscriptionChange
) -> None:
    """The subscription's renewal gets the ERP's news, started if it is not running."""
    await client.start_workflow(
        WORKFLOW_TYPE,
        start,
        id=renewal_workflow_id(start.erp_system, start.subscription_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal=CHANGED.name,
        start_signal_args=[subscription],
        # A new run first waits for its date: shown by the start (ignored when the run
        # exists), so its first status costs no upsert.
        search_attributes=at_start(
            renewal_attributes(RenewalStatus.WAITING, start.subscription_id, subscription)
        ),
    )
