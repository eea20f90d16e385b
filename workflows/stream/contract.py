"""The CRM change stream's published contract: ``CrmChangeStream``, one run per channel.

Its id is the channel's business key (``crm-stream:salesforce:data:OpportunityChangeEvent``).
It never ends on its own: it reads the channel from its replay id, continues as new
with it, parks on what a person must fix (a refused credential) and, when the CRM no
longer keeps the events after its position, opens one exception and has the gap
reconciled (by the activity ``RECONCILE_GAP_ACTIVITY``, which reconciliation provides:
a workflow may not start another process's workflow by itself).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from models.crm_stream import StreamStart
from models.deal import DealException
from models.types import UtcDatetime
from workflows.contract import RETRY, Query

WORKFLOW_TYPE = "CrmChangeStream"
ID_PREFIX = "crm-stream:"
RECONCILE_GAP_ACTIVITY = "reconcile_crm_stream_gap"
"""Starts the reconciliation of a gap (``models.crm_stream.ReconcileGapInput``)."""


class StreamConfig(BaseModel):
    batch_size: int = 100
    """Events asked of the CRM at a time (Pub/Sub's ``num_requested``)."""
    window: timedelta = timedelta(seconds=60)
    """How long one run of the reading activity goes before it reports its position."""
    max_events_per_run: int = 1000
    start: StreamStart = StreamStart.LATEST
    """Where a stream with no position starts: changes from now on."""
    runs_per_continue: int = 500
    """Runs of the reading activity before the workflow continues as new."""


class ParkedGap(BaseModel):
    """The exception a gap opened, carried across continue-as-new until retried."""

    exception: DealException
    retry_requested: bool = False


class StreamInput(BaseModel):
    crm_system: str = "salesforce"
    channel: str
    config: StreamConfig = StreamConfig()
    replay_id: str | None = None
    """Where the last run stopped (hex); None: start at ``config.start``."""
    start: StreamStart | None = None
    """Where to start when ``replay_id`` is None, if not ``config.start`` (after a gap:
    the oldest event kept)."""
    events: int = 0
    closed_won: int = 0
    signalled: int = 0
    ignored: int = 0
    own_writes: int = 0
    gaps: int = 0
    last_commit_at: UtcDatetime | None = None
    gap: ParkedGap | None = None


class StreamStatus(BaseModel):
    channel: str
    replay_id: str | None
    """The position the stream resumes from (as of its last finished run)."""
    events: int
    """Change events read."""
    closed_won: int
    """Deals told their opportunity was won, through this stream."""
    signalled: int
    ignored: int
    own_writes: int
    """Syncline's own writes coming back, ignored."""
    gaps: int
    """Times the CRM no longer kept the events after the stream's position."""
    runs: int = 0
    last_commit_at: UtcDatetime | None = None
    last_run_at: UtcDatetime | None = None
    lag_p50_seconds: float | None = None
    lag_p95_seconds: float | None = None
    """CRM commit → workflows signalled, over the newest events read."""
    open_exception: DealException | None = None


STATUS: Query[StreamStatus] = Query("status", StreamStatus)

__all__ = [
    "RECONCILE_GAP_ACTIVITY",
    "RETRY",
    "STATUS",
    "WORKFLOW_TYPE",
    "ParkedGap",
    "StreamConfig",
    "StreamInput",
    "StreamStatus",
    "start_stream",
    "stream_workflow_id",
]


def stream_workflow_id(crm_system: str, channel: str) -> str:
    """``/data/OpportunityChangeEvent`` → ``crm-stream:salesforce:data:OpportunityChangeEvent``:
    no slash, so the id (and the exception ids made from it) fits in a URL path."""
    return f"{ID_PREFIX}{crm_system}:{channel.strip('/').replace('/', ':')}"


async def start_stream(
    client: Client, task_queue: str, channel: str, config: StreamConfig, crm_system: str
) -> str:
    """Start the channel's stream unless it already runs (whichever worker gets there
    first); its workflow id."""
    workflow_id = stream_workflow_id(crm_system, channel)
    await client.start_workflow(
        WORKFLOW_TYPE,
        StreamInput(crm_system=crm_system, channel=channel, config=config),
        id=workflow_id,
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    return workflow_id
