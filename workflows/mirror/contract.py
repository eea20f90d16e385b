"""The mirror's published contract: ``ErpMirror``, one run per ERP customer or item."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from models.lifecycle import AccountEdit, MirrorChange, MirrorInput, MirrorState, MirrorStatus
from workflows.contract import RETRY, PayloadT, Query, Signal
from workflows.search_attributes import ERP_CUSTOMER_ID, SYNC_STATUS, Wanted, at_start

WORKFLOW_TYPE = "ErpMirror"
ID_PREFIX = "erp-mirror:"

CHANGED: Signal[MirrorChange] = Signal("changed", MirrorChange)
"""A snapshot of the customer or item from the ERP change feed."""
CRM_EDITED: Signal[AccountEdit] = Signal("crm_edited", AccountEdit)
"""A CRM user changed ERP-owned fields of an account mirroring this customer."""
STATE: Query[MirrorState] = Query("state", MirrorState)

__all__ = [
    "CHANGED",
    "CRM_EDITED",
    "RETRY",
    "STATE",
    "WORKFLOW_TYPE",
    "mirror_attributes",
    "mirror_handle",
    "mirror_workflow_id",
    "signal_with_start_mirror",
]


def mirror_workflow_id(erp_system: str, kind: str, erp_id: str) -> str:
    """One mirror per ERP customer or item: ``erp-mirror:netsuite:customer:42``."""
    return f"{ID_PREFIX}{erp_system}:{kind}:{erp_id}"


def mirror_attributes(kind: str, erp_id: str, status: MirrorStatus) -> Wanted:
    """What a mirror shows in the Web UI: its status, and a customer's ERP id."""
    wanted: Wanted = [(SYNC_STATUS, status.value)]
    if kind == "customer":
        wanted = [*wanted, (ERP_CUSTOMER_ID, erp_id)]
    return wanted


def mirror_handle(
    client: Client, erp_system: str, kind: str, erp_id: str
) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(mirror_workflow_id(erp_system, kind, erp_id))


async def signal_with_start_mirror(
    client: Client,
    task_queue: str,
    start: MirrorInput,
    signal: Signal[PayloadT],
    payload: PayloadT,
) -> None:
    """The record's mirror gets the news (the ERP's, or a CRM edit), started if it is
    not running."""
    await client.start_workflow(
        WORKFLOW_TYPE,
        start,
        id=mirror_workflow_id(start.erp_system, start.kind, start.erp_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal=signal.name,
        start_signal_args=[payload],
        # What a new run shows first, set by the start (ignored when the run exists).
        search_attributes=at_start(
            mirror_attributes(start.kind, start.erp_id, MirrorStatus.PENDING)
        ),
    )
