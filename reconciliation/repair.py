"""Remedies: each hands a difference to the workflow normal sync uses for it, or opens
an exception with the evidence. Nothing here writes to the ERP; the one CRM write is
an opportunity's billing mirror, through the connector's ``write_billing_status`` the
deal itself uses (the deal that wrote it has usually ended, paid)."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import TypeAdapter
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from activities.change_publisher import ChangePublisher
from connectors.protocols import CrmClient
from models.changes import ChangeKind, CustomerChange, ErpChange, OrderChange
from models.crm import OpportunityBillingUpdate
from models.deal import CloseWonTrigger
from models.events import SourceSystem
from models.facts import OrderFacts, erp_subject, order_accepted_event
from models.lifecycle import AccountEdit, MirrorInput, OpportunityChanged
from models.reconciliation import DriftClass, FindingState, Remedy
from models.tables import ExceptionRow, ExceptionStatus, ReconciliationFindingRow
from models.types import utc_now
from reconciliation.following_deals import ask_following_deals
from reconciliation.stopped_deals import StoppedDeals
from store import Store
from workflows.deal import contract as deal
from workflows.mirror import contract as mirror

_ERP_CHANGE: TypeAdapter[ErpChange] = TypeAdapter(ErpChange)

RECONCILIATION_EXCEPTION_PREFIX = "recon:"
_ERP_KIND_OF_DOMAIN = {"customers": "customer", "subscriptions": "subscription"}


def exception_id(row: ReconciliationFindingRow) -> str:
    """One exception per difference, whichever run finds it again."""
    return f"{RECONCILIATION_EXCEPTION_PREFIX}{row.domain}:{row.drift}:{row.key}"


@dataclass(frozen=True)
class Outcome:
    state: FindingState
    note: str | None = None


class Repairer:
    def __init__(
        self,
        client: Client,
        store: Store,
        publisher: ChangePublisher,
        *,
        crm: CrmClient,
        erp_system: SourceSystem,
        task_queue: str,
    ) -> None:
        self._client = client
        self._crm = crm
        self._store = store
        self._publisher = publisher
        self._erp_system = erp_system
        self._task_queue = task_queue

    async def apply(
        self, run_id: str, row: ReconciliationFindingRow, *, caused_by: str | None = None
    ) -> Outcome:
        """``caused_by``: the operator who started the run, named on the facts it records."""
        parked = await self._parked_on(row)
        if parked is not None:
            # A run already waits for a person on this record: replaying would only
            # knock on its door. The difference is explained by that exception.
            return Outcome(FindingState.EXCEPTION, f"{row.summary} (parked: {parked.reason})")
        remedy = Remedy(row.remedy)
        if remedy is Remedy.REPLAY_DEAL:
            await self._replay_deal(run_id, row.key)
            return Outcome(FindingState.REPAIR_REQUESTED)
        if remedy is Remedy.SIGNAL_DEAL:
            if await self._signal_running_deal(row.key):
                return Outcome(FindingState.REPAIR_REQUESTED)
            return await self._exception(
                run_id, row, "no running deal follows this opportunity any more"
            )
        if remedy is Remedy.REPUBLISH and row.record is not None:
            await self._publisher.publish(
                [_ERP_CHANGE.validate_python(row.record)], self._erp_system, run_id
            )
            return Outcome(FindingState.REPAIR_REQUESTED)
        if remedy is Remedy.RECORD_EVENT and row.record is not None:
            order = OrderChange.model_validate(row.record)
            event = order_accepted_event(
                OrderFacts.of_change(order), self._erp_system, run_id, utc_now()
            )
            await self._store.append_event(event.model_copy(update={"caused_by": caused_by}))
            return Outcome(FindingState.REPAIR_REQUESTED)
        if remedy is Remedy.WRITE_MIRROR and row.record is not None:
            update = OpportunityBillingUpdate.model_validate(row.record)
            await self._crm.write_billing_status(row.key, update)
            return Outcome(FindingState.REPAIR_REQUESTED)
        if remedy is Remedy.SIGNAL_MIRROR and row.record is not None:
            await self._signal_mirror(run_id, row)
            return Outcome(FindingState.REPAIR_REQUESTED)
        return await self._exception(run_id, row)

    async def restart_stopped_deals(self, run_id: str, keys: list[str] | None) -> int:
        """Deals whose run stopped unfinished start again; the exceptions of gone runs
        are resolved (``reconciliation.stopped_deals``). How many were restarted."""

        async def replay(opportunity_id: str) -> None:
            await self._replay_deal(run_id, opportunity_id)

        return await StoppedDeals(self._client, self._store, replay).sweep(keys)

    async def ask_following_deals(self, run_id: str, keys: list[str] | None) -> int:
        """Deals that may have followed their billing for ``BILLING_FOLLOW`` are asked to
        end (``reconciliation.following_deals``). How many were asked."""
        return await ask_following_deals(self._client, utc_now(), run_id, keys)

    async def _replay_deal(self, run_id: str, opportunity_id: str) -> None:
        await deal.signal_close_won(
            self._client,
            self._task_queue,
            CloseWonTrigger(
                crm_opportunity_id=opportunity_id,
                delivery_id=f"reconciliation:{run_id}",
                correlation_id=f"{run_id}:{opportunity_id}",
                received_at=utc_now(),
            ),
        )

    async def _signal_running_deal(self, opportunity_id: str) -> bool:
        handle = deal.deal_handle(self._client, opportunity_id)
        try:
            description = await handle.describe()
            if description.status != WorkflowExecutionStatus.RUNNING:
                return False
            await deal.OPPORTUNITY_CHANGED.send(
                handle,
                OpportunityChanged(crm_opportunity_id=opportunity_id, received_at=utc_now()),
            )
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return False
            raise
        return True

    async def _signal_mirror(self, run_id: str, row: ReconciliationFindingRow) -> None:
        """A running mirror hears the CRM's values as an edit and parks the conflict;
        with no mirror running, the ERP's version goes through the feed's path, which
        starts one and writes the ERP's values back."""
        customer = CustomerChange.model_validate(row.record)
        handle = mirror.mirror_handle(
            self._client, self._erp_system, ChangeKind.CUSTOMER, customer.id
        )
        try:
            running = (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            running = False
        if not running:
            await self._publisher.publish([customer], self._erp_system, run_id)
            return
        values = {
            name.removeprefix("crm."): value or None
            for name, value in row.evidence.items()
            if name.startswith("crm.")
        }
        await mirror.signal_with_start_mirror(
            self._client,
            self._task_queue,
            MirrorInput(
                erp_system=self._erp_system,
                kind=ChangeKind.CUSTOMER,
                erp_id=customer.id,
                correlation_id=run_id,
            ),
            mirror.CRM_EDITED,
            AccountEdit(
                account_id=row.evidence.get("account_id", ""),
                changed_fields=sorted(values),
                values=values,
                origin="reconciliation",
            ),
        )

    async def _parked_on(self, finding: ReconciliationFindingRow) -> ExceptionRow | None:
        """An open exception of a workflow (not of reconciliation) about this record:
        its deal, or its mirror or renewal (whose subjects are ``<erp>:<kind>:<id>``)."""
        subjects = [finding.key, finding.evidence.get("crm_opportunity_id", "")]
        kind = _ERP_KIND_OF_DOMAIN.get(finding.domain)
        if kind is not None:
            subjects.append(erp_subject(self._erp_system, kind, finding.key))
        for row in await self._store.list_exceptions(subject_ids=[s for s in subjects if s]):
            if row.status != ExceptionStatus.RESOLVED and not row.id.startswith(
                RECONCILIATION_EXCEPTION_PREFIX
            ):
                return row
        return None

    async def _exception(
        self, run_id: str, row: ReconciliationFindingRow, why: str | None = None
    ) -> Outcome:
        """An exception carrying the evidence, one per difference (found again, the
        same row is reopened)."""
        message = row.summary if why is None else f"{row.summary}; {why}"
        details = {
            **row.evidence,
            "crm": row.crm or "",
            "erp": row.erp or "",
            "ledger": row.ledger or "",
            "erp_id": row.erp_id or "",
            "found_by": run_id,
        }
        await self._store.open_exception(
            ExceptionRow(
                id=exception_id(row),
                workflow_id=run_id,
                subject_id=row.key,
                reason=DriftClass(row.drift).value,
                step=f"reconcile:{row.domain}",
                message=message,
                details=details,
                correlation_id=run_id,
            )
        )
        return Outcome(FindingState.EXCEPTION, message)
