"""CloseWonToOrder: one closed-won opportunity becomes exactly one accepted ERP order.

Steps: re-read the opportunity, check it is still Closed Won, place the order in the
ERP (find or create the customer, map line items to ERP items, find-or-create the
sales order keyed by the opportunity id: one activity), record ``order.accepted``,
write the order back to the opportunity.

Anything retrying cannot fix parks the run in ``needs_attention`` with an exception
row; an operator's ``retry`` signal resumes it at the step that stopped.

Once the order is accepted the run follows its billing: the ERP change feed signals
every invoice snapshot of the order, and the run records ``invoice.posted`` and
``payment.applied`` and mirrors the amounts onto the opportunity, until the order is
paid (or a year and a month have passed; later changes are reconciliation's).

While it follows, the deal can still be undone (``REVERSALS_PATCH``). The CRM says the
won opportunity changed: the run re-reads it and, before anything is invoiced, cancels
the ERP order (reopened, lost or deleted) or replaces its lines (amended), recording
``order.cancelled`` or ``order.amended``: compensation, as steps of this saga. Once
invoiced, nothing is undone automatically: the run parks with the facts for a person.
The ERP cancelling the order itself (a finance user) ends the deal as cancelled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.crm import CrmActivities
    from activities.erp import ErpActivities
    from activities.errors import AUTH_FAILED, NOT_FOUND, REJECTED
    from activities.ledger import LedgerActivities
    from models.billing import BillingStatus, DealBilling, InvoiceSnapshot
    from models.changes import OrderChange, OrderStatus
    from models.crm import (
        Account,
        Opportunity,
        OpportunityBillingUpdate,
        OpportunityOrderUpdate,
    )
    from models.deal import (
        CloseWonInput,
        CloseWonResult,
        CloseWonTrigger,
        DealException,
        DealState,
        DealStatus,
        ExceptionReason,
        RetryRequest,
    )
    from models.erp import SalesOrder
    from models.events import BusinessEvent, SourceSystem
    from models.lifecycle import OpportunityChanged
    from models.messages import (
        AmendOrderInput,
        AmendOrderResult,
        CancelOrderInput,
        FetchOpportunityInput,
        FetchOpportunityResult,
        OpenExceptionInput,
        OrderLineRequest,
        PlaceOrderInput,
        RecordEventInput,
        ResolveExceptionInput,
        WriteBillingStatusInput,
        WriteOrderStatusInput,
    )
    from workflows import search_attributes as sa
    from workflows.deal import contract
    from workflows.deal.facts import (
        closed_won_event,
        invoice_posted_event,
        order_accepted_event,
        order_amended_event,
        order_cancelled_event,
        order_problems,
        order_rejected_event,
        payment_applied_event,
        same_lines,
    )
    from workflows.policies import CALL_RETRY, CALL_TIMEOUT, HEARTBEAT_TIMEOUT, LOCAL_TIMEOUT
    from workflows.task_queues import erp_task_queue

T = TypeVar("T")
RequestT = TypeVar("RequestT")

# How long an accepted order's billing is followed. Annual invoicing plus a month of
# payment terms; anything later is found by reconciliation.
BILLING_FOLLOW = timedelta(days=400)
# Runs started before billing was followed finish at order acceptance, as they did.
BILLING_PATCH = "follow-billing-v1"
# Runs started before reversals were handled ignore CRM changes after closed-won.
REVERSALS_PATCH = "reversals-v1"
DUPLICATES_SUPPRESSED = "syncline.webhook.duplicates_suppressed"
"""The metric counting deliveries after a deal's first (the worker exports it)."""

# Runs started before it place the order after a park without reading the deal again.
REREAD_AFTER_PARK_PATCH = "reread-after-park-v1"
# Runs started before customers were searchable do not set ErpCustomerId.
CUSTOMER_ATTRIBUTE_PATCH = "erp-customer-search-attribute-v1"


class NeedsAttention(Exception):
    """Raised inside the workflow when a step needs a person; never leaves the workflow."""

    def __init__(self, reason: ExceptionReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


PRE_ORDER_STEPS = ("read_opportunity", "place_order")


class DealWithdrawn(Exception):
    """The opportunity is no longer Closed Won (or gone) before its order was placed."""


def _is_paid(billing: DealBilling) -> bool:
    return billing.status is BillingStatus.PAID


def _billing_state(billing: DealBilling) -> DealStatus:
    """Where a following deal stands by its billing alone."""
    if billing.status is BillingStatus.PAID:
        return DealStatus.PAID
    if billing.status is BillingStatus.NOT_INVOICED:
        return DealStatus.ORDER_ACCEPTED
    return DealStatus.INVOICED


def _line_requests(opportunity: Opportunity) -> list[OrderLineRequest]:
    return [
        OrderLineRequest(
            sku=line.product_code,
            quantity=line.quantity,
            rate=line.unit_price,
            description=line.product_name,
        )
        for line in opportunity.lines
        if line.product_code
    ]


def _reason_for(error: ApplicationError, rejected_reason: ExceptionReason) -> ExceptionReason:
    if error.type == AUTH_FAILED:
        return ExceptionReason.AUTH_FAILED
    return rejected_reason


@workflow.defn(name=contract.WORKFLOW_TYPE)
class CloseWonToOrder:
    @workflow.init
    def __init__(self, request: CloseWonInput) -> None:
        self._state = DealState(
            crm_opportunity_id=request.crm_opportunity_id,
            status=DealStatus.RECEIVED,
            correlation_id=request.correlation_id,
        )
        self._retry_signals = 0
        self._parks = 0
        self._invoices: list[InvoiceSnapshot] = []
        self._opportunity_changes: list[OpportunityChanged] = []
        self._order_changes: list[OrderChange] = []
        self._amendments = 0

    @workflow.signal(name=contract.CLOSED_WON.name)
    def closed_won(self, trigger: CloseWonTrigger) -> None:
        """Each webhook delivery. Only the first starts anything; the rest are counted."""
        self._state.deliveries += 1
        if self._state.deliveries > 1:
            # Temporal's workflow meter: replay-safe, and nothing in the history.
            workflow.metric_meter().create_counter(
                DUPLICATES_SUPPRESSED, "deliveries of a deal after its first", "{delivery}"
            ).add(1)

    @workflow.signal(name=contract.RETRY.name)
    def retry(self, request: RetryRequest) -> None:
        open_exception = self._state.open_exception
        if open_exception is None:
            return
        if request.exception_id in (None, open_exception.id):
            self._retry_signals += 1

    @workflow.signal(name=contract.INVOICE_CHANGED.name)
    def invoice_changed(self, invoice: InvoiceSnapshot) -> None:
        """From the ERP change feed: the whole of one invoice as the ERP shows it now."""
        self._invoices.append(invoice)

    @workflow.signal(name=contract.OPPORTUNITY_CHANGED.name)
    def opportunity_changed(self, change: OpportunityChanged) -> None:
        """From the CRM: the won opportunity changed (stage, amount, lines).

        A run parked before its order is placed takes it as a retry: the change may be
        the fix (a line corrected) or the end (the deal lost), and either is read anew.
        """
        open_exception = self._state.open_exception
        if open_exception is not None and open_exception.step in PRE_ORDER_STEPS:
            self._retry_signals += 1
            return
        self._opportunity_changes.append(change)

    @workflow.signal(name=contract.ORDER_CHANGED.name)
    def order_changed(self, order: OrderChange) -> None:
        """From the ERP change feed: the order was cancelled in the ERP."""
        self._order_changes.append(order)

    @workflow.query(name=contract.STATE.name)
    def state(self) -> DealState:
        return self._state

    @workflow.run
    async def run(self, request: CloseWonInput) -> CloseWonResult:
        self._publish(DealStatus.RECEIVED)
        closed_won = await self._until_done("read_opportunity", self._read_closed_won)
        if closed_won is None:
            return self._finish(DealStatus.CANCELLED)
        opportunity, account = closed_won
        self._publish(DealStatus.VALIDATING)
        await self._record(
            closed_won_event(opportunity, self._state.correlation_id, workflow.now())
        )

        try:
            order, erp_system = await self._until_done(
                "place_order", lambda: self._place_order(opportunity, account)
            )
        except DealWithdrawn:
            await self._close_open_exception()
            return self._finish(DealStatus.CANCELLED)
        self._state.erp_order_id = order.id
        self._state.erp_order_number = order.order_number
        await self._record(
            order_accepted_event(
                opportunity, order, erp_system, self._state.correlation_id, workflow.now()
            )
        )

        await self._until_done("write_back", lambda: self._write_back(order))
        if workflow.patched(BILLING_PATCH):
            self._publish(DealStatus.ORDER_ACCEPTED)
            await self._follow_billing(order, erp_system)
            return self._finish(self._state.status)
        return self._finish(DealStatus.ORDER_ACCEPTED)

    # -- steps ---------------------------------------------------------------------

    async def _fetch_opportunity(self, step: str) -> FetchOpportunityResult:
        """The opportunity and its account as the CRM has them now."""
        return await self._call(
            step,
            workflow.execute_activity_method(
                CrmActivities.fetch_opportunity,
                FetchOpportunityInput(
                    opportunity_id=self._state.crm_opportunity_id,
                    correlation_id=self._state.correlation_id,
                ),
                start_to_close_timeout=CALL_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=CALL_RETRY,
            ),
            ExceptionReason.CRM_REJECTED,
        )

    async def _read_closed_won(self) -> tuple[Opportunity, Account] | None:
        """The opportunity and its account, or None when there is no longer a deal."""
        fetched = await self._fetch_opportunity("read_opportunity")
        opportunity = fetched.opportunity
        if opportunity is None:
            self._state.detail = "the opportunity no longer exists in the CRM"
            return None
        if not opportunity.is_closed_won:
            self._state.detail = (
                f"the opportunity is no longer Closed Won (stage {opportunity.stage!r})"
            )
            return None
        if fetched.account is None:
            raise NeedsAttention(
                ExceptionReason.INVALID_OPPORTUNITY, "the opportunity has no account"
            )
        problems = order_problems(opportunity)
        if problems:
            raise NeedsAttention(ExceptionReason.INVALID_OPPORTUNITY, "; ".join(problems))
        return opportunity, fetched.account

    async def _place_order(
        self, opportunity: Opportunity, account: Account
    ) -> tuple[SalesOrder, SourceSystem]:
        """The order, and which ERP confirmed it (the source of ``order.accepted``).

        After a park the opportunity is read again first: while the run waited, the
        deal may have been lost (then there is no order to place) or its lines fixed.
        """
        if self._parks and workflow.patched(REREAD_AFTER_PARK_PATCH):
            current = await self._read_closed_won()
            if current is None:
                raise DealWithdrawn()
            opportunity, account = current
        placed = await self._call(
            "place_order",
            workflow.execute_activity_method(
                ErpActivities.place_order,
                PlaceOrderInput(
                    account=account,
                    crm_opportunity_id=opportunity.id,
                    currency=opportunity.currency,
                    tran_date=opportunity.close_date or workflow.now().date(),
                    memo=f"Salesforce opportunity {opportunity.id}: {opportunity.name}",
                    lines=_line_requests(opportunity),
                    correlation_id=self._state.correlation_id,
                    # After a park the catalog may have been fixed: ask the ERP afresh.
                    use_cache=self._parks == 0,
                ),
                task_queue=erp_task_queue(workflow.info().task_queue),
                start_to_close_timeout=CALL_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=CALL_RETRY,
            ),
            ExceptionReason.ERP_REJECTED,
        )
        self._state.erp_customer_id = placed.customer.id
        if placed.order is None:
            raise NeedsAttention(
                ExceptionReason.UNKNOWN_SKU,
                "no active ERP item for SKU " + ", ".join(placed.unknown_skus),
            )
        return placed.order, placed.source_system

    async def _write_back(self, order: SalesOrder) -> None:
        await self._crm_write(
            "write_back",
            CrmActivities.write_order_status,
            WriteOrderStatusInput(
                opportunity_id=self._state.crm_opportunity_id,
                update=OpportunityOrderUpdate(
                    erp_order_id=order.id,
                    order_number=order.order_number,
                    order_status=order.status,
                    synced_at=workflow.now(),
                ),
                correlation_id=self._state.correlation_id,
            ),
        )

    async def _crm_write(
        self, step: str, activity: Callable[[Any, RequestT], Awaitable[None]], request: RequestT
    ) -> None:
        """One write to the CRM; a refusal parks the run at ``step``."""
        await self._call(
            step,
            workflow.execute_activity_method(
                activity,
                request,
                start_to_close_timeout=CALL_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=CALL_RETRY,
            ),
            ExceptionReason.CRM_REJECTED,
        )

    # -- billing -----------------------------------------------------------------------

    async def _follow_billing(self, order: SalesOrder, erp_system: SourceSystem) -> None:
        billing = DealBilling(currency=order.total.currency, order_total=order.total.amount)
        self._state.billing = billing
        self._state.step = "follow_billing"
        deadline = workflow.now() + BILLING_FOLLOW
        reversible = workflow.patched(REVERSALS_PATCH)
        while not _is_paid(billing):
            try:
                await workflow.wait_condition(
                    lambda: bool(self._invoices) or (reversible and self._has_reversal_news()),
                    timeout=deadline - workflow.now(),
                )
            except TimeoutError:
                return
            if reversible and self._has_reversal_news():
                still = await self._take_reversal_news(order, billing, erp_system)
                if still is None:
                    return  # undone: the run ends cancelled
                order = still
                self._publish(_billing_state(billing))
            batch, self._invoices = self._invoices, []
            changed = False
            for invoice in batch:
                if invoice.erp_order_id not in (None, order.id):
                    continue  # another order of the same opportunity: not this deal's
                changed |= await self._take_invoice(billing, invoice, erp_system)
            if changed:
                if billing.status is BillingStatus.PAID:
                    self._publish(DealStatus.PAID)
                elif billing.status is not BillingStatus.NOT_INVOICED:
                    self._publish(DealStatus.INVOICED)
                await self._until_done("write_billing", lambda: self._write_billing(billing))
                self._state.step = "follow_billing"

    # -- reversals (REVERSALS_PATCH) ------------------------------------------------------

    def _has_reversal_news(self) -> bool:
        return bool(self._opportunity_changes or self._order_changes)

    async def _take_reversal_news(
        self, order: SalesOrder, billing: DealBilling, erp_system: SourceSystem
    ) -> SalesOrder | None:
        """The order as it stands after the news, or None when the deal is undone."""
        order_changes, self._order_changes = self._order_changes, []
        cancelled = [o for o in order_changes if o.id == order.id]
        if any(o.status is OrderStatus.CANCELLED for o in cancelled):
            # A finance user cancelled it in the ERP, the owner of orders: the deal
            # follows, and records the fact (the feed leaves a running deal's to it).
            withdrawn = order.model_copy(update={"status": cancelled[-1].erp_status})
            self._state.detail = f"order {order.order_number} was cancelled in the ERP"
            await self._record(
                order_cancelled_event(
                    self._state.crm_opportunity_id,
                    withdrawn,
                    "cancelled in the ERP",
                    erp_system,
                    self._state.correlation_id,
                    workflow.now(),
                )
            )
            await self._until_done("write_back", lambda: self._write_back(withdrawn))
            self._publish(DealStatus.CANCELLED)
            return None
        if not self._opportunity_changes:
            return order
        self._opportunity_changes = []
        return await self._until_done(
            "reconsider", lambda: self._reconsider(order, billing, erp_system)
        )

    async def _reconsider(
        self, order: SalesOrder, billing: DealBilling, erp_system: SourceSystem
    ) -> SalesOrder | None:
        """Re-read the opportunity and bring the ERP order in line, or ask a person."""
        fetched = await self._fetch_opportunity("reread_opportunity")
        opportunity = fetched.opportunity
        won = opportunity is not None and opportunity.is_closed_won
        if opportunity is not None and won and same_lines(opportunity, order):
            self._state.detail = None
            return order  # nothing the order depends on changed
        if opportunity is None:
            what = "deleted in the CRM"
        elif not won:
            what = f"moved to {opportunity.stage!r}"
        else:
            what = "amended (its lines no longer match the order)"
        if billing.status is not BillingStatus.NOT_INVOICED:
            raise NeedsAttention(
                ExceptionReason.REVERSAL_AFTER_INVOICING,
                f"The opportunity was {what} after order {order.order_number} was invoiced "
                f"({billing.invoiced_amount} {billing.currency} invoiced, "
                f"{billing.paid_amount} paid). Nothing was undone: credit or amend the "
                "order in the ERP, or restore the opportunity in the CRM, then retry.",
            )
        if opportunity is None or not won:
            await self._cancel(order, erp_system, f"the opportunity was {what}")
            return None
        return await self._amend(opportunity, order, billing, erp_system)

    async def _cancel(self, order: SalesOrder, erp_system: SourceSystem, reason: str) -> None:
        cancelled: SalesOrder = await self._call(
            "cancel_order",
            workflow.execute_activity_method(
                ErpActivities.cancel_order,
                CancelOrderInput(erp_order_id=order.id, correlation_id=self._state.correlation_id),
                task_queue=erp_task_queue(workflow.info().task_queue),
                start_to_close_timeout=CALL_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=CALL_RETRY,
            ),
            ExceptionReason.ERP_REJECTED,
        )
        await self._record(
            order_cancelled_event(
                self._state.crm_opportunity_id,
                cancelled,
                reason,
                erp_system,
                self._state.correlation_id,
                workflow.now(),
            )
        )
        await self._write_back(cancelled)
        self._state.detail = f"undone: {reason}; order {order.order_number} cancelled in the ERP"
        self._publish(DealStatus.CANCELLED)

    async def _amend(
        self,
        opportunity: Opportunity,
        order: SalesOrder,
        billing: DealBilling,
        erp_system: SourceSystem,
    ) -> SalesOrder:
        problems = order_problems(opportunity)
        if problems:
            raise NeedsAttention(ExceptionReason.INVALID_OPPORTUNITY, "; ".join(problems))
        amended: AmendOrderResult = await self._call(
            "amend_order",
            workflow.execute_activity_method(
                ErpActivities.amend_order,
                AmendOrderInput(
                    erp_order_id=order.id,
                    lines=_line_requests(opportunity),
                    correlation_id=self._state.correlation_id,
                ),
                task_queue=erp_task_queue(workflow.info().task_queue),
                start_to_close_timeout=CALL_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=CALL_RETRY,
            ),
            ExceptionReason.ERP_REJECTED,
        )
        if amended.order is None:
            raise NeedsAttention(
                ExceptionReason.UNKNOWN_SKU,
                "no active ERP item for SKU " + ", ".join(amended.unknown_skus),
            )
        self._amendments += 1
        await self._record(
            order_amended_event(
                opportunity,
                amended.order,
                self._amendments,
                erp_system,
                self._state.correlation_id,
                workflow.now(),
            )
        )
        billing.order_total = amended.order.total.amount
        self._state.detail = f"order {order.order_number} amended to match the opportunity"
        await self._write_back(amended.order)
        return amended.order

    async def _take_invoice(
        self, billing: DealBilling, invoice: InvoiceSnapshot, erp_system: SourceSystem
    ) -> bool:
        """Apply one snapshot; record the facts it adds. Stale news changes nothing."""
        before = billing.invoices.get(invoice.id)
        if not billing.apply(invoice):
            return False
        opportunity_id = self._state.crm_opportunity_id
        correlation_id = self._state.correlation_id
        if before is None:
            await self._record(
                invoice_posted_event(
                    opportunity_id, invoice, erp_system, correlation_id, workflow.now()
                )
            )
        paid_before = before.amount_paid.amount if before is not None else 0
        if invoice.amount_paid.amount > paid_before:
            await self._record(
                payment_applied_event(
                    opportunity_id,
                    invoice,
                    invoice.amount_paid.amount - paid_before,
                    erp_system,
                    correlation_id,
                    workflow.now(),
                )
            )
        return True

    async def _write_billing(self, billing: DealBilling) -> None:
        await self._crm_write(
            "write_billing",
            CrmActivities.write_billing_status,
            WriteBillingStatusInput(
                opportunity_id=self._state.crm_opportunity_id,
                update=OpportunityBillingUpdate(
                    billing_status=billing.status.value,
                    invoiced_amount=billing.invoiced_amount,
                    paid_amount=billing.paid_amount,
                    balance=billing.balance,
                    last_invoice_date=billing.last_invoice_date,
                    synced_at=workflow.now(),
                ),
                correlation_id=self._state.correlation_id,
            ),
        )

    # -- parking and resuming --------------------------------------------------------

    async def _call(self, step: str, call: Awaitable[T], rejected_reason: ExceptionReason) -> T:
        """Await one activity; a non-retryable business failure becomes NeedsAttention."""
        self._state.step = step
        try:
            return await call
        except ActivityError as error:
            cause = error.cause
            if isinstance(cause, ApplicationError) and cause.type in (
                REJECTED,
                NOT_FOUND,
                AUTH_FAILED,
            ):
                raise NeedsAttention(_reason_for(cause, rejected_reason), cause.message) from None
            raise

    async def _until_done(self, step: str, action: Callable[[], Awaitable[T]]) -> T:
        """Run a step until it succeeds, parking for an operator whenever it needs one."""
        while True:
            try:
                result = await action()
            except NeedsAttention as problem:
                await self._park(step, problem)
                continue
            await self._close_open_exception()
            return result

    async def _park(self, step: str, problem: NeedsAttention) -> None:
        # Taken before the first await: a retry signalled while the exception is being
        # recorded must count, wherever replay delivers it among the local activities.
        retries_before = self._retry_signals
        current = self._state.open_exception
        if current is not None and (current.step, current.reason) == (step, problem.reason):
            # A retry that failed the same way reopens the same exception: one problem,
            # one row, however many attempts it takes to fix.
            exception = current.model_copy(update={"message": problem.message})
        else:
            await self._close_open_exception()
            self._parks += 1
            exception = DealException(
                # Deterministic (the workflow's seeded uuid), unique across later runs
                # of the same deal; the run id would not survive a replay.
                id=f"{workflow.info().workflow_id}:{workflow.uuid4().hex[:12]}",
                reason=problem.reason,
                step=step,
                message=problem.message,
                opened_at=workflow.now(),
            )
        self._state.open_exception = exception
        self._state.detail = problem.message
        self._publish(DealStatus.NEEDS_ATTENTION)
        await workflow.execute_local_activity_method(
            LedgerActivities.open_exception,
            OpenExceptionInput(
                exception_id=exception.id,
                workflow_id=workflow.info().workflow_id,
                subject_id=self._state.crm_opportunity_id,
                reason=exception.reason,
                step=step,
                message=exception.message,
                correlation_id=self._state.correlation_id,
            ),
            start_to_close_timeout=LOCAL_TIMEOUT,
        )
        if problem.reason in (ExceptionReason.ERP_REJECTED, ExceptionReason.UNKNOWN_SKU):
            await self._record(
                order_rejected_event(
                    exception,
                    self._state.crm_opportunity_id,
                    self._state.correlation_id,
                    workflow.now(),
                )
            )
        await workflow.wait_condition(lambda: self._retry_signals > retries_before)
        self._state.retries += 1
        self._state.detail = None
        self._publish(DealStatus.VALIDATING)

    async def _close_open_exception(self) -> None:
        exception = self._state.open_exception
        if exception is None:
            return
        await workflow.execute_local_activity_method(
            LedgerActivities.resolve_exception,
            ResolveExceptionInput(exception_id=exception.id),
            start_to_close_timeout=LOCAL_TIMEOUT,
        )
        self._state.open_exception = None

    # -- events, status ----------------------------------------------------------------

    async def _record(self, event: BusinessEvent) -> None:
        await workflow.execute_local_activity_method(
            LedgerActivities.record_event,
            RecordEventInput(event=event),
            start_to_close_timeout=LOCAL_TIMEOUT,
        )

    def _publish(self, status: DealStatus) -> None:
        self._state.status = status
        workflow.upsert_search_attributes(
            [
                sa.CRM_OPPORTUNITY_ID.value_set(self._state.crm_opportunity_id),
                sa.SYNC_STATUS.value_set(status.value),
                *(
                    [sa.ERP_ORDER_ID.value_set(self._state.erp_order_id)]
                    if self._state.erp_order_id
                    else []
                ),
                *(
                    [sa.ERP_CUSTOMER_ID.value_set(self._state.erp_customer_id)]
                    if self._state.erp_customer_id and workflow.patched(CUSTOMER_ATTRIBUTE_PATCH)
                    else []
                ),
            ]
        )

    def _finish(self, status: DealStatus) -> CloseWonResult:
        self._state.step = None
        self._publish(status)
        return CloseWonResult(state=self._state)
