"""Operator and test controls: ``/admin/*``. Never rate limited, never faulted."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from sandbox.netsuite.state import NetSuiteSandbox

logger = logging.getLogger(__name__)


class RuntimeConfig(BaseModel):
    concurrency_limit: int | None = Field(None, ge=1)
    latency_ms: int | None = Field(None, ge=0)


class ClosePeriods(BaseModel):
    through: date = Field(
        description="every transaction date up to and including this one "
        "is in a closed period (pass a month end for monthly periods)"
    )


class OpenPeriods(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_date: date | None = Field(
        None, alias="from", description="reopen from this date on; absent = all"
    )


def admin_router(sandbox: NetSuiteSandbox) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])

    def _config() -> dict[str, Any]:
        return {
            "concurrency_limit": sandbox.limiter.limit,
            "latency_ms": sandbox.limiter.latency_ms,
        }

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/config")
    async def get_config() -> dict[str, Any]:
        return _config()

    @router.post("/config")
    async def set_config(change: RuntimeConfig) -> dict[str, Any]:
        if change.concurrency_limit is not None:
            sandbox.limiter.limit = change.concurrency_limit
        if change.latency_ms is not None:
            sandbox.limiter.latency_ms = change.latency_ms
        logger.info("runtime config now %s", _config())
        return _config()

    async def _periods() -> dict[str, Any]:
        closed = await sandbox.closed_through()
        return {"closed_through": None if closed is None else closed.isoformat()}

    @router.get("/periods")
    async def get_periods() -> dict[str, Any]:
        return await _periods()

    @router.post("/periods/close")
    async def close_periods(body: ClosePeriods) -> dict[str, Any]:
        current = await sandbox.closed_through()
        # Closing is monotonic: closing through an earlier date reopens nothing.
        if current is None or body.through > current:
            await sandbox.set_closed_through(body.through)
        return await _periods()

    @router.post("/periods/open")
    async def open_periods(body: OpenPeriods | None = None) -> dict[str, Any]:
        current = await sandbox.closed_through()
        if body is None or body.from_date is None:
            await sandbox.set_closed_through(None)
        elif current is not None and body.from_date <= current:
            await sandbox.set_closed_through(body.from_date - timedelta(days=1))
        return await _periods()

    @router.get("/stats")
    async def stats() -> dict[str, Any]:
        return await sandbox.stats()

    @router.get("/requests-by-correlation")
    async def requests_by_correlation() -> dict[str, int]:
        """Limited requests per ``X-Correlation-Id`` since the last reset (benchmarks
        count one deal's ERP calls with it)."""
        return dict(sandbox.limiter.by_correlation)

    @router.post("/reset")
    async def reset() -> dict[str, Any]:
        await sandbox.reset()
        return await sandbox.stats()

    @router.post("/tokens/revoke")
    async def revoke_tokens() -> dict[str, int]:
        """End every OAuth 2.0 access token now (the mappings stay: new ones can be had)."""
        return {"revoked": await sandbox.credentials.revoke_access_tokens()}

    return router
