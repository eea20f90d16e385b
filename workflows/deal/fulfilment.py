"""What the ERP shipped of the deal's order, shown on the opportunity.

The change feed records each fulfilment (``order.fulfilled``, on the deal's timeline)
and signals it; the deal writes the order's fulfilment status back with its number and
status, so sales sees "has it shipped?" where they work.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.crm import CrmActivities
    from models.changes import FulfilmentChange
    from models.crm import OpportunityOrderUpdate
    from models.deal import ExceptionReason
    from models.erp import SalesOrder
    from models.messages import WriteOrderStatusInput
    from workflows import calls
    from workflows.deal.inbox import DealInbox
    from workflows.deal.run import DealRun


def fulfilment_status(fulfilments: list[FulfilmentChange]) -> str | None:
    """The order's status by the newest of its fulfilments (None: none of them)."""
    if not fulfilments:
        return None
    return max(fulfilments, key=lambda f: (f.modified_at, int(f.id))).order_status


async def take_fulfilments(run: DealRun, inbox: DealInbox, order: SalesOrder) -> None:
    """Write the order's fulfilment status back, when a fulfilment of it came."""
    status = fulfilment_status([f for f in inbox.take_fulfilments() if f.erp_order_id == order.id])
    if status is None or status == run.state.fulfilment_status:
        return
    run.state.fulfilment_status = status
    await run.until_done(
        "write_fulfilment",
        lambda: run.call(
            "write_fulfilment",
            calls.crm(
                CrmActivities.write_order_status,
                WriteOrderStatusInput(
                    opportunity_id=run.state.crm_opportunity_id,
                    update=OpportunityOrderUpdate(
                        erp_order_id=order.id,
                        order_number=order.order_number,
                        order_status=order.status,
                        fulfilment_status=status,
                        synced_at=workflow.now(),
                    ),
                    correlation_id=run.state.correlation_id,
                ),
            ),
            ExceptionReason.CRM_REJECTED,
        ),
    )
