"""The change feed's published contract: ``ErpChangeFeed``, one run per ERP."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from models.billing import ChangeCursor
from models.changes import ChangeKind
from models.types import UtcDatetime
from workflows.contract import Query

WORKFLOW_TYPE = "ErpChangeFeed"
ID_PREFIX = "erp-change-feed:"


class FeedConfig(BaseModel):
    poll_interval: timedelta = timedelta(seconds=30)
    overlap: timedelta = timedelta(minutes=5)
    page_size: int = 200
    polls_per_run: int = 200


class FeedInput(BaseModel):
    erp_system: str
    config: FeedConfig = FeedConfig()
    delivered: int = 0
    unmatched: int = 0
    cursors: dict[ChangeKind, ChangeCursor] = {}
    seen_by_kind: dict[ChangeKind, dict[str, str]] = {}
    """Per kind, record id → version key, for what lies inside the overlap window."""
    recorded: int = 0
    duplicates: int = 0


class StreamStatus(BaseModel):
    cursor: ChangeCursor | None = None
    published: int = 0


class FeedStatus(BaseModel):
    cursor: ChangeCursor | None
    """The invoices' cursor (the kind billing waits on)."""
    last_poll_at: UtcDatetime | None
    lag_seconds: float | None
    """From the ERP's timestamp of the newest change delivered to the poll that read it."""
    delivered: int
    unmatched: int
    polls: int
    recorded: int = 0
    """Events the feed put in the ledger."""
    duplicates: int = 0
    """Events it found already there (the same fact read again)."""
    lag_p50_seconds: float | None = None
    lag_p95_seconds: float | None = None
    """Over the last changes published: ERP modification time → event in the ledger."""
    streams: dict[ChangeKind, StreamStatus] = {}


STATUS: Query[FeedStatus] = Query("status", FeedStatus)

__all__ = [
    "STATUS",
    "WORKFLOW_TYPE",
    "FeedConfig",
    "FeedInput",
    "FeedStatus",
    "StreamStatus",
    "feed_workflow_id",
    "start_feed",
]


def feed_workflow_id(erp_system: str) -> str:
    return f"{ID_PREFIX}{erp_system}"


async def start_feed(client: Client, task_queue: str, erp_system: str, config: FeedConfig) -> None:
    """Start the ERP's feed unless it already runs (whichever worker gets there first)."""
    await client.start_workflow(
        WORKFLOW_TYPE,
        FeedInput(erp_system=erp_system, config=config),
        id=feed_workflow_id(erp_system),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
