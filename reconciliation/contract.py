"""Reconciliation's published contract: ``Reconcile``, one run per comparison.

An on-demand run is ``reconcile:<random>`` (the API and the CLI), the nightly one
``reconcile-nightly-<scheduled time>`` (Temporal appends the time to the Schedule's id).
"""

from __future__ import annotations

import contextlib
import uuid

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from models.reconciliation import ReconcileRequest, ReconciliationReport
from workflows.contract import Query

WORKFLOW_TYPE = "Reconcile"
ON_DEMAND_PREFIX = "reconcile:"
SCHEDULED_WORKFLOW_ID = "reconcile-nightly"
"""Temporal appends the scheduled time to it, one id per night."""

REPORT: Query[ReconciliationReport | None] = Query("report", ReconciliationReport)
"""The report so far (``None`` before the first domain is compared)."""

__all__ = [
    "ON_DEMAND_PREFIX",
    "REPORT",
    "SCHEDULED_WORKFLOW_ID",
    "WORKFLOW_TYPE",
    "start_keyed_reconciliation",
    "start_reconciliation",
]


async def start_reconciliation(client: Client, task_queue: str, request: ReconcileRequest) -> str:
    """Start one comparison now; its workflow id."""
    run_id = f"{ON_DEMAND_PREFIX}{uuid.uuid4().hex[:16]}"
    await client.start_workflow(WORKFLOW_TYPE, request, id=run_id, task_queue=task_queue)
    return run_id


async def start_keyed_reconciliation(
    client: Client, task_queue: str, request: ReconcileRequest, key: str
) -> str:
    """Start one comparison named by ``key``, once: asked again (a retried activity),
    it finds the run it started instead of starting another. Its workflow id."""
    run_id = f"{ON_DEMAND_PREFIX}{key}"
    # Already run and finished: that is the one.
    with contextlib.suppress(WorkflowAlreadyStartedError):
        await client.start_workflow(
            WORKFLOW_TYPE,
            request,
            id=run_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        )
    return run_id
