"""The change feed's published contract: ``ErpChangeFeed``, one run per ERP.

It never ends on its own: a kind the ERP refuses waits for a person (an exception per
kind, resumed by ``retry``) while the other kinds go on."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from models.billing import ChangeCursor
from models.changes import ChangeKind
from models.deal import DealException
from models.types import UtcDatetime
from workflows.contract import RETRY, Query

WORKFLOW_TYPE = "ErpChangeFeed"
ID_PREFIX = "erp-change-feed:"


class FeedConfig(BaseModel):
    poll_interval: timedelta = timedelta(seconds=30)
    overlap: timedelta = timedelta(minutes=5)
    page_size: int = 200
    polls_per_run: int = 200


class ParkedKind(BaseModel):
    """A kind the feed stopped reading until a person fixes what the ERP refused."""

    exception: DealException
    retry_requested: bool = False
    """The operator's retry had arrived and was not yet acted on."""


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
    parked: dict[ChangeKind, ParkedKind] = {}
    """Kinds waiting for a person, carried across continue-as-new."""


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
    parked: dict[ChangeKind, DealException] = {}
    """Kinds waiting for a person (the ERP refused them), with the exception each waits
    on; the feed reads the other kinds meanwhile and resumes these from their cursors
    on a ``retry``."""


STATUS: Query[FeedStatus] = Query("status", FeedStatus)

__all__ = [
    "RETRY",
    "STATUS",
    "WORKFLOW_TYPE",
    "FeedConfig",
    "FeedInput",
    "FeedStatus",
    "ParkedKind",
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
