"""``Reconcile``: compare each domain, repair what can be replayed, store the report.

The workflow decides; the activities read, write and signal. It carries counts only:
the findings themselves live in the database, so a run over a million records keeps a
history of a few dozen events.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import reconciliation.contract as contract
    from models.reconciliation import (
        PASS_DOMAINS,
        CompareInput,
        ComparePass,
        CompareProgress,
        DomainSummary,
        FinishInput,
        ReconcileRequest,
        ReconciliationReport,
        RepairInput,
        RunStatus,
    )
    from reconciliation.activities import ReconcileActivities
    from reconciliation.context import MetricBook
    from workflows.policies import CALL_RETRY

# A pass over a large ERP may take hours; a dead worker is noticed by the heartbeat.
# The pass beats on a timer every third of this, whatever a page costs, so it can be
# short: a killed worker's pass resumes from its checkpoint within 20 seconds.
PASS_TIMEOUT = timedelta(hours=6)
PASS_HEARTBEAT = timedelta(seconds=20)
SHORT = timedelta(minutes=2)
# Unlimited attempts: a pass resumes from its checkpoint, so retrying costs little.
PASS_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2), maximum_interval=timedelta(minutes=1)
)


@workflow.defn(name=contract.WORKFLOW_TYPE)
class Reconcile:
    def __init__(self) -> None:
        self._report: ReconciliationReport | None = None

    @workflow.query(name=contract.REPORT.name)
    def report(self) -> ReconciliationReport | None:
        return self._report

    @workflow.run
    async def run(self, request: ReconcileRequest) -> ReconciliationReport:
        info = workflow.info()
        as_of = workflow.now()
        report = ReconciliationReport(
            id=info.workflow_id,
            status=RunStatus.RUNNING,
            trigger=request.trigger,
            requested_by=request.requested_by,
            since=request.since,
            started_at=as_of,
        )
        self._report = report
        await self._save(report)
        book = MetricBook()
        for compare_pass in ComparePass:
            domains = sorted(PASS_DOMAINS[compare_pass] & set(request.domains))
            if not domains:
                continue
            try:
                progress = await self._compare(
                    CompareInput(
                        run_id=info.workflow_id,
                        compare_pass=compare_pass,
                        domains=domains,
                        since=request.since,
                        keys=request.keys,
                        page_size=request.page_size,
                        as_of=as_of,
                    )
                )
            except ActivityError as error:
                # Only a comparison that cannot be right fails for good (a side out of
                # key order): the run stops and says why rather than report noise.
                report.status = RunStatus.FAILED
                report.failure = str(error.cause or error)
                report.finished_at = workflow.now()
                await self._save(report)
                return report
            summaries = {s.domain: s for s in progress.summaries}
            book.merge(progress.metrics)
            if request.repair and progress.skipped is None:
                repaired = await workflow.execute_activity_method(
                    ReconcileActivities.repair,
                    RepairInput(
                        run_id=info.workflow_id,
                        domains=domains,
                        keys=request.keys,
                        requested_by=request.requested_by,
                    ),
                    start_to_close_timeout=PASS_TIMEOUT,
                    heartbeat_timeout=PASS_HEARTBEAT,
                    retry_policy=PASS_RETRY,
                )
                for domain, summary in summaries.items():
                    summary.repaired = repaired.repaired.get(domain, 0)
                    summary.open = repaired.open.get(domain, 0)
            else:
                for summary in summaries.values():
                    summary.open = _unexplained(summary)
            if progress.skipped is None:
                report.domains.extend(summaries[d] for d in domains)
            report.metrics = book.rows()
        report.status = RunStatus.COMPLETED
        report.finished_at = workflow.now()
        self._report = await workflow.execute_activity_method(
            ReconcileActivities.finish,
            FinishInput(
                report=report,
                full_scope=request.since is None and request.keys is None,
                keys=request.keys,
            ),
            start_to_close_timeout=PASS_TIMEOUT,
            retry_policy=CALL_RETRY,
        )
        return self._report

    async def _compare(self, request: CompareInput) -> CompareProgress:
        return await workflow.execute_activity_method(
            ReconcileActivities.compare,
            request,
            start_to_close_timeout=PASS_TIMEOUT,
            heartbeat_timeout=PASS_HEARTBEAT,
            retry_policy=PASS_RETRY,
        )

    async def _save(self, report: ReconciliationReport) -> None:
        await workflow.execute_activity_method(
            ReconcileActivities.save_report,
            report,
            start_to_close_timeout=SHORT,
            retry_policy=CALL_RETRY,
        )


def _unexplained(summary: DomainSummary) -> int:
    """Without repair, every difference that is not in flight waits for a person."""
    return sum(count for drift, count in summary.by_class.items() if drift != "in_flight")
