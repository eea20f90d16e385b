"""The nightly reconciliation: a Temporal Schedule the worker creates at start-up.

Temporal runs it, so it fires whichever worker is up, never twice at once (overlap:
skip), and catches up a missed night within the catch-up window after an outage.
A worker starting with other settings updates the schedule's timing and action but
keeps its state: an operator's pause survives a deploy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from models.reconciliation import ReconcileRequest, ReconcileTrigger
from reconciliation.contract import SCHEDULED_WORKFLOW_ID, WORKFLOW_TYPE

SCHEDULE_ID = "syncline-reconcile-nightly"


@dataclass(frozen=True)
class ReconcileTiming:
    cron: str = "0 2 * * *"
    time_zone: str = "UTC"
    catchup_window: timedelta = timedelta(hours=6)


def reconcile_schedule(task_queue: str, timing: ReconcileTiming) -> Schedule:
    return Schedule(
        action=ScheduleActionStartWorkflow(
            WORKFLOW_TYPE,
            ReconcileRequest(trigger=ReconcileTrigger.SCHEDULE),
            id=SCHEDULED_WORKFLOW_ID,
            task_queue=task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[timing.cron], time_zone_name=timing.time_zone),
        policy=SchedulePolicy(
            overlap=ScheduleOverlapPolicy.SKIP, catchup_window=timing.catchup_window
        ),
    )


async def ensure_reconcile_schedule(
    client: Client, task_queue: str, timing: ReconcileTiming
) -> None:
    wanted = reconcile_schedule(task_queue, timing)
    try:
        await client.create_schedule(SCHEDULE_ID, wanted)
        return
    except ScheduleAlreadyRunningError:
        pass

    def keep_state(update: ScheduleUpdateInput) -> ScheduleUpdate:
        current = update.description.schedule
        current.action, current.spec, current.policy = wanted.action, wanted.spec, wanted.policy
        return ScheduleUpdate(schedule=current)

    await client.get_schedule_handle(SCHEDULE_ID).update(keep_state)
