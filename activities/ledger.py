"""Activities on Syncline's own store: the event ledger and the exceptions queue.

They are cheap, local and idempotent, so workflows run them as local activities.
"""

from __future__ import annotations

from temporalio import activity

from connectors.store import Store
from models.messages import (
    OpenExceptionInput,
    RecordEventInput,
    RecordEventResult,
    ResolveExceptionInput,
)
from models.tables import ExceptionRow


class LedgerActivities:
    def __init__(self, store: Store) -> None:
        self._store = store

    @activity.defn
    async def record_event(self, request: RecordEventInput) -> RecordEventResult:
        appended = await self._store.append_event(request.event)
        if not appended:
            activity.logger.info("event %s already in the ledger", request.event.event_id)
        return RecordEventResult(appended=appended)

    @activity.defn
    async def open_exception(self, request: OpenExceptionInput) -> None:
        await self._store.open_exception(
            ExceptionRow(
                id=request.exception_id,
                workflow_id=request.workflow_id,
                subject_id=request.subject_id,
                reason=request.reason,
                step=request.step,
                message=request.message,
                details=request.details,
                correlation_id=request.correlation_id,
            )
        )

    @activity.defn
    async def resolve_exception(self, request: ResolveExceptionInput) -> None:
        await self._store.resolve_exception(request.exception_id)
