"""What the CRM change stream could not read, compared: the activity its workflow calls
when the CRM no longer keeps the events after the stream's position.

The stream's workflow names this activity in its contract and cannot start another
process's workflow itself (workflows sit below reconciliation); reconciliation provides
it and starts the run through its own contract, once per gap.

The run compares without a date bound. Reconciliation finds CRM deals by close date,
and a deal won during the gap may carry a close date long before it; comparing
everything is slower but cannot miss one, and a gap is rare (three days away).
"""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client

from models.crm_stream import ReconcileGapInput, ReconcileGapResult
from models.reconciliation import Domain, ReconcileRequest, ReconcileTrigger
from reconciliation import contract
from workflows.stream.contract import RECONCILE_GAP_ACTIVITY

# Which comparisons cover what each channel brings: closed-won deals become orders;
# account edits are checked against the ERP customer the account mirrors.
_DOMAINS = {
    "/data/OpportunityChangeEvent": [Domain.ORDERS],
    "/data/AccountChangeEvent": [Domain.CUSTOMERS],
}
_EVERYTHING_SYNCLINE_HEARS = [Domain.ORDERS, Domain.CUSTOMERS]


class StreamGapActivities:
    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    @activity.defn(name=RECONCILE_GAP_ACTIVITY)
    async def reconcile_gap(self, request: ReconcileGapInput) -> ReconcileGapResult:
        domains = _DOMAINS.get(request.channel, _EVERYTHING_SYNCLINE_HEARS)
        run_id = await contract.start_keyed_reconciliation(
            self._client,
            self._task_queue,
            ReconcileRequest(domains=domains, trigger=ReconcileTrigger.STREAM_GAP),
            f"gap-{request.key}",
        )
        activity.logger.info("gap in %s: reconciliation %s", request.channel, run_id)
        return ReconcileGapResult(reconciliation_id=run_id)
