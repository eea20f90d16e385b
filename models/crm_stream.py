"""The CRM change stream's messages: what its activity is asked, and what it reports.

A position on the stream is Salesforce's replay id, opaque bytes, carried here as hex so
it survives JSON (workflow histories, heartbeats) unchanged.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import BaseModel

from models.types import UtcDatetime

LAG_SAMPLE = 200
"""Lags a run reports back at most (its newest): enough for quantiles, small in history."""


class StreamStart(StrEnum):
    """Where a stream with no position of its own starts reading."""

    LATEST = "latest"
    """Changes from now on: what came before is reconciliation's to compare."""
    EARLIEST = "earliest"
    """The oldest event the CRM still keeps (after a gap)."""


class StreamProgress(BaseModel):
    """How far a run of the stream has come: its heartbeat, and its result."""

    replay_id: str | None = None
    """The position after the last event handled (hex), or the newest one a keep-alive
    named; None until the CRM has named one."""
    events: int = 0
    closed_won: int = 0
    """Deals told their opportunity was won (started, or told again)."""
    signalled: int = 0
    """Workflows signalled, in all."""
    ignored: int = 0
    """Events that concern no workflow (Syncline's own writes among them)."""
    own_writes: int = 0
    last_commit_at: UtcDatetime | None = None
    """The CRM's commit time of the newest event handled."""
    lag_seconds: list[float] = []
    """Commit → signalled, for the newest events handled (at most ``LAG_SAMPLE``)."""

    def add_lag(self, seconds: float) -> None:
        self.lag_seconds = [*self.lag_seconds[-(LAG_SAMPLE - 1) :], seconds]


class FollowStreamInput(BaseModel):
    channel: str
    """The Pub/Sub topic: ``/data/OpportunityChangeEvent``, ``/data/ChangeEvents``…"""
    replay_id: str | None = None
    start: StreamStart = StreamStart.LATEST
    batch_size: int = 100
    """Events asked for at a time (``num_requested``): the most held unhandled."""
    window: timedelta = timedelta(seconds=60)
    """A run returns its progress to the workflow after about this long…"""
    max_events: int = 1000
    """…or after this many events, whichever comes first."""
    correlation_id: str
    stream_id: str | None = None
    """The stream's workflow id, under which its position is also kept in the store."""


class ReconcileGapInput(BaseModel):
    """Compare what a stream may have missed: the domains its channel feeds."""

    channel: str
    key: str
    """Names the reconciliation run, so a retried call starts it once."""
    correlation_id: str


class ReconcileGapResult(BaseModel):
    reconciliation_id: str
