"""The Temporal client every Syncline process uses: pydantic payloads, traced calls."""

from __future__ import annotations

from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from workers.settings import Settings


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """``runtime``: the worker's, whose metrics it exports; None for the SDK default."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.temporal_namespace,
        data_converter=pydantic_data_converter,
        interceptors=[TracingInterceptor()],
        runtime=runtime,
    )
