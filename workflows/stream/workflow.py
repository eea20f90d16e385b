"""CrmChangeStream: one long-running run per CRM channel, reading its change events from
where it left off, so that nothing the CRM changed is lost while the ingress is down.

The run is a loop over the reading activity (``CrmStreamActivities.follow_stream``):
each run of it reads the channel from the stream's replay id for about a minute,
signals the workflows each event concerns, exactly as the webhook would, and returns
its new position, which the workflow keeps (and carries when it continues as new, every
few hundred runs). A run cut short resumes from its last heartbeat, so the position is
durable both between runs (here) and inside one (in Temporal's heartbeat).

Two things wait for a person. A refused credential (or a channel the CRM refuses)
parks the stream until the operator's ``retry``: nothing can be read meanwhile. A
position the CRM no longer keeps (the stream was away past the 72-hour retention) opens
one exception, has the gap reconciled, and goes on reading from the oldest event the
CRM still keeps; the exception stays open, its reconciliation named in it, until an
operator's ``retry`` closes it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.crm_stream import CrmStreamActivities
    from activities.errors import POSITION_LOST
    from models.crm_stream import (
        FollowStreamInput,
        ReconcileGapInput,
        ReconcileGapResult,
        StreamProgress,
        StreamStart,
    )
    from models.deal import ExceptionReason, RetryRequest
    from workflows.lag import LagWindow
    from workflows.parking import Parking, needs_a_person
    from workflows.policies import CALL_RETRY, CALL_TIMEOUT, HEARTBEAT_TIMEOUT
    from workflows.stream.contract import (
        RECONCILE_GAP_ACTIVITY,
        RETRY,
        STATUS,
        WORKFLOW_TYPE,
        ParkedGap,
        StreamInput,
        StreamStatus,
    )

# A run reads for its window, then may wait out one keep-alive (Salesforce sends one
# within 270 s) before it has a position to return.
RUN_SLACK = timedelta(minutes=10)
HISTORY_LIMIT = 10_000


@workflow.defn(name=WORKFLOW_TYPE)
class CrmChangeStream:
    @workflow.init
    def __init__(self, request: StreamInput) -> None:
        self._status = StreamStatus(
            channel=request.channel,
            replay_id=request.replay_id,
            events=request.events,
            closed_won=request.closed_won,
            signalled=request.signalled,
            ignored=request.ignored,
            own_writes=request.own_writes,
            gaps=request.gaps,
            last_commit_at=request.last_commit_at,
        )
        self._lags = LagWindow()
        stream_id = workflow.info().workflow_id
        # A gap's exception stays open while the stream reads on; a refusal stops it.
        self._gap = Parking(stream_id, stream_id)
        self._refused = Parking(stream_id, stream_id)
        if request.gap is not None:
            self._gap.adopt(request.gap.exception, retry_requested=request.gap.retry_requested)

    @workflow.query(name=STATUS.name)
    def status(self) -> StreamStatus:
        exception = self._refused.open_exception or self._gap.open_exception
        return self._status.model_copy(update={"open_exception": exception})

    @workflow.signal(name=RETRY.name)
    def retry(self, request: RetryRequest) -> None:
        self._refused.request_retry(request)
        self._gap.request_retry(request)

    @workflow.run
    async def run(self, request: StreamInput) -> None:
        config = request.config
        start = request.start or config.start
        while self._status.runs < config.runs_per_continue and not self._history_full():
            if self._gap.take_retry():
                await self._gap.close()  # the operator has settled the gap
            try:
                progress = await workflow.execute_activity_method(
                    CrmStreamActivities.follow_stream,
                    FollowStreamInput(
                        channel=request.channel,
                        replay_id=self._status.replay_id,
                        start=start,
                        batch_size=config.batch_size,
                        window=config.window,
                        max_events=config.max_events_per_run,
                        correlation_id=workflow.info().workflow_id,
                        stream_id=workflow.info().workflow_id,
                    ),
                    start_to_close_timeout=config.window + RUN_SLACK,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    retry_policy=CALL_RETRY,
                )
            except ActivityError as error:
                if _cause_type(error) == POSITION_LOST:
                    await self._reconcile_gap(request, str(error.cause))
                    self._status.replay_id, start = None, StreamStart.EARLIEST
                    continue
                problem = needs_a_person(error, ExceptionReason.CRM_REJECTED)
                if problem is None:
                    raise
                await self._refused.park(
                    "read", problem[0], f"the CRM change stream stopped: {problem[1]}"
                )
                continue
            await self._refused.close()
            self._took(progress)
        gap = self._gap.open_exception
        workflow.continue_as_new(
            request.model_copy(
                update={
                    "replay_id": self._status.replay_id,
                    "start": start,
                    "events": self._status.events,
                    "closed_won": self._status.closed_won,
                    "signalled": self._status.signalled,
                    "ignored": self._status.ignored,
                    "own_writes": self._status.own_writes,
                    "gaps": self._status.gaps,
                    "last_commit_at": self._status.last_commit_at,
                    "gap": None
                    if gap is None
                    else ParkedGap(exception=gap, retry_requested=self._gap.retry_requested),
                }
            )
        )

    def _took(self, progress: StreamProgress) -> None:
        status = self._status
        status.replay_id = progress.replay_id or status.replay_id
        status.events += progress.events
        status.closed_won += progress.closed_won
        status.signalled += progress.signalled
        status.ignored += progress.ignored
        status.own_writes += progress.own_writes
        status.last_commit_at = progress.last_commit_at or status.last_commit_at
        status.runs += 1
        status.last_run_at = workflow.now()
        self._lags.add(progress.lag_seconds)
        status.lag_p50_seconds = self._lags.quantile(0.50)
        status.lag_p95_seconds = self._lags.quantile(0.95)

    async def _reconcile_gap(self, request: StreamInput, message: str) -> None:
        """One exception for the gap (however many times it is hit before a person
        looks), and a reconciliation of what the channel feeds."""
        self._status.gaps += 1
        started = await workflow.execute_activity(
            RECONCILE_GAP_ACTIVITY,
            ReconcileGapInput(
                channel=request.channel,
                key=workflow.uuid4().hex[:16],
                correlation_id=workflow.info().workflow_id,
            ),
            result_type=ReconcileGapResult,
            start_to_close_timeout=CALL_TIMEOUT,
            retry_policy=CALL_RETRY,
        )
        since = self._status.last_commit_at
        await self._gap.open(
            "gap",
            ExceptionReason.CRM_EVENTS_LOST,
            f"the CRM no longer keeps the change events of {request.channel} after the "
            f"stream's position ({message}); reconciliation {started.reconciliation_id} "
            "compares the gap, and the stream reads on from the oldest event kept",
            details={
                "channel": request.channel,
                "replay_id": self._status.replay_id or "",
                "last_commit_at": since.isoformat() if since else "",
                "reconciliation_id": started.reconciliation_id,
            },
        )

    def _history_full(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested() or info.get_current_history_length() > HISTORY_LIMIT
        )


def _cause_type(error: ActivityError) -> str | None:
    cause = error.cause
    return cause.type if isinstance(cause, ApplicationError) else None
