"""The reconciliation workflow's activities: compare one pass, repair, finish the report.

A pass can read millions of records, so it runs as one long activity that heartbeats
its progress after every batch (checkpoint, counts, totals). When its worker dies,
Temporal retries it elsewhere and the new attempt resumes after the last checkpoint:
the findings it already wrote are rewritten in place, never doubled.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from activities.change_publisher import ChangePublisher
from connectors.protocols import CrmClient, ErpClient
from models.changes import ChangeKind
from models.events import SourceSystem
from models.reconciliation import (
    PASS_DOMAINS,
    CompareInput,
    ComparePass,
    CompareProgress,
    Domain,
    DomainSummary,
    FindingState,
    FinishInput,
    ReconciliationReport,
    RepairInput,
    RepairResult,
)
from models.tables import ExceptionStatus
from reconciliation.billing import billing_pass
from reconciliation.collector import collector_for_comparison
from reconciliation.context import Batch, MetricBook, PassContext, Policy
from reconciliation.customers import customers_pass
from reconciliation.merge import UnsortedSourceError
from reconciliation.mirrors import mirrors_pass
from reconciliation.orders_pass import orders_pass
from reconciliation.records import ReconciliationRecords
from reconciliation.repair import RECONCILIATION_EXCEPTION_PREFIX, Repairer, exception_id
from reconciliation.subscriptions import subscriptions_pass
from store import Store
from telemetry.correlation import correlation_scope


class ReconcileActivities:
    def __init__(
        self,
        *,
        crm: CrmClient,
        erp: ErpClient,
        erp_system: SourceSystem,
        store: Store,
        client: Client,
        task_queue: str,
        sla: timedelta,
        renewal_lead: timedelta,
    ) -> None:
        self._crm = crm
        self._erp = erp
        self._erp_system = erp_system
        self._store = store
        self._records = ReconciliationRecords(store)
        self._sla = sla
        self._renewal_lead = renewal_lead
        self._repairer = Repairer(
            client,
            store,
            ChangePublisher(
                client,
                store,
                task_queue=task_queue,
                renewal_lead=renewal_lead,
                crm=crm,
                settling_records=erp.settling_records,
            ),
            crm=crm,
            erp_system=erp_system,
            task_queue=task_queue,
        )

    @activity.defn
    async def save_report(self, report: ReconciliationReport) -> None:
        await self._records.save_run(report)

    @activity.defn
    async def compare(self, request: CompareInput) -> CompareProgress:
        details = activity.info().heartbeat_details
        progress = (
            CompareProgress.model_validate(details[0])
            if details
            else CompareProgress(summaries=[DomainSummary(domain=d) for d in request.domains])
        )
        if request.compare_pass is ComparePass.SUBSCRIPTIONS and (
            ChangeKind.SUBSCRIPTION not in self._erp.change_kinds
        ):
            progress.skipped = f"{self._erp_system} has no subscriptions"
            return progress
        ctx = await self._context(request)
        beat = _Heartbeat(progress)
        with correlation_scope(request.run_id), beat.running(), collector_for_comparison():
            started = time.monotonic()
            try:
                async for batch in self._batches(ctx, request, progress.checkpoint):
                    await self._records.save_findings(request.run_id, batch.findings)
                    _add(progress, batch, time.monotonic() - started)
                    started = time.monotonic()
                    beat.now()
            except UnsortedSourceError as error:
                raise ApplicationError(
                    str(error), type="UnsortedSource", non_retryable=True
                ) from None
        return progress

    async def _context(self, request: CompareInput) -> PassContext:
        domains = PASS_DOMAINS[request.compare_pass]
        pending: frozenset[str] = frozenset()
        for domain in domains:
            pending |= await self._records.repairs_since(domain, request.as_of - self._sla)
        return PassContext(
            crm=self._crm,
            erp=self._erp,
            erp_system=self._erp_system,
            store=self._store,
            policy=Policy(now=request.as_of, sla=self._sla, renewal_lead=self._renewal_lead),
            since=request.since,
            keys=frozenset(request.keys) if request.keys is not None else None,
            page_size=request.page_size,
            pending_repairs=pending,
        )

    def _batches(
        self, ctx: PassContext, request: CompareInput, checkpoint: str | None
    ) -> AsyncIterator[Batch]:
        if request.compare_pass is ComparePass.ORDERS:
            return orders_pass(ctx, checkpoint)
        if request.compare_pass is ComparePass.BILLING:
            return billing_pass(ctx, checkpoint, frozenset(request.domains))
        if request.compare_pass is ComparePass.CUSTOMERS:
            return customers_pass(ctx, checkpoint)
        if request.compare_pass is ComparePass.MIRRORS:
            return mirrors_pass(ctx, checkpoint)
        return subscriptions_pass(ctx, checkpoint)

    @activity.defn
    async def repair(self, request: RepairInput) -> RepairResult:
        """Apply each found difference's remedy once; a retried attempt skips those
        already applied (their state moved on)."""
        result = RepairResult()
        restarted = 0
        if Domain.ORDERS in request.domains:
            # First: an exception left by a gone run would make a finding look parked.
            restarted = await self._repairer.restart_stopped_deals(request.run_id, request.keys)
            await self._repairer.ask_following_deals(request.run_id, request.keys)
        for domain in request.domains:
            result.repaired[domain] = result.open[domain] = 0
            async for row in self._records.all_findings(
                request.run_id, domain=domain, state=FindingState.FOUND
            ):
                with correlation_scope(f"{request.run_id}:{row.key}"):
                    outcome = await self._repairer.apply(
                        request.run_id, row, caused_by=request.requested_by
                    )
                await self._records.set_state(row.id, outcome.state, outcome.note)
                activity.heartbeat(row.id)
            async for row in self._records.all_findings(request.run_id, domain=domain):
                if row.state == FindingState.REPAIR_REQUESTED:
                    result.repaired[domain] += 1
                elif row.state == FindingState.EXCEPTION:
                    result.open[domain] += 1
        if restarted:
            result.repaired[Domain.ORDERS] += restarted
        return result

    @activity.defn
    async def finish(self, request: FinishInput) -> ReconciliationReport:
        """Resolve the exceptions earlier runs opened for differences this run no
        longer finds, then store the report."""
        report = request.report
        for summary in report.domains:
            await self._resolve_gone(report.id, summary.domain, request)
        await self._records.save_run(report)
        return report

    async def _resolve_gone(self, run_id: str, domain: Domain, request: FinishInput) -> None:
        if not request.full_scope and not request.keys:
            return  # a run over part of the data cannot say what vanished elsewhere
        # Found again in any state (also by a run that repairs nothing) is not gone.
        still = {
            exception_id(row) async for row in self._records.all_findings(run_id, domain=domain)
        }
        opened = await self._store.list_exceptions(
            id_prefix=f"{RECONCILIATION_EXCEPTION_PREFIX}{domain}:"
        )
        for row in opened:
            in_scope = request.full_scope or row.subject_id in (request.keys or [])
            if row.status != ExceptionStatus.RESOLVED and in_scope and row.id not in still:
                await self._store.resolve_exception(row.id)


def _add(progress: CompareProgress, batch: Batch, seconds: float) -> None:
    progress.checkpoint = batch.checkpoint or progress.checkpoint
    for summary in progress.summaries:
        mine = [f for f in batch.findings if f.domain == summary.domain]
        summary.compared += batch.compared
        summary.seconds += seconds
        for finding in mine:
            summary.by_class[finding.drift] = summary.by_class.get(finding.drift, 0) + 1
        if batch.freshness is not None and (
            summary.freshness is None or batch.freshness > summary.freshness
        ):
            summary.freshness = batch.freshness
    book = MetricBook()
    book.merge(progress.metrics)
    book.merge(batch.metrics.rows())
    progress.metrics = book.rows()


class _Heartbeat:
    """Heartbeats the latest progress now and on a timer, so a slow page never lets
    the heartbeat lapse and a retried attempt always finds the last checkpoint."""

    def __init__(self, progress: CompareProgress) -> None:
        self._progress = progress

    def now(self) -> None:
        activity.heartbeat(self._progress.model_dump(mode="json"))

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        timeout = activity.info().heartbeat_timeout
        interval = timeout.total_seconds() / 3 if timeout else 10.0

        async def beat() -> None:
            while True:
                await asyncio.sleep(interval)
                self.now()

        task = asyncio.create_task(beat())
        try:
            yield
        finally:
            task.cancel()
