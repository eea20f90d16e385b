"""What a workflow costs Temporal: history events and billable actions, and a bare
workflow of the deal's former command shape to measure the engine alone against.

Billable actions follow Temporal Cloud's definition ("Temporal Cloud Actions" in its
documentation), counted from the history as its Web UI's estimate does:

* a workflow start is one action; a signal-with-start is one action in all (its
  signal is not counted again); every other signal is one;
* an activity is one action per attempt (its started event carries the attempt);
* local activities: all those recorded by one workflow task are one action;
* a timer started is one; a search-attribute upsert is one (attributes given at the
  start are free);
* queries and heartbeats are billed too but are not in the history: not counted here.

``BareDeal`` is the engine's share of a deal before issue 22, with no work in it: a
signal-with-start, three activities that return at once, two local activities and
three search-attribute upserts, on the same dev server with the same flags.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity, workflow
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, WorkflowHistory
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.worker import Worker

from workflows.search_attributes import CRM_OPPORTUNITY_ID, SYNC_STATUS


@dataclass
class HistoryCost:
    events: float
    billable_actions: float
    workflow_tasks: float


def history_cost(events: Sequence[HistoryEvent]) -> tuple[int, int, int]:
    """(events, billable actions, workflow tasks) of one history, as defined above."""
    actions = 0
    tasks = 0
    markers_in_task = False
    started_by_signal = False
    for index, event in enumerate(events):
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            actions += 1
            # Signal-with-start writes the signal right after the start: one action.
            started_by_signal = True
        elif kind == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            if not (started_by_signal and index <= 2):
                actions += 1
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            actions += max(event.activity_task_started_event_attributes.attempt, 1)
        elif kind in (
            EventType.EVENT_TYPE_TIMER_STARTED,
            EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
        ):
            actions += 1
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            tasks += 1
            markers_in_task = False
        elif kind == EventType.EVENT_TYPE_MARKER_RECORDED and not markers_in_task:
            actions += 1  # the local activities of one workflow task
            markers_in_task = True
    return len(events), actions, tasks


def mean_cost(histories: Sequence[WorkflowHistory]) -> HistoryCost:
    costs = [history_cost(h.events) for h in histories]
    n = max(len(costs), 1)
    return HistoryCost(
        events=round(sum(c[0] for c in costs) / n, 2),
        billable_actions=round(sum(c[1] for c in costs) / n, 2),
        workflow_tasks=round(sum(c[2] for c in costs) / n, 2),
    )


TRIGGER = "trigger"
"""The bare workflow's one signal, as the deal's closed-won."""


@activity.defn(name="bare_noop")
async def bare_noop(step: str) -> str:
    return step


@workflow.defn(name="BareDeal")
class BareDeal:
    def __init__(self) -> None:
        self._triggered = False

    @workflow.signal(name=TRIGGER)
    def trigger(self, _: str) -> None:
        self._triggered = True

    @workflow.run
    async def run(self, key: str) -> None:
        await workflow.wait_condition(lambda: self._triggered)
        workflow.upsert_search_attributes([SYNC_STATUS.value_set("received")])
        await _remote("read")
        workflow.upsert_search_attributes([SYNC_STATUS.value_set("validating")])
        await _local("ledger")
        await _remote("place")
        await _local("ledger")
        await _remote("write")
        workflow.upsert_search_attributes([SYNC_STATUS.value_set("order_accepted")])


async def _remote(step: str) -> str:
    return await workflow.execute_activity(
        bare_noop, step, start_to_close_timeout=timedelta(seconds=30)
    )


async def _local(step: str) -> str:
    return await workflow.execute_local_activity(
        bare_noop, step, start_to_close_timeout=timedelta(seconds=30)
    )


@dataclass
class BareRun:
    workflows: int
    seconds: float
    workflows_per_second: float
    one_at_a_time_p50: float
    cost: HistoryCost


async def _one(client: Client, task_queue: str) -> float:
    key = uuid.uuid4().hex
    begun = time.time()
    handle = await client.start_workflow(
        BareDeal.run,
        key,
        id=f"bare:{key}",
        task_queue=task_queue,
        start_signal=TRIGGER,
        start_signal_args=[key],
        search_attributes=TypedSearchAttributes([SearchAttributePair(CRM_OPPORTUNITY_ID, key)]),
    )
    await handle.result()
    return time.time() - begun


async def run_bare(address: str, count: int, single: int, concurrency: int = 50) -> BareRun:
    """``count`` bare workflows ``concurrency`` at a time, then ``single`` one at a time;
    their rate, one-at-a-time p50 and the history cost of a sample."""
    client = await Client.connect(address)
    task_queue = f"bare-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=task_queue, workflows=[BareDeal], activities=[bare_noop]):
        gate = asyncio.Semaphore(concurrency)

        async def bounded() -> None:
            async with gate:
                await _one(client, task_queue)

        started = time.time()
        await asyncio.gather(*(bounded() for _ in range(count)))
        seconds = time.time() - started
        singles = sorted([await _one(client, task_queue) for _ in range(single)])
        sample = [
            await client.get_workflow_handle(e.id).fetch_history()
            async for e in client.list_workflows(f"TaskQueue = '{task_queue}'", limit=20)
        ]
    return BareRun(
        workflows=count,
        seconds=round(seconds, 2),
        workflows_per_second=round(count / seconds, 2),
        one_at_a_time_p50=round(singles[len(singles) // 2], 3) if singles else 0.0,
        cost=mean_cost(sample),
    )
