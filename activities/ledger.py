"""Activities on Syncline's own store: the event ledger and the exceptions queue.

They are cheap, local and idempotent, so workflows run them as local activities.
"""

from __future__ import annotations

from temporalio import activity

from activities.erp_facts import record_order
from models.events import BusinessEvent, EventType, SourceSystem, event_id_for
from models.messages import (
    OpenExceptionInput,
    RecordEventInput,
    RecordEventResult,
    RecordOrderInput,
    ResolveExceptionInput,
)
from models.tables import ExceptionRow
from models.types import utc_now
from store import Store
from telemetry.metrics import CRM_CLOSE_TO_ORDER, EVENT_LAG


class LedgerActivities:
    def __init__(self, store: Store) -> None:
        self._store = store

    @activity.defn
    async def record_event(self, request: RecordEventInput) -> RecordEventResult:
        return RecordEventResult(appended=await append_fact(self._store, request.event))

    @activity.defn
    async def record_order(self, request: RecordOrderInput) -> int:
        """The order's facts as the ledger does not yet hold them (the rule the change
        feed follows too): after an amendment, ``order.amended`` numbered after those of
        every earlier run of the deal, or nothing when the feed already recorded it."""
        return await record_order(
            self._store, request.order, request.erp_system, request.correlation_id, utc_now()
        )

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


async def append_fact(store: Store, event: BusinessEvent) -> bool:
    """Record one fact once (False when the ledger already held it); an order's
    acceptance also measures the lag from the CRM's close to it."""
    appended = await store.append_event(event)
    await fact_appended(store, event, appended)
    return appended


async def fact_appended(store: Store, event: BusinessEvent, appended: bool) -> None:
    """What follows an append (``appended``: the ledger did not hold the fact before),
    for a fact written with others in one transaction too."""
    if not appended:
        activity.logger.info("event %s already in the ledger", event.event_id)
    elif event.event_type == EventType.ORDER_ACCEPTED and event.subject_id:
        await _measure_close_to_order(store, event.subject_id)


async def _measure_close_to_order(store: Store, opportunity_id: str) -> None:
    """CRM close (the won event's time, the CRM's own) to the order's acceptance."""
    won = await store.get_event(
        event_id_for(EventType.OPPORTUNITY_CLOSED_WON, SourceSystem.SALESFORCE, opportunity_id)
    )
    if won is not None:
        EVENT_LAG.record(
            (utc_now() - won.occurred_at).total_seconds(),
            {"syncline.lag": CRM_CLOSE_TO_ORDER},
        )
