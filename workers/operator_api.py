"""The operator API: deals, the exceptions queue, stored deliveries (reports: reports_api)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from models.deal import DealState, RetryRequest
from models.event_contracts import CONTRACTS, json_schema
from models.operators import AuditAction, AuditOutcome, Operator, Role
from models.reconciliation import Domain, ReconcileRequest, ReconcileTrigger
from models.tables import (
    AuditRow,
    DeliveryStatus,
    ExceptionRow,
    ExceptionStatus,
    LedgerEvent,
    WebhookDelivery,
)
from store import Store
from store.inbox import Inbox
from workers.access.guard import Access, audited
from workers.api_models import (
    OPERATOR_ERRORS,
    BillingView,
    DealView,
    ExceptionView,
    LedgerEventView,
    OperatorAction,
    RetryAccepted,
)
from workers.inbox_relay import INBOX_PREFIX, order_keys
from workers.reconciliation_api import reconciliation_router, start_reconciliation
from workers.settings import Settings
from workers.timeline import deal_timeline, process_of
from workflows.contract import RETRY
from workflows.deal import contract as deal
from workflows.feed import contract as feed
from workflows.feed.contract import FeedStatus
from workflows.stream import contract as stream


def operator_router(settings: Settings, store: Store, client: Client, access: Access) -> APIRouter:
    """Every route here needs a signed-in operator: viewers read, operators act."""
    router = APIRouter(
        dependencies=[Depends(access.require(Role.VIEWER))], responses=OPERATOR_ERRORS
    )
    may_retry = Depends(access.require(Role.OPERATOR))

    @router.get(
        "/api/deals/{crm_opportunity_id}",
        response_model=DealView,
        tags=["deals"],
    )
    async def get_deal(crm_opportunity_id: str) -> DealView:
        handle = deal.deal_handle(client, crm_opportunity_id)
        workflow_id = handle.id
        try:
            description = await handle.describe()
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise HTTPException(
                    404, f"no deal {crm_opportunity_id} has reached Syncline"
                ) from None
            raise
        state: DealState
        if description.status == WorkflowExecutionStatus.COMPLETED:
            state = (await handle.result()).state
        else:
            state = await deal.STATE.ask(handle)
        exceptions = await store.list_exceptions(subject_id=crm_opportunity_id)
        events = await store.events_for(crm_opportunity_id)
        deliveries = await store.deliveries_for(crm_opportunity_id)
        actions = await access.audit.about(subject_id=crm_opportunity_id)
        return DealView(
            crm_opportunity_id=crm_opportunity_id,
            status=state.status,
            step=state.step,
            detail=state.detail,
            erp_customer_id=state.erp_customer_id,
            erp_order_id=state.erp_order_id,
            erp_order_number=state.erp_order_number,
            correlation_id=state.correlation_id,
            deliveries=state.deliveries,
            duplicate_deliveries=state.duplicate_deliveries,
            retries=state.retries,
            workflow_id=workflow_id,
            run_id=description.run_id,
            temporal_ui_url=settings.workflow_ui_link(workflow_id, description.run_id),
            billing=BillingView.of(state.billing) if state.billing else None,
            fulfilment_status=state.fulfilment_status,
            exceptions=_exception_views(exceptions, actions),
            events=[_event_view(row) for row in events],
            timeline=deal_timeline(deliveries, events, exceptions, actions),
        )

    @router.get(
        "/api/exceptions",
        response_model=list[ExceptionView],
        tags=["exceptions"],
    )
    async def list_exceptions(
        status_filter: Annotated[ExceptionStatus | None, Query(alias="status")] = None,
        process: Annotated[
            str | None,
            Query(
                description="deal, customer_mirror, item_mirror, renewal, feed, crm_stream, "
                "reconciliation or inbox (a webhook delivery the relay could not signal)"
            ),
        ] = None,
    ) -> list[ExceptionView]:
        """Every parked run across all processes, newest first, each with what operators
        did to it."""
        rows = [
            row
            for row in await store.list_exceptions(status=status_filter)
            if process is None or process_of(row.workflow_id) == process
        ]
        actions = await access.audit.about(targets=[row.id for row in rows])
        return _exception_views(rows, actions)

    @router.post(
        "/api/exceptions/{exception_id}/retry",
        response_model=RetryAccepted,
        status_code=202,
        tags=["exceptions"],
        openapi_extra=audited(AuditAction.RETRY),
    )
    async def retry_exception(
        exception_id: str, request: Request, who: Operator = may_retry
    ) -> RetryAccepted:
        """Resume the parked run at the step that stopped, once the data is fixed
        (operators and admins). Every process that parks (deals, mirrors, renewals, the
        change feed) takes the same ``retry``; the operator's name goes with it, into the
        audit trail and onto the ledger events the resumed run records."""
        row = await store.get_exception(exception_id)
        try:
            accepted = await _retry(row, exception_id, who)
        except HTTPException as refused:
            await access.record(
                request,
                who,
                AuditAction.RETRY,
                AuditOutcome.FAILED,
                status=refused.status_code,
                target=exception_id,
                subject_id=row.subject_id if row else None,
                reason=str(refused.detail),
            )
            raise
        await access.record(
            request,
            who,
            AuditAction.RETRY,
            AuditOutcome.DONE,
            status=202,
            target=exception_id,
            subject_id=row.subject_id if row else None,
            detail={"workflow_id": accepted.workflow_id},
        )
        return accepted

    async def _retry(row: ExceptionRow | None, exception_id: str, who: Operator) -> RetryAccepted:
        if row is None:
            raise HTTPException(404, f"no exception {exception_id}")
        if row.status == ExceptionStatus.RESOLVED:
            raise HTTPException(409, "this exception is already resolved")
        if process_of(row.workflow_id) == "reconciliation":
            # Nothing waits on a reconciliation's finding: retrying it compares that
            # record again, which repairs it or resolves the exception if it is gone.
            run_id = await start_reconciliation(
                client,
                settings,
                ReconcileRequest(
                    domains=[Domain(row.step.removeprefix("reconcile:"))],
                    keys=[row.subject_id],
                    trigger=ReconcileTrigger.RETRY,
                    requested_by=who.name,
                ),
            )
            await store.mark_retry_requested(row.id)
            return RetryAccepted(exception_id=row.id, workflow_id=run_id, status="retry_requested")
        if process_of(row.workflow_id) == "inbox":
            # A delivery Temporal refused: back into the inbox, behind its records' newer
            # deliveries; the relay resolves the exception once it is signalled.
            delivery_id = row.workflow_id.removeprefix(INBOX_PREFIX)
            if not await Inbox(store).requeue(delivery_id, order_keys):
                raise HTTPException(409, f"delivery {delivery_id} is no longer failed")
            await store.mark_retry_requested(row.id)
            return RetryAccepted(
                exception_id=row.id, workflow_id=row.workflow_id, status="retry_requested"
            )
        handle = client.get_workflow_handle(row.workflow_id)
        try:
            await RETRY.send(handle, RetryRequest(exception_id=row.id, requested_by=who.name))
        except RPCError as error:
            raise HTTPException(409, f"the run can no longer be resumed: {error.message}") from None
        await store.mark_retry_requested(row.id)
        return RetryAccepted(
            exception_id=row.id, workflow_id=row.workflow_id, status="retry_requested"
        )

    @router.get("/api/erp-feed", response_model=FeedStatus, tags=["erp"])
    async def get_erp_feed() -> FeedStatus:
        """The ERP change feed: its cursor, when it last polled, how far behind the ERP
        the newest delivered change was (lag), and what it delivered or could not match."""
        handle = client.get_workflow_handle(feed.feed_workflow_id(settings.erp_kind))
        try:
            return await feed.STATUS.ask(handle)
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                raise HTTPException(404, "the ERP change feed is not running yet") from None
            raise

    @router.get("/api/crm-stream", response_model=list[stream.StreamStatus], tags=["crm"])
    async def get_crm_stream() -> list[stream.StreamStatus]:
        """The CRM change streams (``SYNCLINE_CRM_STREAM=pubsub``), one per channel: the
        replay id each resumes from, events read, deals told they were won, Syncline's
        own writes ignored, lag p50/p95 (CRM commit → workflows signalled), gaps, and
        the exception one waits on. Empty when the stream is off."""
        if settings.crm_stream == "off":
            return []
        answers = []
        for channel in settings.stream_channels:
            handle = client.get_workflow_handle(stream.stream_workflow_id("salesforce", channel))
            try:
                answers.append(await stream.STATUS.ask(handle))
            except RPCError as error:
                if error.status != RPCStatusCode.NOT_FOUND:
                    raise
        return answers

    @router.get("/api/schemas", tags=["events"])
    async def list_schemas() -> list[dict[str, object]]:
        """Every business event's published payload contract, per version (JSON Schema).
        Versions only add optional fields: a consumer of version N reads N+1."""
        return [
            {
                "event_type": str(event_type),
                "version": version,
                "schema": json_schema(event_type, version),
            }
            for event_type, version in sorted(CONTRACTS)
        ]

    @router.get("/api/schemas/{event_type}/{version}", tags=["events"])
    async def get_schema(event_type: str, version: int) -> dict[str, object]:
        published = {(str(kind), number): (kind, number) for kind, number in CONTRACTS}
        if (event_type, version) not in published:
            raise HTTPException(404, f"no published contract for {event_type} v{version}")
        return json_schema(*published[(event_type, version)])

    @router.get("/api/deliveries/{delivery_id}", tags=["ingress"])
    async def get_delivery(delivery_id: str) -> dict[str, object]:
        """A stored webhook delivery, raw body included, for diagnosis and replay; for
        a valid one, where the inbox relay stands (``relay``)."""
        delivery = await store.get_delivery(delivery_id)
        if delivery is None:
            raise HTTPException(404, f"no delivery {delivery_id}")
        return {
            "id": delivery.id,
            "source": delivery.source,
            "received_at": delivery.received_at.isoformat(),
            "status": delivery.status,
            "status_reason": delivery.status_reason,
            "signature_valid": delivery.signature_valid,
            "correlation_id": delivery.correlation_id,
            "workflow_id": delivery.workflow_id,
            "relay": _relay_view(delivery),
            "raw_body": delivery.raw_body.decode("utf-8", errors="replace"),
        }

    router.include_router(reconciliation_router(settings, store, client, access))
    return router


def _relay_view(delivery: WebhookDelivery) -> dict[str, object] | None:
    """Where the inbox relay stands with a valid delivery (None for a refused one):
    ``pending`` (with the last attempt's error while Temporal is unavailable),
    ``signalled`` (accepted or ignored), or ``failed`` (an exception waits)."""
    if delivery.status not in _RELAYED:
        return None
    relayed = delivery.relayed_at
    return {
        "state": _RELAYED[delivery.status],
        "attempts": delivery.relay_attempts,
        "last_error": delivery.relay_error,
        "relayed_at": relayed.isoformat() if relayed else None,
        "lag_seconds": (relayed - delivery.received_at).total_seconds() if relayed else None,
    }


_RELAYED = {
    DeliveryStatus.PENDING: "pending",
    DeliveryStatus.ACCEPTED: "signalled",
    DeliveryStatus.IGNORED: "signalled",
    DeliveryStatus.FAILED: "failed",
}


def _exception_views(
    rows: Sequence[ExceptionRow], actions: Sequence[AuditRow]
) -> list[ExceptionView]:
    by_target: dict[str, list[OperatorAction]] = {}
    for action in actions:
        if action.target is not None:
            by_target.setdefault(action.target, []).append(
                OperatorAction(
                    at=action.at,
                    actor=action.actor,
                    role=action.role,
                    action=action.action,
                    outcome=action.outcome,
                )
            )
    return [_exception_view(row, by_target.get(row.id, [])) for row in rows]


def _exception_view(row: ExceptionRow, history: list[OperatorAction]) -> ExceptionView:
    process = process_of(row.workflow_id)
    return ExceptionView(
        id=row.id,
        workflow_id=row.workflow_id,
        process=process,
        subject_id=row.subject_id,
        crm_opportunity_id=row.subject_id if process == "deal" else None,
        reason=row.reason,
        step=row.step,
        message=row.message,
        status=row.status,
        retry_count=row.retry_count,
        opened_at=row.opened_at,
        resolved_at=row.resolved_at,
        correlation_id=row.correlation_id,
        history=history,
    )


def _event_view(row: LedgerEvent) -> LedgerEventView:
    return LedgerEventView(
        event_id=str(row.event_id),
        event_type=row.event_type,
        schema_version=row.schema_version,
        occurred_at=row.occurred_at,
        recorded_at=row.recorded_at,
        source_system=row.source_system,
        source_id=row.source_id,
        correlation_id=row.correlation_id,
        causation_id=row.causation_id,
        caused_by=row.caused_by,
        payload=row.payload,
    )
