"""Start-up configuration of the NetSuite-shaped sandbox."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from sandbox.faults import FaultRule
from sandbox.netsuite.approval import ApprovalMode

# A sandbox account's id as NetSuite writes it in a realm (the host says 1234567-sb1).
DEFAULT_ACCOUNT_ID = "1234567_SB1"


class NetSuiteSandboxConfig(BaseModel):
    db_path: Path = Field(description="SQLite file; state persists across restarts")
    account_id: str = Field(
        DEFAULT_ACCOUNT_ID,
        description="the account's id, as token-based authentication's realm must name it",
    )
    concurrency_limit: int = Field(5, ge=1, description="account-wide concurrent requests")
    latency_ms: int = Field(
        0, ge=0, description="added to every record/query request, inside the concurrency window"
    )
    seed_catalog: bool = Field(True, description="seed sandbox.catalog on an empty db")
    token_ttl_seconds: int = Field(
        3600, ge=1, description="lifetime of issued access tokens (NetSuite: 60 minutes)"
    )
    approval_mode: ApprovalMode | None = Field(
        None,
        description="hold new sales orders for approval: off, all, or over_credit_limit; "
        "None keeps the database's setting (off unless set through /admin/approval)",
    )
    faults: list[FaultRule] | None = Field(
        None, description="fault rules at start; None reads SYNCLINE_SANDBOX_ERP_FAULTS"
    )
