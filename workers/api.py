"""The HTTP app: webhook ingress and the operator API (OpenAPI at /docs)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client
from temporalio.service import RPCError

from connectors.store import Store
from workers.console import console_router
from workers.ingress import ingress_router
from workers.operator_api import operator_router
from workers.rate_limits import OperatorRateLimit
from workers.reports_api import reports_router
from workers.settings import Settings


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
    app.add_middleware(OperatorRateLimit, rate=settings.api_rate_limit)
    app.include_router(ingress_router(settings, store, client))
    app.include_router(operator_router(settings, store, client))
    app.include_router(console_router(settings, store, client))
    app.include_router(reports_router(settings, store))

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
