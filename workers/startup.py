"""Waiting for dependencies at start-up: the one place tenacity is used, since no
engine retries for us before we are connected to the engine."""

from __future__ import annotations

import logging

from temporalio.client import Client
from temporalio.runtime import Runtime
from tenacity import AsyncRetrying, before_sleep_log, stop_after_delay, wait_exponential

from workers.settings import Settings
from workers.temporal import connect

log = logging.getLogger(__name__)


async def connect_when_ready(
    settings: Settings, *, max_wait_seconds: float = 120, runtime: Runtime | None = None
) -> Client:
    async for attempt in AsyncRetrying(
        stop=stop_after_delay(max_wait_seconds),
        wait=wait_exponential(multiplier=0.2, max=5),
        before_sleep=before_sleep_log(log, logging.WARNING),
        reraise=True,
    ):
        with attempt:
            return await connect(settings, runtime)
    raise AssertionError("unreachable")
