"""Start-up configuration of the NetSuite-shaped sandbox."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from sandbox.faults import FaultRule


class NetSuiteSandboxConfig(BaseModel):
    db_path: Path = Field(description="SQLite file; state persists across restarts")
    client_id: str
    client_secret: str
    concurrency_limit: int = Field(5, ge=1, description="account-wide concurrent requests")
    latency_ms: int = Field(
        0, ge=0, description="added to every record/query request, inside the concurrency window"
    )
    seed_catalog: bool = Field(True, description="seed sandbox.catalog on an empty db")
    token_ttl_seconds: int = Field(3600, ge=1, description="lifetime of issued tokens")
    faults: list[FaultRule] | None = Field(
        None, description="fault rules at start; None reads SYNCLINE_SANDBOX_ERP_FAULTS"
    )
