"""Deal runs that stopped without finishing, and the exceptions they left behind.

A deal's run can stop without reaching a final state: an operator terminates it (to
unstick it, or by mistake), or it fails or times out. Nothing else notices: its order
may be live and its facts recorded, so the order comparison finds no difference, and
the deal sits in ``order_accepted`` or ``needs_attention`` with no run to move it on.
Reconciliation is the one process that looks at every deal, so it sweeps them:

- an open exception whose run is gone (stopped, or replaced by a newer run that started
  after the exception was opened) is resolved: nobody can retry into that run any more,
  and it would make the repair below think the deal still waits for a person;
- a deal whose newest run stopped in a non-final state is replayed (the same
  signal-with-start as a webhook): its find-or-create steps find its order, and it
  follows billing again. A deal whose run ended paid or cancelled is left alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection

from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from models.deal import DealStatus
from models.tables import ExceptionRow, ExceptionStatus
from reconciliation.visibility import listed
from store import Store
from workflows.deal import contract as deal
from workflows.search_attributes import CRM_OPPORTUNITY_ID, SYNC_STATUS

FINAL = frozenset({DealStatus.PAID.value, DealStatus.CANCELLED.value})
_STOPPED = ("Terminated", "Failed", "TimedOut", "Canceled")
STOPPED_DEALS_QUERY = (
    f"{deal.VISIBILITY_QUERY} AND ("
    + " OR ".join(f"ExecutionStatus = '{status}'" for status in _STOPPED)
    + ")"
)


class StoppedDeals:
    def __init__(
        self, client: Client, store: Store, replay: Callable[[str], Awaitable[None]]
    ) -> None:
        self._client = client
        self._store = store
        self._replay = replay

    async def sweep(self, keys: Collection[str] | None = None) -> int:
        """Resolve the exceptions of gone runs, then replay the stopped deals (of
        ``keys`` only, when given); how many deals were replayed."""
        await self._resolve_orphaned_exceptions(keys)
        stopped = await self._stopped_unfinished(keys)
        for opportunity_id in sorted(stopped):
            await self._replay(opportunity_id)
        return len(stopped)

    async def _resolve_orphaned_exceptions(self, keys: Collection[str] | None) -> None:
        subjects = list(keys) if keys else None
        for status in (ExceptionStatus.OPEN, ExceptionStatus.RETRY_REQUESTED):
            for row in await self._store.list_exceptions(status=status, subject_ids=subjects):
                if row.workflow_id.startswith(deal.ID_PREFIX) and await self._run_is_gone(row):
                    await self._store.resolve_exception(row.id)

    async def _run_is_gone(self, row: ExceptionRow) -> bool:
        try:
            newest = await self._client.get_workflow_handle(row.workflow_id).describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return True  # past the namespace's retention: no run will come back to it
            raise
        if newest.status != WorkflowExecutionStatus.RUNNING:
            return True
        # Running, but started after the exception was opened: a newer run than the one
        # that parked (its own exceptions are opened after it starts).
        return newest.start_time > row.opened_at

    async def _stopped_unfinished(self, keys: Collection[str] | None) -> set[str]:
        wanted = set(keys) if keys is not None else None
        stopped: set[str] = set()
        executions = listed(self._client, STOPPED_DEALS_QUERY, "stopped deals not swept")
        async for execution in executions:
            await self._consider(execution, wanted, stopped)
        return stopped

    async def _consider(
        self, execution: WorkflowExecution, wanted: set[str] | None, stopped: set[str]
    ) -> None:
        """Add the execution's opportunity to ``stopped`` if it is the deal's newest run
        and stopped in a non-final state."""
        attributes = execution.typed_search_attributes
        opportunity_id = attributes.get(CRM_OPPORTUNITY_ID)
        if opportunity_id is None or attributes.get(SYNC_STATUS) in FINAL:
            return
        if opportunity_id in stopped or (wanted is not None and opportunity_id not in wanted):
            return
        newest = await self._client.get_workflow_handle(execution.id).describe()
        if newest.run_id == execution.run_id:  # no later run took over
            stopped.add(opportunity_id)
