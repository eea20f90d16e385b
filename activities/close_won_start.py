"""How a closed-won trigger reaches its deal's workflow: signal-with-start on the
business key. The ingress and reconciliation (replaying a deal) use this one path.

The workflow is named, not imported: workflow modules import activities, not the
other way round."""

from __future__ import annotations

from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy

from models.deal import CloseWonInput, CloseWonResult, CloseWonTrigger
from models.workflow_ids import close_won_workflow_id

CLOSE_WON_WORKFLOW = "CloseWonToOrder"


async def signal_close_won(
    client: Client, task_queue: str, trigger: CloseWonTrigger
) -> WorkflowHandle[Any, CloseWonResult]:
    return await client.start_workflow(
        CLOSE_WON_WORKFLOW,
        CloseWonInput(
            crm_opportunity_id=trigger.crm_opportunity_id, correlation_id=trigger.correlation_id
        ),
        id=close_won_workflow_id(trigger.crm_opportunity_id),
        task_queue=task_queue,
        # A running workflow gets the signal (duplicates are counted, never acted on);
        # a finished one may run again, and its find-or-create steps find the order.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
        start_signal="closed_won",
        start_signal_args=[trigger],
        result_type=CloseWonResult,
    )
