"""The CRM change stream's activity: read a Pub/Sub channel from a position and turn each
change event into the trigger the webhook makes, for the same workflows.

One run reads for about ``window`` (or ``max_events``), then returns how far it came,
which the workflow keeps as the next run's starting point. Inside a run the position
travels in the heartbeat after every event, so a run cut short (a worker killed, the
network gone) is retried from its last heartbeat rather than from the run's start:
the events between that heartbeat and the cut are routed a second time, which the
workflows absorb (a deal's id is its business key; a repeated closed-won is counted,
not acted on). A worker shutting down ends the run cleanly with its progress.

Each event is parsed by the webhook's own parser (``models.webhooks``), routed by the
webhook's own router (``crm_triggers.py``), and its lag, CRM commit to workflows
signalled, is recorded as the ``syncline.event.lag`` metric (``crm_commit_to_signal``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, Protocol

from pydantic import ValidationError
from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.crm_triggers import CrmTriggerRouter, TriggerSource
from activities.errors import TRANSIENT, translate_connector_errors
from connectors.salesforce.pubsub import ChangeEvent, FetchedBatch, ReplayStart
from models.crm_stream import FollowStreamInput, StreamProgress, StreamStart
from models.types import utc_now
from models.webhooks import UnsupportedWebhook, parse_salesforce_webhook
from store import Store
from telemetry.correlation import correlation_scope
from telemetry.metrics import CRM_COMMIT_TO_SIGNAL, EVENT_LAG

log = logging.getLogger(__name__)


class ChangeEventSource(Protocol):
    def subscribe(
        self, topic: str, start: ReplayStart, *, batch_size: int = 100
    ) -> AsyncGenerator[FetchedBatch, None]: ...


async def _resumed(request: FollowStreamInput, store: Store) -> StreamProgress:
    """Where this attempt starts: the last heartbeat of a failed attempt, else the
    position the workflow gave, else the one the store kept for a stream that lost its
    workflow state (counts start at zero for each run)."""
    details = activity.info().heartbeat_details
    if details:
        return StreamProgress.model_validate(details[0])
    replay_id = request.replay_id
    # Not after a gap (start EARLIEST): the position kept then is the one the CRM refused.
    fresh = request.start == StreamStart.LATEST and request.stream_id is not None
    if replay_id is None and fresh and request.stream_id is not None:
        replay_id = await store.stream_position(request.stream_id)
    return StreamProgress(replay_id=replay_id)


def _start(progress: StreamProgress, request: FollowStreamInput) -> ReplayStart:
    if progress.replay_id is not None:
        return ReplayStart.after(bytes.fromhex(progress.replay_id))
    return ReplayStart.earliest() if request.start == StreamStart.EARLIEST else ReplayStart()


class CrmStreamActivities:
    def __init__(self, events: ChangeEventSource, router: CrmTriggerRouter, store: Store) -> None:
        self._events = events
        self._router = router
        self._store = store

    @activity.defn
    @translate_connector_errors
    async def follow_stream(self, request: FollowStreamInput) -> StreamProgress:
        """Read the channel for one run; its progress (position, counts, lags)."""
        progress = await _resumed(request, self._store)
        with correlation_scope(request.correlation_id):
            beating = asyncio.create_task(_beat(progress))
            try:
                await self._read(request, progress)
            finally:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating
        if request.stream_id is not None and progress.replay_id is not None:
            await self._store.save_stream_position(request.stream_id, progress.replay_id)
        return progress

    async def _read(self, request: FollowStreamInput, progress: StreamProgress) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + request.window.total_seconds()
        handled_before = progress.events
        stream = self._events.subscribe(
            request.channel, _start(progress, request), batch_size=request.batch_size
        )
        shutdown = asyncio.ensure_future(activity.wait_for_worker_shutdown())
        try:
            while (batch := await _next_unless(stream, shutdown)) is not None:
                for event in batch.events:
                    await self._handle(request.channel, event, progress)
                    activity.heartbeat(progress)
                if not batch.events and batch.latest_replay_id:
                    # A keep-alive: nothing of this channel before that id is unread.
                    progress.replay_id = batch.latest_replay_id.hex()
                enough = progress.events - handled_before >= request.max_events
                # Never return without a position, or the next run would start at the
                # tip again and miss what came in between.
                if progress.replay_id is not None and (enough or loop.time() >= deadline):
                    return
        finally:
            shutdown.cancel()
            await stream.aclose()

    async def _handle(self, channel: str, event: ChangeEvent, progress: StreamProgress) -> None:
        try:
            trigger = parse_salesforce_webhook(event.payload)
        except (UnsupportedWebhook, ValidationError) as error:
            log.info("change event %s concerns no workflow: %s", event.event_id, error)
            progress.ignored += 1
        else:
            if self._router.is_own_write(trigger):
                progress.own_writes += 1
                progress.ignored += 1
            else:
                source = TriggerSource(
                    delivery_id=f"pubsub:{channel}:{event.replay_id.hex()}",
                    correlation_id=event.event_id.replace("-", ""),
                    received_at=utc_now(),
                )
                try:
                    routed = await self._router.route(trigger, source)
                except RPCError as failure:
                    # Temporal itself is unavailable: the attempt is retried from its
                    # last heartbeat, as long as that lasts.
                    raise ApplicationError(
                        f"temporal: {failure.message}", type=TRANSIENT, non_retryable=False
                    ) from None
                progress.signalled += len(routed.workflow_ids)
                progress.closed_won += routed.closed_won
                progress.ignored += 0 if routed.workflow_ids else 1
        committed = event.committed_at
        if committed is not None:
            lag = (utc_now() - committed).total_seconds()
            EVENT_LAG.record(lag, {"syncline.lag": CRM_COMMIT_TO_SIGNAL})
            progress.add_lag(lag)
            progress.last_commit_at = committed
        progress.events += 1
        progress.replay_id = event.replay_id.hex()


async def _next_unless(
    stream: AsyncIterator[FetchedBatch], shutdown: asyncio.Future[Any]
) -> FetchedBatch | None:
    """The stream's next batch, or None once the worker is shutting down."""
    if shutdown.done():
        return None
    batch: asyncio.Future[Any] = asyncio.ensure_future(anext(stream))
    await asyncio.wait({batch, shutdown}, return_when=asyncio.FIRST_COMPLETED)
    if batch.done():
        fetched: FetchedBatch = batch.result()
        return fetched
    batch.cancel()
    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
        await batch
    return None


async def _beat(progress: StreamProgress) -> None:
    """Heartbeats while the stream is idle (an event beats on its own), so a dead
    worker is noticed within the heartbeat timeout, not the run's."""
    timeout = activity.info().heartbeat_timeout
    interval = timeout.total_seconds() / 3 if timeout else 10.0
    while True:
        await asyncio.sleep(interval)
        activity.heartbeat(progress)
