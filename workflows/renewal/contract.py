"""The renewal's published contract: ``Renewal``, one run per ERP subscription."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from models.changes import SubscriptionChange
from models.lifecycle import RenewalInput, RenewalState
from workflows.contract import RETRY, Query, Signal

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
    "renewal_workflow_id",
    "signal_with_start_renewal",
]


def renewal_workflow_id(erp_system: str, subscription_id: str) -> str:
    return f"{ID_PREFIX}{erp_system}:{subscription_id}"


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
    )
