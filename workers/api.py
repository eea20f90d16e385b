"""The HTTP side: webhook ingress and the operator API (OpenAPI at /docs)."""

from __future__ import annotations

import hmac
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import ValidationError
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from connectors.store import Store
from models.deal import CloseWonInput, CloseWonTrigger, DealState, RetryRequest
from models.events import EventType
from models.tables import (
    DeliveryStatus,
    ExceptionRow,
    ExceptionStatus,
    LedgerEvent,
    WebhookDelivery,
)
from models.webhooks import UnsupportedWebhook, parse_salesforce_webhook
from workers.api_models import (
    BookingsReport,
    BookingsTotal,
    DealView,
    ExceptionView,
    LedgerEventView,
    Problem,
    RetryAccepted,
    WebhookAccepted,
)
from workers.settings import Settings
from workers.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify
from workflows.close_won import CloseWonToOrder
from workflows.ids import close_won_workflow_id

log = logging.getLogger(__name__)

CORRELATION_HEADER = "X-Correlation-Id"
MAX_BODY_BYTES = 1024 * 1024


class OperatorBearer(HTTPBearer):
    """Operator routes need ``Authorization: Bearer <SYNCLINE_API_TOKEN>`` (constant-time check)."""

    def __init__(self, token: str) -> None:
        super().__init__(auto_error=False, description="SYNCLINE_API_TOKEN")
        self._token = token

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:  # type: ignore[override]
        credentials = await super().__call__(request)
        if credentials is None or not hmac.compare_digest(credentials.credentials, self._token):
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a valid operator token is required (Authorization: Bearer ...)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return credentials


def create_app(settings: Settings, *, store: Store, client: Client) -> FastAPI:
    """The app over an open store and Temporal client (the CLI owns their lifetimes)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.create_schema()
        yield

    app = FastAPI(
        title="Syncline",
        version="0.1.0",
        summary="CRM ↔ ERP quote-to-cash sync on Temporal: webhook ingress and operator API.",
        lifespan=lifespan,
    )
    operator = [Depends(OperatorBearer(settings.api_token.get_secret_value()))]

    # -- ingress -----------------------------------------------------------------------

    async def _refuse(
        delivery: WebhookDelivery, code: int, reason: str, detail: object
    ) -> JSONResponse:
        delivery.status = DeliveryStatus.REJECTED
        delivery.status_reason = reason
        await store.record_delivery(delivery)
        log.warning("webhook delivery %s refused: %s", delivery.id, reason)
        return JSONResponse(
            Problem(detail=detail, delivery_id=delivery.id).model_dump(mode="json"),
            status_code=code,
        )

    @app.post(
        "/webhooks/salesforce",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=WebhookAccepted,
        responses={400: {"model": Problem}, 401: {"model": Problem}, 422: {"model": Problem}},
        tags=["ingress"],
    )
    async def salesforce_webhook(request: Request) -> JSONResponse:
        """A closed-won callout or change event, signed with the shared secret.

        Every delivery is stored before it is answered, whatever the answer.
        """
        raw = await request.body()
        delivery = WebhookDelivery(
            source="salesforce",
            raw_body=raw[:MAX_BODY_BYTES],
            content_type=request.headers.get("content-type"),
            correlation_id=request.headers.get(CORRELATION_HEADER) or uuid.uuid4().hex,
        )
        if len(raw) > MAX_BODY_BYTES:
            return await _refuse(delivery, 413, "body too large", "the body exceeds 1 MiB")
        try:
            verify(
                settings.webhook_secret.get_secret_value(),
                request.headers.get(TIMESTAMP_HEADER),
                request.headers.get(SIGNATURE_HEADER),
                raw,
                tolerance_seconds=settings.webhook_tolerance_seconds,
            )
        except SignatureError as error:
            return await _refuse(delivery, 401, f"signature: {error}", str(error))
        delivery.signature_valid = True
        try:
            body = json.loads(raw)
        except ValueError as error:
            return await _refuse(delivery, 400, "malformed JSON", f"malformed JSON: {error}")
        try:
            trigger = parse_salesforce_webhook(body)
        except UnsupportedWebhook as error:
            return await _refuse(delivery, 422, str(error), str(error))
        except ValidationError as error:
            errors = error.errors(include_url=False, include_input=False, include_context=False)
            return await _refuse(delivery, 422, "invalid payload", errors)

        if not trigger.opportunity_ids:
            delivery.status = DeliveryStatus.IGNORED
            delivery.status_reason = "not a closed-won transition"
            await store.record_delivery(delivery)
            return _accepted(delivery, [])

        # One write per delivery, after the signal and before the answer: the sender
        # gets no 2xx for anything not stored, and the ingress spends half the database
        # round trips it would with a received-then-accepted pair of writes.
        delivery.subject_id = trigger.opportunity_ids[0]
        workflow_ids = []
        try:
            for opportunity_id in trigger.opportunity_ids:
                workflow_ids.append(await _signal_with_start(opportunity_id, delivery))
        except RPCError as error:
            delivery.status = DeliveryStatus.FAILED
            delivery.status_reason = f"temporal: {error.message}"
            await store.record_delivery(delivery)
            log.error("delivery %s stored but not started: %s", delivery.id, error.message)
            return JSONResponse(
                Problem(
                    detail="stored, not yet processed; retry later", delivery_id=delivery.id
                ).model_dump(mode="json"),
                status_code=503,
                headers={"Retry-After": "5"},
            )
        delivery.status = DeliveryStatus.ACCEPTED
        delivery.workflow_id = workflow_ids[0]
        await store.record_delivery(delivery)
        return _accepted(delivery, workflow_ids)

    async def _signal_with_start(opportunity_id: str, delivery: WebhookDelivery) -> str:
        workflow_id = close_won_workflow_id(opportunity_id)
        await client.start_workflow(
            CloseWonToOrder.run,
            CloseWonInput(
                crm_opportunity_id=opportunity_id, correlation_id=delivery.correlation_id
            ),
            id=workflow_id,
            task_queue=settings.task_queue,
            # A running workflow gets the signal (duplicates are counted, never acted on);
            # a finished one may run again, and its find-or-create steps find the order.
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            start_signal="closed_won",
            start_signal_args=[
                CloseWonTrigger(
                    crm_opportunity_id=opportunity_id,
                    delivery_id=delivery.id,
                    correlation_id=delivery.correlation_id,
                    received_at=delivery.received_at,
                )
            ],
        )
        return workflow_id

    def _accepted(delivery: WebhookDelivery, workflow_ids: list[str]) -> JSONResponse:
        body = WebhookAccepted(
            delivery_id=delivery.id,
            workflow_id=workflow_ids[0] if workflow_ids else None,
            workflow_ids=workflow_ids,
            status=delivery.status,
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=202)

    # -- operator API ------------------------------------------------------------------

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> JSONResponse:
        """200 once a worker polls the workflow task queue."""
        try:
            answer = await client.workflow_service.describe_task_queue(
                DescribeTaskQueueRequest(
                    namespace=settings.temporal_namespace,
                    task_queue=TaskQueue(name=settings.task_queue),
                    task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
                )
            )
        except RPCError as error:
            return JSONResponse({"status": "temporal unavailable", "detail": error.message}, 503)
        if not answer.pollers:
            return JSONResponse(
                {"status": "no worker polling", "task_queue": settings.task_queue}, 503
            )
        return JSONResponse({"status": "ok", "pollers": len(answer.pollers)})

    @app.get(
        "/api/deals/{crm_opportunity_id}",
        response_model=DealView,
        dependencies=operator,
        tags=["deals"],
    )
    async def get_deal(crm_opportunity_id: str) -> DealView:
        workflow_id = close_won_workflow_id(crm_opportunity_id)
        handle = client.get_workflow_handle_for(CloseWonToOrder.run, workflow_id)
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
            state = await handle.query(CloseWonToOrder.state)
        exceptions = await store.list_exceptions(subject_id=crm_opportunity_id)
        events = await store.events_for(crm_opportunity_id)
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
            exceptions=[_exception_view(row) for row in exceptions],
            events=[_event_view(row) for row in events],
        )

    @app.get(
        "/api/exceptions",
        response_model=list[ExceptionView],
        dependencies=operator,
        tags=["exceptions"],
    )
    async def list_exceptions(
        status_filter: Annotated[ExceptionStatus | None, Query(alias="status")] = None,
    ) -> list[ExceptionView]:
        return [_exception_view(row) for row in await store.list_exceptions(status=status_filter)]

    @app.post(
        "/api/exceptions/{exception_id}/retry",
        response_model=RetryAccepted,
        status_code=202,
        dependencies=operator,
        tags=["exceptions"],
    )
    async def retry_exception(exception_id: str) -> RetryAccepted:
        """Resume the parked run at the step that stopped, once the data is fixed."""
        row = await store.get_exception(exception_id)
        if row is None:
            raise HTTPException(404, f"no exception {exception_id}")
        if row.status == ExceptionStatus.RESOLVED:
            raise HTTPException(409, "this exception is already resolved")
        handle = client.get_workflow_handle(row.workflow_id)
        try:
            await handle.signal(
                CloseWonToOrder.retry, RetryRequest(exception_id=row.id, requested_by="api")
            )
        except RPCError as error:
            raise HTTPException(409, f"the run can no longer be resumed: {error.message}") from None
        await store.mark_retry_requested(row.id)
        return RetryAccepted(
            exception_id=row.id, workflow_id=row.workflow_id, status="retry_requested"
        )

    @app.get(
        "/api/reports/bookings",
        response_model=BookingsReport,
        dependencies=operator,
        tags=["reports"],
    )
    async def bookings(
        start: Annotated[date, Query(alias="from")],
        end: Annotated[date, Query(alias="to", description="inclusive")],
    ) -> BookingsReport:
        """ERP-confirmed bookings: ``order.accepted`` events in the ledger, per currency."""
        if end < start:
            raise HTTPException(422, "'to' is before 'from'")
        lower = datetime.combine(start, time.min, tzinfo=UTC)
        upper = datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC)
        totals: dict[str, Decimal] = defaultdict(Decimal)
        orders: dict[str, int] = defaultdict(int)
        for event in await store.events_between(EventType.ORDER_ACCEPTED, lower, upper):
            currency = event.payload["currency"]
            totals[currency] += Decimal(event.payload["total"])
            orders[currency] += 1
        return BookingsReport(
            start=lower,
            end=upper,
            totals=[
                BookingsTotal(
                    currency=currency, amount=str(totals[currency]), orders=orders[currency]
                )
                for currency in sorted(totals)
            ],
        )

    @app.get("/api/deliveries/{delivery_id}", dependencies=operator, tags=["ingress"])
    async def get_delivery(delivery_id: str) -> dict[str, object]:
        """A stored webhook delivery, raw body included, for diagnosis and replay."""
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
            "raw_body": delivery.raw_body.decode("utf-8", errors="replace"),
        }

    return app


def _exception_view(row: ExceptionRow) -> ExceptionView:
    return ExceptionView(
        id=row.id,
        workflow_id=row.workflow_id,
        crm_opportunity_id=row.subject_id,
        reason=row.reason,
        step=row.step,
        message=row.message,
        status=row.status,
        retry_count=row.retry_count,
        opened_at=row.opened_at,
        resolved_at=row.resolved_at,
        correlation_id=row.correlation_id,
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
        payload=row.payload,
    )
