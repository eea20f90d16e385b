"""After the order: follow its invoices and payments until it is paid, and keep the
opportunity's billing fields equal to the ERP's.

The ERP change feed signals every invoice snapshot of the opportunity after recording
its facts in the ledger (the feed records every ERP fact, parked deal or not); the
invoices of the deal's own order make its billing status.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.crm import CrmActivities
    from models.billing import BillingStatus, DealBilling, InvoiceSnapshot
    from models.deal import BILLING_FOLLOW, DealStatus, ExceptionReason
    from models.erp import SalesOrder
    from models.events import SourceSystem
    from models.messages import WriteBillingStatusInput
    from workflows import calls
    from workflows.deal import fulfilment, reversals
    from workflows.deal.inbox import DealInbox
    from workflows.deal.run import DealRun


def billing_state(billing: DealBilling) -> DealStatus:
    """Where a following deal stands by its billing alone."""
    if billing.status is BillingStatus.PAID:
        return DealStatus.PAID
    if billing.status is BillingStatus.NOT_INVOICED:
        return DealStatus.ORDER_ACCEPTED
    return DealStatus.INVOICED


async def follow(
    run: DealRun, inbox: DealInbox, order: SalesOrder, erp_system: SourceSystem
) -> None:
    """Until the order is paid and nothing waits in the inbox, the deal is undone, or
    ``BILLING_FOLLOW`` has passed and reconciliation asked (``FOLLOW_CHECK``); the
    run's state says which.

    No timer: most deals are paid well before the follow ends, and a timer would cost
    every one of them a history event and a billable action. Reconciliation asks the
    deals that started ``BILLING_FOLLOW`` ago, nightly; the run decides by its own clock."""
    billing = DealBilling(currency=order.total.currency, order_total=order.total.amount)
    run.state.billing = billing
    run.state.step = "follow_billing"
    since = run.state.following_since = workflow.now()
    if _take_invoices(run.invoices_before, billing, order):
        # A later run of the deal: what the ledger held of the order's invoices before
        # it started (the feed signals each snapshot once, to the run of its day).
        run.show(billing_state(billing))
        await run.until_done("write_billing", lambda: _write_billing(run, billing))
        run.state.step = "follow_billing"
    while True:
        run.wait_for_news()
        if not inbox.has_news():
            if billing.status is BillingStatus.PAID:
                return  # no wait between this check and the end: nothing is left behind
            await workflow.wait_condition(lambda: inbox.has_news() or inbox.follow_checked)
            if not inbox.has_news():
                inbox.follow_checked = False
                if workflow.now() - since >= BILLING_FOLLOW:
                    return  # followed for BILLING_FOLLOW, and reconciliation asked
                continue
        if inbox.has_reversal_news():
            still = await reversals.take_news(run, inbox, order, billing, erp_system)
            if still is None:
                return  # undone: the run ends cancelled
            order = still
            run.show(billing_state(billing))
        if inbox.fulfilments:
            await fulfilment.take_fulfilments(run, inbox, order)
            run.state.step = "follow_billing"
        if _take_invoices(inbox.take_invoices(), billing, order):
            run.show(billing_state(billing))
            await run.until_done("write_billing", lambda: _write_billing(run, billing))
            run.state.step = "follow_billing"


def _take_invoices(
    invoices: list[InvoiceSnapshot], billing: DealBilling, order: SalesOrder
) -> bool:
    """Whether the deal's own billing changed. An invoice of another order of the same
    opportunity (one cancelled before the deal was won again) is billing the feed has
    recorded, but not this order's."""
    changed = False
    for invoice in invoices:
        if invoice.erp_order_id in (None, order.id):
            changed |= billing.apply(invoice)
    return changed


async def _write_billing(run: DealRun, billing: DealBilling) -> None:
    await run.call(
        "write_billing",
        calls.crm(
            CrmActivities.write_billing_status,
            WriteBillingStatusInput(
                opportunity_id=run.state.crm_opportunity_id,
                update=billing.crm_update(synced_at=workflow.now()),
                correlation_id=run.state.correlation_id,
            ),
        ),
        ExceptionReason.CRM_REJECTED,
    )
