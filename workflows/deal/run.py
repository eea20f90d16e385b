"""What every step of a deal shares: its state, its parking, its ledger and its status.

``DealRun`` is built by the workflow and handed to the step modules (placement,
billing, reversals). A step that needs a person raises ``NeedsAttention``; the run
parks it (one exception row per problem, through ``workflows.parking``) and, on the
operator's retry, runs the step again from its start.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.ledger import LedgerActivities
    from models.billing import InvoiceSnapshot
    from models.deal import DealException, DealState, DealStatus, ExceptionReason
    from models.erp import SalesOrderLine
    from models.events import BusinessEvent
    from models.facts import order_rejected_event
    from models.messages import RecordEventInput
    from workflows import calls
    from workflows import search_attributes as sa
    from workflows.parking import Parking, needs_a_person

T = TypeVar("T")

# Parked on these, the order was not placed: the ledger records ``order.rejected``.
_ORDER_REFUSALS = (ExceptionReason.ERP_REJECTED, ExceptionReason.UNKNOWN_SKU)


class NeedsAttention(Exception):
    """Raised inside the workflow when a step needs a person; never leaves the workflow."""

    def __init__(self, reason: ExceptionReason, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class DealRun:
    def __init__(self, state: DealState) -> None:
        self.state = state
        self.parking = Parking(state.crm_opportunity_id, state.correlation_id)
        self.resumed_by: str | None = None
        """The operator whose retry resumed the run, until it next waits for news: the
        facts it records meanwhile happened because of them, and say so."""
        self.ordered: list[SalesOrderLine] = []
        """The lines the deal itself last gave the order: placed or amended to, by this
        run or, for a run that found the order placed, by an earlier one (the store's
        ``deal_orders``). Finance's edits in the ERP do not move it, so an opportunity
        still asking for these lines has not changed (``reversals``)."""
        self.invoices_before: list[InvoiceSnapshot] = []
        """The order's invoices the ledger held when this run found it placed before (a
        later run of the deal): its billing starts from them (``billing.follow``)."""
        self.deliveries_read: int = 0
        """Closed-won deliveries counted when the run last read the opportunity: one
        counted after it is news the read did not see (``placement.fetch_opportunity``)."""
        self.undone_by_crm = False
        """The run cancelled its own order because the CRM no longer said won."""

    @property
    def parks(self) -> int:
        """Distinct problems this run has waited on a person for."""
        return self.parking.opened

    async def call(self, step: str, call: Awaitable[T], refused: ExceptionReason) -> T:
        """Await one activity of ``step``; a failure a person must fix (``refused``
        names which system said no) becomes ``NeedsAttention``."""
        self.state.step = step
        try:
            return await call
        except (ActivityError, ApplicationError) as error:
            problem = needs_a_person(error, refused)
            if problem is None:
                raise
            raise NeedsAttention(*problem) from None

    async def until_done(
        self,
        step: str,
        action: Callable[[], Awaitable[T]],
        wake: Callable[[], bool] = lambda: False,
    ) -> T:
        """Run a step until it succeeds, parking for an operator whenever it needs one;
        parked, news that ``wake`` recognises runs the step again without a retry."""
        while True:
            try:
                result = await action()
            except NeedsAttention as problem:
                await self._park(step, problem, wake)
                continue
            await self.close_exception()
            return result

    async def _park(self, step: str, problem: NeedsAttention, wake: Callable[[], bool]) -> None:
        self.state.detail = problem.message
        self.show(DealStatus.NEEDS_ATTENTION)

        async def opened(exception: DealException) -> None:
            self.state.open_exception = exception
            if problem.reason in _ORDER_REFUSALS:
                await self.record(
                    order_rejected_event(
                        exception,
                        self.state.crm_opportunity_id,
                        self.state.correlation_id,
                        workflow.now(),
                    )
                )

        await self.parking.park(step, problem.reason, problem.message, on_open=opened, wake=wake)
        self.resumed_by = self.parking.retry_requested_by
        self.state.retries += 1
        self.state.detail = None
        self.show(DealStatus.VALIDATING)

    async def close_exception(self) -> None:
        await self.parking.close()
        self.state.open_exception = None

    async def record(self, event: BusinessEvent) -> None:
        event = event.caused(self.resumed_by)
        await calls.store(LedgerActivities.record_event, RecordEventInput(event=event))

    def wait_for_news(self) -> None:
        """The run now waits for the ERP or the CRM: what it records next is theirs."""
        self.resumed_by = None

    def show(self, status: DealStatus) -> None:
        """The deal's status, in its state and in the Web UI's search attributes.

        Only what changed is upserted (each upsert is a history event and a billable
        action): the start set the opportunity id and ``received``.
        """
        self.state.status = status
        wanted = (
            (sa.CRM_OPPORTUNITY_ID, self.state.crm_opportunity_id),
            (sa.SYNC_STATUS, status.value),
            (sa.ERP_ORDER_ID, self.state.erp_order_id),
            (sa.ERP_CUSTOMER_ID, self.state.erp_customer_id),
        )
        sa.show(wanted)

    def pass_through(self, status: DealStatus) -> None:
        """A status the run only passes through on its way to the next one it shows
        (validating, while it places the order): in the state, for the state query,
        not worth a history event in the search attributes."""
        self.state.status = status
