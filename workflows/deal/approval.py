"""An order the ERP holds for approval or credit: placed, not yet a booking.

The deal shows ``pending_approval`` (the opportunity shows the ERP's status, "Pending
Approval") and waits for the change feed's word on the order:

- approved: ``order.accepted`` is recorded, dated by the approval (the feed reads the
  ERP's approval time; it records the same fact first, and the ledger keeps one), and
  the deal goes on as any accepted order;
- rejected: the feed records ``order.rejected`` with the approver's reason and the deal
  parks in ``needs_attention`` with it: sales decides. The CRM marking the opportunity
  lost (or deleting it) ends the deal cancelled; finance reopening the order for
  approval puts it back to waiting;
- cancelled in the ERP: the deal ends cancelled, as after any ERP cancellation.

While it waits, the CRM may undo the deal: an opportunity lost, reopened or deleted
cancels the held order in the ERP (a cancellation of an order never booked takes
nothing from the reports). An amended opportunity is kept for after the approval, when
the deal compares lines as it does for every accepted order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.changes import OrderChange, OrderStatus
    from models.crm import Opportunity
    from models.deal import DealStatus, ExceptionReason
    from models.erp import SalesOrder
    from models.events import SourceSystem
    from models.facts import OrderFacts, order_accepted_event
    from models.lifecycle import OpportunityChanged
    from workflows.deal import reversals
    from workflows.deal.inbox import DealInbox
    from workflows.deal.placement import fetch_opportunity, reread, write_back
    from workflows.deal.run import DealRun, NeedsAttention


# A found order NetSuite gave no modification time: any news of it is newer.
_EARLIEST = datetime.min.replace(tzinfo=UTC)


@dataclass
class _Waiting:
    order: SalesOrder
    latest: OrderChange | None = None
    """The newest news of the order, once any came."""
    amended: list[OpportunityChanged] | None = None
    """Opportunity changes of a still-won deal, for after the approval."""


async def await_approval(
    run: DealRun, inbox: DealInbox, order: SalesOrder, erp_system: SourceSystem
) -> SalesOrder | None:
    """The approved order, or None when the deal ended meanwhile (its status says how).

    ``order`` may already be rejected: a later run of the deal (a replay) found it so.
    """
    waiting = _Waiting(order, latest=_found_rejected(run, order))
    run.state.detail = f"order {order.order_number} waits for approval in the ERP"
    await run.until_done("write_back", lambda: write_back(run, order))
    while True:
        latest = waiting.latest
        if latest is not None and latest.status is OrderStatus.CANCELLED:
            await reversals.cancelled_in_the_erp(run, order, latest, erp_system)
            return None
        if latest is not None and latest.status is OrderStatus.REJECTED:
            # The opportunity shows the ERP's word ("Closed") whatever sales decides.
            await _write_back_status(run, waiting.order, latest.erp_status)
            if not await _rejected(run, inbox, waiting):
                return None
            continue  # reopened: waits again, or was approved meanwhile
        if latest is not None and latest.status is not OrderStatus.PENDING_APPROVAL:
            return await _approved(run, inbox, waiting, latest, erp_system)
        run.show(DealStatus.PENDING_APPROVAL)
        run.state.step = "await_approval"
        run.wait_for_news()
        await workflow.wait_condition(inbox.has_reversal_news)
        _take_order_news(inbox, waiting)
        if inbox.opportunity_changes and not await _still_wanted(run, inbox, waiting, erp_system):
            return None


def _found_rejected(run: DealRun, order: SalesOrder) -> OrderChange | None:
    """The rejection a found order shows, as if the feed had told it: older than any
    news of the order (finance reopening it) the feed brings after."""
    if order.state is not OrderStatus.REJECTED:
        return None
    return OrderChange(
        id=order.id,
        order_number=order.order_number,
        crm_opportunity_id=run.state.crm_opportunity_id,
        customer_id=order.customer_id,
        status=OrderStatus.REJECTED,
        erp_status=order.status,
        total=order.total,
        tran_date=order.tran_date,
        lines=order.lines,
        modified_at=order.last_modified or _EARLIEST,
        rejection_reason=order.rejection_reason,
    )


async def _write_back_status(run: DealRun, order: SalesOrder, erp_status: str) -> None:
    shown = order.model_copy(update={"status": erp_status})
    await run.until_done("write_back", lambda: write_back(run, shown))


def _take_order_news(inbox: DealInbox, waiting: _Waiting) -> None:
    """The newest change of the deal's order (others are another order's news)."""
    for change in inbox.take_order_changes():
        if change.id != waiting.order.id:
            continue
        # Signals come in the feed's order: of two stamped alike, the later is newer.
        if waiting.latest is None or change.modified_at >= waiting.latest.modified_at:
            waiting.latest = change


async def _approved(
    run: DealRun,
    inbox: DealInbox,
    waiting: _Waiting,
    change: OrderChange,
    erp_system: SourceSystem,
) -> SalesOrder:
    facts = OrderFacts.of_change(change)
    if facts.crm_opportunity_id is None:
        facts = facts.model_copy(update={"crm_opportunity_id": run.state.crm_opportunity_id})
    await run.record(
        order_accepted_event(facts, erp_system, run.state.correlation_id, workflow.now())
    )
    if waiting.amended:
        inbox.opportunity_changes[:0] = waiting.amended  # compared once accepted
    run.state.detail = None
    return waiting.order.model_copy(
        update={
            "status": change.erp_status,
            "state": change.status,
            "total": change.total,
            "lines": change.lines or waiting.order.lines,
            "last_modified": change.modified_at,
        }
    )


async def _still_wanted(
    run: DealRun, inbox: DealInbox, waiting: _Waiting, erp_system: SourceSystem
) -> bool:
    """Re-read the opportunity: lost, reopened or deleted cancels the held order. False
    once the deal has cancelled it; True while the deal goes on waiting, and when the
    ERP ended the order first (the wait's loop then takes the ERP's word)."""
    changes = inbox.take_opportunity_changes()
    fetched = await reread(run)
    opportunity = fetched.opportunity
    if opportunity is not None and opportunity.is_closed_won:
        waiting.amended = [*(waiting.amended or []), *changes]
        return True
    what = _undone(opportunity)
    tries = 0
    seen = run.state.deliveries

    async def withdraw() -> bool:
        # Parked here (the ERP refused the cancel, or its credential did), news wakes
        # the step (the lifecycle explorer's run of 1,000): the approver may have
        # rejected the order (NetSuite: closed) or finance cancelled it first, and an
        # order the ERP has ended needs no cancelling; or sales may have won the deal
        # back, and then it waits for approval again.
        nonlocal tries, seen
        tries += 1
        seen = run.state.deliveries
        _take_order_news(inbox, waiting)
        if _ended_in_the_erp(waiting):
            return False
        why = what
        if tries > 1:
            news = inbox.take_opportunity_changes()
            current = (await fetch_opportunity(run, "reread_opportunity")).opportunity
            if current is not None and current.is_closed_won:
                waiting.amended = [*(waiting.amended or []), *changes, *news]
                return False
            why = _undone(current)
        await reversals.cancel(run, waiting.order, erp_system, f"the opportunity was {why}")
        return True

    cancelled = await run.until_done(
        "cancel_order",
        withdraw,
        # Sales winning the deal back reaches the run as a closed-won delivery, not as
        # an opportunity change: a delivery after the last try wakes the park too.
        wake=lambda: inbox.has_reversal_news() or run.state.deliveries > seen,
    )
    return not cancelled


def _undone(opportunity: Opportunity | None) -> str:
    return "deleted in the CRM" if opportunity is None else f"moved to {opportunity.stage!r}"


def _ended_in_the_erp(waiting: _Waiting) -> bool:
    latest = waiting.latest
    return latest is not None and latest.status in (OrderStatus.REJECTED, OrderStatus.CANCELLED)


async def _rejected(run: DealRun, inbox: DealInbox, waiting: _Waiting) -> bool:
    """Parked until sales decides: False when the CRM says the deal is lost (it ends
    cancelled), True when finance reopened the order (back to waiting)."""

    async def decide() -> bool:
        _take_order_news(inbox, waiting)
        latest = waiting.latest
        if latest is not None and latest.status is not OrderStatus.REJECTED:
            return True
        inbox.take_opportunity_changes()
        fetched = await fetch_opportunity(run, "reread_opportunity")
        opportunity = fetched.opportunity
        if opportunity is None or not opportunity.is_closed_won:
            return False
        reason = (latest.rejection_reason if latest else None) or "no reason given"
        raise NeedsAttention(
            ExceptionReason.APPROVAL_REJECTED,
            f"The ERP rejected order {waiting.order.order_number} at approval: {reason}. "
            "Sales decides: mark the opportunity lost in the CRM, or have finance reopen "
            "the order for approval.",
        )

    if await run.until_done("approval", decide, wake=inbox.has_reversal_news):
        return True
    run.state.detail = (
        f"order {waiting.order.order_number} was rejected in the ERP and the opportunity "
        "is no longer won"
    )
    run.show(DealStatus.CANCELLED)
    return False
