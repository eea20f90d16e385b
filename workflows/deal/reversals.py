"""Undoing or changing a won deal after its order, as steps of the saga.

The CRM says the won opportunity changed: the run re-reads it and, before anything is
invoiced, cancels the ERP order (reopened, lost or deleted) or replaces its lines
(amended), recording ``order.cancelled`` or ``order.amended``. Once invoiced, nothing
is undone automatically: the run parks with the facts for a person. The ERP cancelling
the order itself (a finance user, in the owner of orders) ends the deal as cancelled;
the ERP moving it on (billed, closed) or finance editing it is followed as it is.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.erp import ErpActivities
    from activities.ledger import LedgerActivities
    from models.billing import BillingStatus, DealBilling
    from models.changes import OrderChange, OrderStatus
    from models.crm import Opportunity
    from models.deal import DealStatus, ExceptionReason
    from models.erp import SalesOrder
    from models.events import SourceSystem
    from models.facts import OrderFacts, order_cancelled_event
    from models.messages import AmendOrderInput, CancelOrderInput, RecordOrderInput
    from workflows import calls
    from workflows.deal.inbox import DealInbox
    from workflows.deal.placement import fetch_opportunity, write_back
    from workflows.deal.rules import asks_for, line_requests, order_problems, same_lines
    from workflows.deal.run import DealRun, NeedsAttention


async def take_news(
    run: DealRun,
    inbox: DealInbox,
    order: SalesOrder,
    billing: DealBilling,
    erp_system: SourceSystem,
) -> SalesOrder | None:
    """The order as it stands after the news, or None when the deal is undone."""
    changes = sorted(
        (change for change in inbox.take_order_changes() if change.id == order.id),
        key=lambda change: (change.modified_at, int(change.id)),
    )
    cancelled = [change for change in changes if change.status is OrderStatus.CANCELLED]
    if cancelled:
        await cancelled_in_the_erp(run, order, cancelled[-1], erp_system)
        return None
    if changes:
        order = await _moved_in_the_erp(run, order, changes[-1], billing)
    if not inbox.take_opportunity_changes():
        return order
    try:
        return await run.until_done(
            "reconsider",
            lambda: _reconsider(run, inbox, order, billing, erp_system),
            # Parked here (an amendment the ERP refused, say), the ERP cancelling the
            # order settles the question: nothing is left for a person to retry.
            wake=lambda: inbox.cancellation_of(order.id) is not None,
        )
    except _CancelledMeanwhile as news:
        await run.close_exception()
        inbox.take_order_changes()
        await cancelled_in_the_erp(run, order, news.change, erp_system)
        return None


class _CancelledMeanwhile(Exception):
    """The ERP cancelled the order while the run reconsidered it (or waited on a person
    to): the deal follows the ERP, whatever the opportunity now says."""

    def __init__(self, change: OrderChange) -> None:
        super().__init__(change.id)
        self.change = change


async def cancelled_in_the_erp(
    run: DealRun, order: SalesOrder, change: OrderChange, erp_system: SourceSystem
) -> None:
    """A finance user cancelled the order in the ERP: the deal follows, and records the
    fact as the feed would (the feed leaves a running deal's facts to it)."""
    run.state.detail = f"order {order.order_number} was cancelled in the ERP"
    await run.record(
        order_cancelled_event(
            OrderFacts.of_change(change), erp_system, run.state.correlation_id, workflow.now()
        )
    )
    withdrawn = order.model_copy(
        update={"status": change.erp_status, "state": OrderStatus.CANCELLED}
    )
    await run.until_done("write_back", lambda: write_back(run, withdrawn))
    run.show(DealStatus.CANCELLED)


async def _moved_in_the_erp(
    run: DealRun, order: SalesOrder, change: OrderChange, billing: DealBilling
) -> SalesOrder:
    """The ERP moved the order on (billed, closed) or finance edited it: the ERP owns
    orders, so the deal takes its status and total as they are, and the opportunity
    shows the status. Nothing is amended back: the CRM's lines are compared only when
    the CRM itself changes."""
    if order.last_modified is not None and change.modified_at < order.last_modified:
        return order  # read before the order the deal holds (its own amendment, say)
    moved = order.model_copy(
        update={
            "status": change.erp_status,
            "state": change.status,
            "total": change.total,
            "lines": change.lines or order.lines,
            "last_modified": change.modified_at,
        }
    )
    billing.order_total = moved.total.amount
    if moved.status != order.status:
        await run.until_done("write_back", lambda: write_back(run, moved))
    return moved


async def _reconsider(
    run: DealRun,
    inbox: DealInbox,
    order: SalesOrder,
    billing: DealBilling,
    erp_system: SourceSystem,
) -> SalesOrder | None:
    """Re-read the opportunity and bring the ERP order in line, or ask a person."""
    cancelled = inbox.cancellation_of(order.id)
    if cancelled is not None:
        raise _CancelledMeanwhile(cancelled)
    fetched = await fetch_opportunity(run, "reread_opportunity")
    opportunity = fetched.opportunity
    won = opportunity is not None and opportunity.is_closed_won
    if opportunity is not None and won and same_lines(opportunity, order):
        run.state.detail = None
        return order  # nothing the order depends on changed
    if opportunity is not None and won and asks_for(opportunity, run.ordered):
        # The CRM still asks for what the deal ordered: the order differs by finance's
        # edit, which stands (the ERP owns orders; nothing is amended back). Asked by
        # reconciliation's amount_mismatch, the deal used to amend it back, or park an
        # invoiced one on an amendment the CRM never made (issue 17, the explorer).
        run.state.detail = None
        return order
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
        await cancel(run, order, erp_system, f"the opportunity was {what}")
        return None
    amended = await _amend(run, opportunity, order, erp_system)
    billing.order_total = amended.total.amount
    return amended


async def cancel(run: DealRun, order: SalesOrder, erp_system: SourceSystem, why: str) -> None:
    """Compensation: the ERP cancels the order the deal no longer wants."""
    cancelled = await run.call(
        "cancel_order",
        calls.erp(
            ErpActivities.cancel_order,
            CancelOrderInput(erp_order_id=order.id, correlation_id=run.state.correlation_id),
        ),
        ExceptionReason.ERP_REJECTED,
    )
    await run.record(
        order_cancelled_event(
            OrderFacts.of_order(cancelled, run.state.crm_opportunity_id),
            erp_system,
            run.state.correlation_id,
            workflow.now(),
        )
    )
    await write_back(run, cancelled)
    run.state.detail = f"undone: {why}; order {order.order_number} cancelled in the ERP"
    run.undone_by_crm = True
    run.show(DealStatus.CANCELLED)


async def _amend(
    run: DealRun, opportunity: Opportunity, order: SalesOrder, erp_system: SourceSystem
) -> SalesOrder:
    problems = order_problems(opportunity)
    if problems:
        raise NeedsAttention(ExceptionReason.INVALID_OPPORTUNITY, "; ".join(problems))
    amended = await run.call(
        "amend_order",
        calls.erp(
            ErpActivities.amend_order,
            AmendOrderInput(
                erp_order_id=order.id,
                lines=line_requests(opportunity),
                correlation_id=run.state.correlation_id,
                crm_opportunity_id=run.state.crm_opportunity_id,
            ),
        ),
        ExceptionReason.ERP_REJECTED,
    )
    if amended.order is None:
        raise NeedsAttention(
            ExceptionReason.UNKNOWN_SKU,
            "no active ERP item for SKU " + ", ".join(amended.unknown_skus),
        )
    # The ledger numbers the amendment (a later run of the deal goes on counting), and
    # records nothing when the feed, reading the amended order, was first.
    await calls.store(
        LedgerActivities.record_order,
        RecordOrderInput(
            order=OrderFacts.of_order(amended.order, opportunity.id),
            erp_system=erp_system,
            correlation_id=run.state.correlation_id,
        ),
    )
    run.ordered = amended.order.lines
    run.state.detail = f"order {order.order_number} amended to match the opportunity"
    await write_back(run, amended.order)
    return amended.order
