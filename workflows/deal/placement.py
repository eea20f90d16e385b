"""From a closed-won opportunity to an accepted ERP order, and the order back on the
opportunity: the first half of a deal."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.crm import CrmActivities
    from activities.erp import ErpActivities
    from models.crm import Account, Opportunity, OpportunityOrderUpdate
    from models.deal import ExceptionReason
    from models.erp import SalesOrder
    from models.events import BusinessEvent, SourceSystem
    from models.messages import (
        FetchOpportunityInput,
        FetchOpportunityResult,
        PlaceOrderInput,
        WriteOrderStatusInput,
    )
    from workflows import calls
    from workflows.deal.rules import line_requests, order_problems
    from workflows.deal.run import DealRun, NeedsAttention


class DealWithdrawn(Exception):
    """The opportunity is no longer Closed Won (or gone) before its order was placed."""


async def fetch_opportunity(run: DealRun, step: str) -> FetchOpportunityResult:
    """The opportunity and its account as the CRM has them now: a read, so a local
    activity (``calls.crm_local``); read twice it is only read twice."""
    run.deliveries_read = run.state.deliveries
    return await run.call(
        step,
        calls.crm_local(
            CrmActivities.fetch_opportunity,
            FetchOpportunityInput(
                opportunity_id=run.state.crm_opportunity_id,
                correlation_id=run.state.correlation_id,
            ),
        ),
        ExceptionReason.CRM_REJECTED,
    )


async def reread(run: DealRun) -> FetchOpportunityResult:
    """The opportunity read again, parked until the CRM answers: a refusal waits for
    an operator's retry rather than deciding on no answer."""
    return await run.until_done(
        "reread_opportunity", lambda: fetch_opportunity(run, "reread_opportunity")
    )


async def read_closed_won(run: DealRun) -> tuple[Opportunity, Account] | None:
    """The opportunity and its account, or None when there is no longer a deal."""
    fetched = await fetch_opportunity(run, "read_opportunity")
    opportunity = fetched.opportunity
    if opportunity is None:
        run.state.detail = "the opportunity no longer exists in the CRM"
        return None
    if not opportunity.is_closed_won:
        run.state.detail = f"the opportunity is no longer Closed Won (stage {opportunity.stage!r})"
        return None
    if fetched.account is None:
        raise NeedsAttention(ExceptionReason.INVALID_OPPORTUNITY, "the opportunity has no account")
    problems = order_problems(opportunity)
    if problems:
        raise NeedsAttention(ExceptionReason.INVALID_OPPORTUNITY, "; ".join(problems))
    return opportunity, fetched.account


async def place_order(
    run: DealRun, opportunity: Opportunity, account: Account, closed_won: BusinessEvent
) -> tuple[Opportunity, SalesOrder, SourceSystem]:
    """The opportunity as ordered, its live order, and which ERP confirmed it.

    After a park the opportunity is read again first: while the run waited, the deal
    may have been lost (then there is no order to place) or its lines fixed. The ERP
    activity records ``closed_won`` before it asks the ERP, and the order's acceptance
    once the ERP holds it (not while it awaits approval): the facts are written where
    they are learnt, which spares the run a local activity for each.
    """
    if run.parks:
        current = await read_closed_won(run)
        if current is None:
            raise DealWithdrawn()
        opportunity, account = current
    placed = await run.call(
        "place_order",
        calls.erp(
            ErpActivities.place_order,
            PlaceOrderInput(
                account=account,
                crm_opportunity_id=opportunity.id,
                currency=opportunity.currency,
                tran_date=opportunity.close_date or workflow.now().date(),
                memo=f"Salesforce opportunity {opportunity.id}: {opportunity.name}",
                lines=line_requests(opportunity),
                correlation_id=run.state.correlation_id,
                # After a park the catalog may have been fixed: ask the ERP afresh.
                use_cache=run.parks == 0,
                closed_won=closed_won,
                caused_by=run.resumed_by,
            ),
        ),
        ExceptionReason.ERP_REJECTED,
    )
    run.state.erp_customer_id = placed.customer_id
    if placed.order is None:
        raise NeedsAttention(
            ExceptionReason.UNKNOWN_SKU,
            "no active ERP item for SKU " + ", ".join(placed.unknown_skus),
        )
    run.invoices_before = placed.invoices
    # What the deal asked of the order, which finance's edits do not change: an earlier
    # run's ask when there was one, else the order as placed.
    run.ordered = placed.ordered if placed.ordered is not None else placed.order.lines
    return opportunity, placed.order, placed.source_system


async def write_back(run: DealRun, order: SalesOrder) -> None:
    """The order's number and status onto the opportunity; a refusal parks the run.

    A local activity (``calls.crm_local``): it writes values the workflow already
    decided, so writing them twice changes nothing; the deal's own run is the only
    writer of these fields while it runs, so no newer value can be overwritten.
    """
    await run.call(
        "write_back",
        calls.crm_local(
            CrmActivities.write_order_status,
            WriteOrderStatusInput(
                opportunity_id=run.state.crm_opportunity_id,
                update=OpportunityOrderUpdate(
                    erp_order_id=order.id,
                    order_number=order.order_number,
                    order_status=order.status,
                    synced_at=workflow.now(),
                ),
                correlation_id=run.state.correlation_id,
            ),
        ),
        ExceptionReason.CRM_REJECTED,
    )
