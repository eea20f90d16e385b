"""CloseWonToOrder: one closed-won opportunity becomes exactly one live ERP order.

Steps: re-read the opportunity, check it is still Closed Won, place the order in the
ERP (find or create the customer, map line items to ERP items, find the opportunity's
live order or create one: one activity), record ``order.accepted`` (an order the ERP
holds for approval first waits for it: ``approval``), write the order back to the
opportunity; then follow its billing, fulfilment and reversals (``billing``,
``fulfilment``, ``reversals``). Anything retrying cannot fix parks the run in ``needs_attention``
with an exception row; an operator's retry resumes it at the step that stopped.

A deal won again after its order was cancelled runs again under the same id and gets a
new live order (the cancelled one stays cancelled): one booking either way, since the
ledger holds the old order's cancellation.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    # By full name: a ``from workflows.deal import …`` would load these afresh in the
    # sandbox for every run (tests/unit/test_sandbox_imports.py says why).
    import workflows.deal.approval as approval
    import workflows.deal.billing as billing
    import workflows.deal.contract as contract
    import workflows.deal.placement as placement
    from models.billing import InvoiceSnapshot
    from models.changes import FulfilmentChange, OrderChange
    from models.deal import (
        CloseWonInput,
        CloseWonResult,
        CloseWonTrigger,
        DealState,
        DealStatus,
        FollowCheck,
        RetryRequest,
    )
    from models.facts import closed_won_event
    from models.lifecycle import OpportunityChanged
    from workflows.deal.inbox import DealInbox
    from workflows.deal.run import DealRun

DUPLICATES_SUPPRESSED = "syncline.webhook.duplicates_suppressed"
"""The metric counting deliveries after a deal's first (the worker exports it)."""
# Parked here, the run has no order yet: a change of the opportunity may be the fix
# (a line corrected) or the end (the deal lost), and either is read anew.
PRE_ORDER_STEPS = ("read_opportunity", "place_order")


@workflow.defn(name=contract.WORKFLOW_TYPE)
class CloseWonToOrder:
    @workflow.init
    def __init__(self, request: CloseWonInput) -> None:
        self._run = DealRun(
            DealState(
                crm_opportunity_id=request.crm_opportunity_id,
                status=DealStatus.RECEIVED,
                correlation_id=request.correlation_id,
            )
        )
        self._inbox = DealInbox()

    @workflow.signal(name=contract.CLOSED_WON.name)
    def closed_won(self, trigger: CloseWonTrigger) -> None:
        """Each webhook delivery. Only the first starts anything; the rest are counted."""
        self._run.state.deliveries += 1
        if self._run.state.deliveries > 1:
            # Temporal's workflow meter: replay-safe, and nothing in the history.
            workflow.metric_meter().create_counter(
                DUPLICATES_SUPPRESSED, "deliveries of a deal after its first", "{delivery}"
            ).add(1)

    @workflow.signal(name=contract.RETRY.name)
    def retry(self, request: RetryRequest) -> None:
        self._run.parking.request_retry(request)

    @workflow.signal(name=contract.INVOICE_CHANGED.name)
    def invoice_changed(self, invoice: InvoiceSnapshot) -> None:
        self._inbox.invoices.append(invoice)

    @workflow.signal(name=contract.OPPORTUNITY_CHANGED.name)
    def opportunity_changed(self, change: OpportunityChanged) -> None:
        open_exception = self._run.parking.open_exception
        if open_exception is not None and open_exception.step in PRE_ORDER_STEPS:
            self._run.parking.request_retry(RetryRequest(exception_id=open_exception.id))
            return
        self._inbox.opportunity_changes.append(change)

    @workflow.signal(name=contract.ORDER_CHANGED.name)
    def order_changed(self, order: OrderChange) -> None:
        self._inbox.order_changes.append(order)

    @workflow.signal(name=contract.FULFILMENT_CHANGED.name)
    def fulfilment_changed(self, fulfilment: FulfilmentChange) -> None:
        self._inbox.fulfilments.append(fulfilment)

    @workflow.signal(name=contract.FOLLOW_CHECK.name)
    def follow_check(self, _: FollowCheck) -> None:
        self._inbox.follow_checked = True

    @workflow.query(name=contract.STATE.name)
    def state(self) -> DealState:
        return self._run.state

    @workflow.run
    async def run(self, request: CloseWonInput) -> CloseWonResult:
        run = self._run
        run.show(DealStatus.RECEIVED)
        while True:
            deliveries = run.state.deliveries
            closed_won = await run.until_done(
                "read_opportunity", lambda: placement.read_closed_won(run)
            )
            # A closed-won that came while the CRM said "not won" may be the win itself
            # (an early delivery started the run): read again rather than end on it.
            if closed_won is not None or run.state.deliveries == deliveries:
                break
        if closed_won is None:
            return self._finish(DealStatus.CANCELLED)
        opportunity, account = closed_won
        run.pass_through(DealStatus.VALIDATING)
        # Recorded by the ERP activity before it asks the ERP (``placement.place_order``).
        won = closed_won_event(opportunity, run.state.correlation_id, workflow.now())

        try:
            opportunity, order, erp_system = await run.until_done(
                "place_order", lambda: placement.place_order(run, opportunity, account, won)
            )
        except placement.DealWithdrawn:
            await run.close_exception()
            return self._finish(DealStatus.CANCELLED)
        run.state.erp_order_id = order.id
        run.state.erp_order_number = order.order_number
        if order.awaits_approval:
            # Held, or already rejected (a later run finding the order the first left
            # waiting): booked only once the ERP approves it. Otherwise the ERP activity
            # has recorded the order's acceptance.
            approved = await approval.await_approval(run, self._inbox, order, erp_system)
            if approved is None:
                return await self._end()
            order = approved
        await run.until_done("write_back", lambda: placement.write_back(run, order))
        run.show(DealStatus.ORDER_ACCEPTED)
        await billing.follow(run, self._inbox, order, erp_system)
        return await self._end()

    async def _end(self) -> CloseWonResult:
        """The run's result; or, when it cancelled its order because the CRM said lost
        and sales has won the deal back since (a closed-won delivery after that read,
        which this run took as a signal), the deal starts over as a new run: what a
        delivery after the run's end would have started (issue 17's explorer: won back
        while the held order was being cancelled, the delivery was lost)."""
        run = self._run
        if run.undone_by_crm and run.state.deliveries > run.deliveries_read:
            fetched = await placement.reread(run)
            if fetched.opportunity is not None and fetched.opportunity.is_closed_won:
                workflow.continue_as_new(
                    CloseWonInput(
                        crm_opportunity_id=run.state.crm_opportunity_id,
                        correlation_id=run.state.correlation_id,
                    )
                )
        return self._finish(run.state.status)

    def _finish(self, status: DealStatus) -> CloseWonResult:
        self._run.state.step = None
        self._run.show(status)
        return CloseWonResult(state=self._run.state)
