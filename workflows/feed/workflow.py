"""ErpChangeFeed: one long-running run per ERP that turns ERP changes into events.

Each poll reads, kind by kind (customers, items, orders, invoices, subscriptions), the
ERP's changes in (modification time, id) order from that kind's durable cursor, and
publishes every new snapshot: the business events it makes go into the ledger, and the
workflows it concerns get a signal (the deal of an order or invoice, the mirror of a
customer or item, the renewal of a subscription). Then it sleeps. Two things keep it
from losing updates:

- the keyset cursor (time *and* id), so records sharing a timestamp across a page
  boundary are all read;
- an overlap window re-read on every poll, so a change committed late with an older
  timestamp (Tryton stamps a transaction's start; clocks drift) is still seen.

What the overlap re-reads is recognised by a version key per record and not sent
again; the ledger refuses a fact it holds and the workflows ignore stale snapshots
anyway. The run continues as new every few hundred polls, or sooner when a backlog
makes its history long, carrying cursors and seen keys.

The feed never fails on what the ERP refuses (a revoked credential, a permission
withdrawn, a 404 on a query, an answer no connector explains): the kind that failed
opens one exception and is skipped, its cursor kept, while the other kinds go on being
read. It is read again from that cursor, so nothing in between is missed, when an
operator retries it or, by itself, ``RECHECK_EVERY`` poll intervals after it was
refused (a workflow timer, so the decision is in the history) and again when the run
continues as new: a credential restored or a permission given back needs nobody's
retry, and a refusal that persists reopens the same exception row. Parked kinds, and a
retry not yet acted on, are carried across continue-as-new.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.erp import ErpActivities
    from activities.feed import FeedActivities
    from models.billing import ChangeCursor
    from models.changes import ChangeKind, ErpChange
    from models.deal import ExceptionReason, RetryRequest
    from models.events import SourceSystem
    from models.messages import FetchChangesInput, PublishChangesInput
    from workflows.feed.contract import (
        RETRY,
        STATUS,
        WORKFLOW_TYPE,
        FeedConfig,
        FeedInput,
        FeedStatus,
        ParkedKind,
        StreamStatus,
    )
    from workflows.lag import LagWindow
    from workflows.parking import Parking, needs_a_person
    from workflows.task_queues import erp_task_queue

FEED_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
)
CALL_TIMEOUT = timedelta(minutes=2)
HEARTBEAT_TIMEOUT = timedelta(seconds=30)
# Masters before the records that name them, orders before their fulfilments and
# invoices, invoices before the credit memos and payments that settle them.
KIND_ORDER = (
    ChangeKind.CUSTOMER,
    ChangeKind.ITEM,
    ChangeKind.ORDER,
    ChangeKind.FULFILMENT,
    ChangeKind.INVOICE,
    ChangeKind.CREDIT_MEMO,
    ChangeKind.PAYMENT,
    ChangeKind.SUBSCRIPTION,
)
# Continue as new past this many history events or bytes (or when the server says
# so): a backlog of thousands of pages must not grow one run's history without bound,
# and every page is in it twice (read, then published), so bytes run out first.
HISTORY_LIMIT = 10_000
HISTORY_BYTES = 8 * 1024 * 1024
# Seen keys carried per kind: enough for any overlap window in steady state; beyond
# it a re-read is published again and the ledger refuses the repeat.
SEEN_LIMIT = 5_000
# A parked kind is read again by itself this many poll intervals after it was refused
# (5 minutes at the default 30 seconds): often enough that a fixed ERP is followed
# again soon, rarely enough that a refusal that persists costs the ERP next to nothing.
# The wait is a durable timer whose firing is an event in the history, never a
# comparison with workflow.now(): the lifecycle explorer caught a feed whose first task
# on a freshly started worker saw an older workflow time than its replay later did, so
# the replay chose to read where the run had slept, a nondeterminism error that stopped
# the feed (tests/lifecycle/runs/feed_nondeterminism_seed20261204_seq88.json). Counting
# polls instead was deterministic too, but a poll's own reads lengthen it, so the
# recheck came late wherever polls are slow next to their interval.
RECHECK_EVERY = 10


_STAMP = "%Y-%m-%dT%H:%M:%S.%f"  # fixed width, so version keys sort by time as text


@workflow.defn(name=WORKFLOW_TYPE)
class ErpChangeFeed:
    @workflow.init
    def __init__(self, request: FeedInput) -> None:
        self._status = FeedStatus(
            cursor=request.cursors.get(ChangeKind.INVOICE),
            last_poll_at=None,
            lag_seconds=None,
            delivered=request.delivered,
            unmatched=request.unmatched,
            polls=0,
            recorded=request.recorded,
            duplicates=request.duplicates,
        )
        self._lags = LagWindow()
        # One exception per kind: each kind waits on its own problem, and its row
        # resolves when that kind reads again.
        feed_id = workflow.info().workflow_id
        self._parking = {kind: Parking(feed_id, feed_id) for kind in ChangeKind}
        self._recheck_after = request.config.poll_interval * RECHECK_EVERY
        self._rechecks: dict[ChangeKind, asyncio.Task[None]] = {}
        """The pending recheck timer of each parked kind."""
        self._recheck_due: set[ChangeKind] = set()
        for kind, parked in request.parked.items():
            self._parking[kind].adopt(parked.exception, retry_requested=parked.retry_requested)
            self._status.parked[kind] = parked.exception

    @workflow.query(name=STATUS.name)
    def status(self) -> FeedStatus:
        return self._status

    @workflow.signal(name=RETRY.name)
    def retry(self, request: RetryRequest) -> None:
        """The operator fixed what the ERP refused: the kind parked on that exception
        (every parked kind, when the request names none) is read again."""
        for parking in self._parking.values():
            parking.request_retry(request)

    @workflow.run
    async def run(self, request: FeedInput) -> None:
        config = request.config
        kinds = await workflow.execute_activity_method(
            ErpActivities.change_kinds,
            task_queue=erp_task_queue(workflow.info().task_queue),
            start_to_close_timeout=CALL_TIMEOUT,
            retry_policy=FEED_RETRY,
        )
        # A new feed follows what changes from now on (minus the overlap); history
        # before it is reconciliation's to compare, not thousands of signals.
        start = ChangeCursor(modified_at=workflow.now() - config.overlap)
        cursors: dict[ChangeKind, ChangeCursor] = {}
        seen: dict[ChangeKind, dict[str, str]] = {}
        for kind in (k for k in KIND_ORDER if k in kinds):
            cursors[kind] = request.cursors.get(kind) or start
            seen[kind] = dict(request.seen_by_kind.get(kind, {}))
            self._status.streams[kind] = StreamStatus(cursor=cursors[kind])
        system = SourceSystem(request.erp_system)
        # A kind parked by an earlier run is read again at this run's first poll: how
        # long it has waited could only be read off the clock, and one more read of a
        # refused kind every continue-as-new (a few hundred polls) costs next to nothing.
        self._recheck_due.update(request.parked)
        polls = 0
        while polls < config.polls_per_run and not self._history_full():
            for kind in cursors:
                if not self._may_poll(kind):
                    continue
                cursors[kind] = await self._poll_kind(system, kind, config, cursors[kind], seen)
                if self._history_full():
                    break
            else:
                polls += 1
                self._status.polls += 1
                self._status.last_poll_at = workflow.now()
                await workflow.sleep(config.poll_interval)
        workflow.continue_as_new(
            request.model_copy(
                update={
                    "cursors": cursors,
                    "seen_by_kind": seen,
                    "delivered": self._status.delivered,
                    "unmatched": self._status.unmatched,
                    "recorded": self._status.recorded,
                    "duplicates": self._status.duplicates,
                    "parked": self._parked(),
                }
            )
        )

    def _may_poll(self, kind: ChangeKind) -> bool:
        """A parked kind is read again once the operator asks, or its recheck is due."""
        parking = self._parking[kind]
        return parking.open_exception is None or parking.take_retry() or kind in self._recheck_due

    def _arm_recheck(self, kind: ChangeKind) -> None:
        """(Re)start the kind's recheck timer: refused again, it waits from now."""
        self._disarm_recheck(kind)
        self._rechecks[kind] = asyncio.create_task(self._recheck_later(kind))

    def _disarm_recheck(self, kind: ChangeKind) -> None:
        self._recheck_due.discard(kind)
        pending = self._rechecks.pop(kind, None)
        if pending is not None and not pending.done():
            pending.cancel()

    async def _recheck_later(self, kind: ChangeKind) -> None:
        await workflow.sleep(self._recheck_after)
        self._recheck_due.add(kind)

    def _parked(self) -> dict[ChangeKind, ParkedKind]:
        return {
            kind: ParkedKind(exception=p.open_exception, retry_requested=p.retry_requested)
            for kind, p in self._parking.items()
            if p.open_exception is not None
        }

    def _history_full(self) -> bool:
        info = workflow.info()
        return (
            info.is_continue_as_new_suggested()
            or info.get_current_history_length() > HISTORY_LIMIT
            or info.get_current_history_size() > HISTORY_BYTES
        )

    async def _poll_kind(
        self,
        system: SourceSystem,
        kind: ChangeKind,
        config: FeedConfig,
        cursor: ChangeCursor,
        seen_by_kind: dict[ChangeKind, dict[str, str]],
    ) -> ChangeCursor:
        """Read one kind from the overlap window on; the newest position published
        (where it stopped, if the ERP refused it: the kind is parked there)."""
        seen = seen_by_kind[kind]
        position = ChangeCursor(modified_at=cursor.modified_at - config.overlap)
        newest = cursor
        try:
            while True:
                page = await workflow.execute_activity_method(
                    ErpActivities.fetch_changes,
                    FetchChangesInput(kind=kind, after=position, limit=config.page_size),
                    task_queue=erp_task_queue(workflow.info().task_queue),
                    start_to_close_timeout=CALL_TIMEOUT,
                    heartbeat_timeout=HEARTBEAT_TIMEOUT,
                    retry_policy=FEED_RETRY,
                )
                fresh = [c for c in page.changes if seen.get(c.id) != _change_version(c)]
                await self._publish(system, kind, fresh)
                for change in fresh:
                    seen[change.id] = _change_version(change)
                if page.changes:
                    position = page.changes[-1].position
                    if _after(position, newest):
                        newest = position
                if not page.has_more or self._history_full():
                    break
        except ActivityError as error:
            problem = needs_a_person(error, ExceptionReason.ERP_REJECTED)
            if problem is None:
                raise
            # What was published stays published; the cursor stops before the rest.
            await self._park(kind, newest, *problem)
        else:
            await self._unpark(kind)
        _forget_before(seen, newest.modified_at - config.overlap)
        self._status.streams[kind].cursor = newest
        if kind is ChangeKind.INVOICE:
            self._status.cursor = newest
        return newest

    async def _park(
        self, kind: ChangeKind, cursor: ChangeCursor, reason: ExceptionReason, message: str
    ) -> None:
        """Open (or, failing the same way after a retry, reopen) the kind's exception;
        the run goes on with the other kinds."""
        self._arm_recheck(kind)
        self._status.parked[kind] = await self._parking[kind].open(
            f"poll:{kind.value}",
            reason,
            f"the change feed stopped reading {kind.value} changes: {message}",
            details={
                "kind": kind.value,
                "cursor_modified_at": cursor.modified_at.isoformat(),
                "cursor_id": str(cursor.id),
            },
        )

    async def _unpark(self, kind: ChangeKind) -> None:
        parking = self._parking[kind]
        self._disarm_recheck(kind)
        if parking.open_exception is not None:
            await parking.close()
            del self._status.parked[kind]

    async def _publish(
        self, system: SourceSystem, kind: ChangeKind, changes: list[ErpChange]
    ) -> None:
        if not changes:
            return
        result = await workflow.execute_activity_method(
            FeedActivities.publish_changes,
            PublishChangesInput(erp_system=system, changes=changes),
            start_to_close_timeout=CALL_TIMEOUT,
            heartbeat_timeout=HEARTBEAT_TIMEOUT,
            retry_policy=FEED_RETRY,
        )
        self._status.streams[kind].published += len(changes)
        self._status.recorded += result.recorded
        self._status.duplicates += result.duplicates
        self._status.delivered += result.signalled
        self._status.unmatched += len(result.unmatched)
        self._lags.add(result.lag_seconds)
        self._status.lag_seconds = result.lag_seconds[-1] if result.lag_seconds else None
        self._status.lag_p50_seconds = self._lags.quantile(0.50)
        self._status.lag_p95_seconds = self._lags.quantile(0.95)


def _change_version(change: ErpChange) -> str:
    """Time first (so keys age out by text comparison), then the content: two versions
    stamped in the same instant are still two versions."""
    digest = hashlib.sha256(change.model_dump_json().encode()).hexdigest()[:16]
    return f"{change.modified_at.strftime(_STAMP)}|{digest}"


def _forget_before(seen: dict[str, str], horizon_at: datetime) -> None:
    """Drop keys older than the next overlap window (they cannot be re-read), and the
    oldest beyond ``SEEN_LIMIT``."""
    horizon = horizon_at.strftime(_STAMP)
    for record_id in [k for k, v in seen.items() if v.split("|", 1)[0] < horizon]:
        del seen[record_id]
    if len(seen) > SEEN_LIMIT:
        for record_id, _ in sorted(seen.items(), key=lambda kv: kv[1])[: len(seen) - SEEN_LIMIT]:
            del seen[record_id]


def _after(a: ChangeCursor, b: ChangeCursor) -> bool:
    return (a.modified_at, a.id) > (b.modified_at, b.id)
