"""The HTTP app: webhook ingress and the operator API (OpenAPI at /docs)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import Depends, FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from activities.crm_triggers import CrmTriggerRouter
from models.operators import Role
from store import Store
from store.operator_keys import OperatorKeys
from workers.access.guard import Access
from workers.api_models import OPERATOR_ERRORS
from workers.audit_api import audit_router
from workers.console import console_router
from workers.inbox_relay import InboxRelay
from workers.ingress import ingress_router
from workers.metrics_export import prometheus_text
from workers.operator_api import operator_router
from workers.rate_limits import OperatorRateLimit
from workers.reports_api import reports_router
from workers.settings import Settings
from workers.store_gauges import StoreGauges

log = logging.getLogger(__name__)


async def _say_who_can_sign_in(settings: Settings, store: Store) -> None:
    """At start-up: the deprecated shared token, or nobody able to sign in, is worth a
    line in the log (naming the variable, never its value)."""
    if settings.api_token is not None:
        log.warning(
            "SYNCLINE_API_TOKEN is set: the shared token is accepted as a deprecated admin "
            "key that names nobody in the audit trail. Give each person a key of their own "
            "(syncline operators add NAME --role ROLE) or sign-in through OIDC, then unset it"
        )
    elif not settings.oidc_enabled and not await OperatorKeys(store).active():
        log.warning(
            "no operator can sign in yet: create a key with "
            "`syncline operators add NAME --role admin`, or set SYNCLINE_OIDC_ISSUER"
        )


def create_app(settings: Settings, *, store: Store, client: Client) -> FastAPI:
    """The app over an open store and Temporal client (the CLI owns their lifetimes).

    Its lifespan runs the inbox relay (every replica runs one: they share the inbox)."""
    router = CrmTriggerRouter(
        client,
        store,
        task_queue=settings.task_queue,
        erp_system=settings.erp_kind,
        crm_client_name=settings.crm_client_name,
    )
    relay = InboxRelay(
        store,
        router,
        poll_seconds=settings.inbox_poll_seconds,
        max_backoff_seconds=settings.inbox_max_backoff_seconds,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await store.migrate()
        await _say_who_can_sign_in(settings, store)
        background = [asyncio.create_task(relay.run(), name="inbox-relay")]
        if settings.metrics:
            gauges = StoreGauges(store, timedelta(minutes=settings.reconcile_sla_minutes))
            background.append(asyncio.create_task(gauges.run(settings.metrics_refresh_seconds)))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            # A relay cancelled mid-claim rolls its claim back: those deliveries stay
            # pending for the next relay (of this process or another replica).
            await asyncio.gather(*background, return_exceptions=True)

    app = FastAPI(
        title="Syncline",
        version="0.1.0",
        summary="CRM ↔ ERP quote-to-cash sync on Temporal: webhook ingress and operator API.",
        lifespan=lifespan,
    )
    app.state.inbox_relay = relay
    app.add_middleware(OperatorRateLimit, rate=settings.api_rate_limit)
    access = Access(settings, store)
    app.include_router(ingress_router(settings, store, router, relay.wake))
    app.include_router(operator_router(settings, store, client, access))
    app.include_router(console_router(settings, store, client, access))
    app.include_router(reports_router(store, access))
    app.include_router(audit_router(access, store))

    @app.get(
        "/metrics",
        tags=["ops"],
        dependencies=[Depends(access.require(Role.VIEWER))],
        response_class=Response,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}, **OPERATOR_ERRORS},
    )
    async def metrics() -> Response:
        """Prometheus exposition of this process's metrics (a viewer's key, as a bearer
        ``authorization`` in the scrape config: the API faces the internet)."""
        return Response(prometheus_text(), media_type=CONTENT_TYPE_LATEST)

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

    return app
