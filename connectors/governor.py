"""ERP concurrency governance: keep Syncline's in-flight ERP calls under the account limit.

ERPs meter concurrent API calls per account (NetSuite: 5 on a developer account, 15 on
a shared tier), across every integration. Going over does not fail slowly, it fails
with an error per call. A connector takes one slot per HTTP request from a governor.

``LocalGovernor`` holds within one process. For several workers sharing one account,
``workers`` builds a ``PostgresGovernor`` (advisory locks in the shared database), so
the limit holds across machines; and whatever leaks past a governor (another
integration using the same account) comes back as ``RateLimitedError`` and is retried
with backoff by the engine, never treated as a business failure.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Protocol


class ConcurrencyGovernor(Protocol):
    def slot(self) -> AbstractAsyncContextManager[None]:
        """Hold one of the limited slots for the duration of one call."""
        ...


class LocalGovernor:
    """A process-wide semaphore; also records the peak, for benchmarks and tests."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("an ERP concurrency limit must be at least 1")
        self.limit = limit
        self._semaphore = asyncio.Semaphore(limit)
        self.in_flight = 0
        self.peak = 0

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        async with self._semaphore:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                yield
            finally:
                self.in_flight -= 1

    def slot(self) -> AbstractAsyncContextManager[None]:
        return self._slot()


class UnlimitedGovernor:
    """For systems with no concurrency metering (the CRM) and for unit tests."""

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        yield

    def slot(self) -> AbstractAsyncContextManager[None]:
        return self._slot()
