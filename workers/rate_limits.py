"""Requests per sender, so one noisy or hostile source cannot starve the others.

A moving window per key, in this process's memory: with several API replicas behind a
balancer each enforces its own share, which is the point (protect this process's
database pool and Temporal client), not an exact global quota.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import limits
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_seconds: int
    """Whole seconds until the window has room again (0 when allowed)."""


class RateLimit:
    def __init__(self, rate: str) -> None:
        self.rate = rate
        self._item = limits.parse(rate)
        self._limiter = MovingWindowRateLimiter(MemoryStorage())

    async def take(self, *key: str) -> Verdict:
        if await self._limiter.hit(self._item, *key):
            return Verdict(True, 0)
        stats = await self._limiter.get_window_stats(self._item, *key)
        return Verdict(False, max(1, math.ceil(stats.reset_time - time.time())))


class OperatorRateLimit:
    """ASGI middleware: at most ``rate`` operator requests per client address, answered
    429 with ``Retry-After`` beyond it. Checked before the credential, so guessing keys
    is rate-limited too (each operator's own rate is checked once they are known:
    ``workers/access/guard.py``). Webhooks have their own limit in the ingress (per source)."""

    def __init__(self, app: ASGIApp, rate: str, prefixes: tuple[str, ...] = ("/api/",)) -> None:
        self._app = app
        self._limit = RateLimit(rate)
        self._prefixes = prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self._prefixes):
            client = scope.get("client")
            verdict = await self._limit.take("operator", client[0] if client else "unknown")
            if not verdict.allowed:
                answer = JSONResponse(
                    {"detail": f"more than {self._limit.rate} requests; retry later"},
                    status_code=429,
                    headers={"Retry-After": str(verdict.retry_after_seconds)},
                )
                await answer(scope, receive, send)
                return
        await self._app(scope, receive, send)
