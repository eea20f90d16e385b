"""NetSuite's account-wide concurrency limit, as an ASGI middleware.

NetSuite does not queue: the request over the limit fails at once with
``SSS_REQUEST_LIMIT_EXCEEDED``. The check-and-increment never awaits, so on one
event loop it is atomic without a lock.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.netsuite.errors import SSS_REQUEST_LIMIT_EXCEEDED, error_response

logger = logging.getLogger(__name__)

LIMITED_PREFIXES = ("/services/rest/record/", "/services/rest/query/")
LIMIT_DETAIL = "Concurrent request limit exceeded. Request blocked."
# Syncline's correlation header (``telemetry.correlation``), read for the admin counts.
_CORRELATION_HEADER = b"x-correlation-id"


class ConcurrencyLimiter:
    def __init__(self, limit: int, latency_ms: int = 0) -> None:
        self.limit = limit
        self.latency_ms = latency_ms
        self.in_flight = 0
        self.slot_seconds = 0.0
        """Slot time used so far: the integral of requests in flight over time. Over a
        stretch of wall time, divided by the limit times that stretch, it says how full
        the account's pool was (a sandbox-only admin figure, for benchmarks)."""
        self._counted_at = time.monotonic()
        self.reset_stats()

    def reset_stats(self) -> None:
        self.requests = 0
        self.rejected = 0
        self.peak = self.in_flight
        self.by_correlation: Counter[str] = Counter()
        """Requests per correlation id (a sandbox-only admin figure): what one deal,
        or the change feed, cost the account's pool."""

    def try_enter(self) -> bool:
        self.requests += 1
        if self.in_flight >= self.limit:
            self.rejected += 1
            return False
        self._count_slot_time()
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return True

    def leave(self) -> None:
        self._count_slot_time()
        self.in_flight -= 1

    def _count_slot_time(self) -> float:
        """Add the slot time since the last change of ``in_flight``; the total."""
        now = time.monotonic()
        self.slot_seconds += self.in_flight * (now - self._counted_at)
        self._counted_at = now
        return self.slot_seconds

    def slot_seconds_now(self) -> float:
        return self._count_slot_time()


class ConcurrencyLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: ConcurrencyLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == _CORRELATION_HEADER:
                self.limiter.by_correlation[value.decode("latin-1")] += 1
                break
        if not self.limiter.try_enter():
            logger.info(
                "concurrency limit %d exceeded: %s %s",
                self.limiter.limit,
                scope["method"],
                scope["path"],
            )
            response = error_response(400, SSS_REQUEST_LIMIT_EXCEEDED, LIMIT_DETAIL)
            await response(scope, receive, send)
            return
        try:
            if self.limiter.latency_ms:
                # Inside the window on purpose: a slow ERP holds its slots longer.
                await asyncio.sleep(self.limiter.latency_ms / 1000)
            await self.app(scope, receive, send)
        finally:
            self.limiter.leave()
