"""Renewal: one run per ERP subscription, opening its renewal opportunity on time.

The change feed signals every version of the subscription (signal-with-start on
``renewal:<erp>:<subscription id>``). The run sleeps on a durable timer until the term
end minus the lead time (90 days by default), then opens one renewal opportunity in
the CRM, linked to the opportunity the subscription was sold on, and records
``renewal.opened``. An amended end date moves the timer (after the renewal opened, it
only moves the day the run ends: same term, same renewal); a cancelled subscription
ends the run. The opportunity is keyed by subscription and term start in the CRM, so a
retried or replayed step finds it instead of opening a second. What stops the opening
and cannot pass by retrying (a CRM refusal, a refused credential, an error no connector
explains, no account to open it on) parks the run for a person; it never fails.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    import workflows.renewal.contract as contract
    import workflows.search_attributes as sa
    from activities.crm import CrmActivities
    from activities.ledger import LedgerActivities
    from models.changes import SubscriptionChange, SubscriptionStatus
    from models.deal import ExceptionReason, RetryRequest
    from models.facts import renewal_opened_event
    from models.lifecycle import RenewalInput, RenewalState, RenewalStatus
    from models.messages import OpenRenewalInput, RecordEventInput
    from workflows.parking import Parking, needs_a_person
    from workflows.policies import CALL_RETRY, CALL_TIMEOUT, HEARTBEAT_TIMEOUT, LOCAL_TIMEOUT


def opens_at(subscription: SubscriptionChange, lead: timedelta) -> datetime:
    """Midnight UTC of the term's last day, minus the lead time."""
    return datetime.combine(subscription.end_date, time(), UTC) - lead


def _term_over_at(subscription: SubscriptionChange) -> datetime:
    return datetime.combine(subscription.end_date, time(), UTC) + timedelta(days=1)


@workflow.defn(name=contract.WORKFLOW_TYPE)
class Renewal:
    @workflow.init
    def __init__(self, request: RenewalInput) -> None:
        self._state = RenewalState(
            erp_system=request.erp_system,
            subscription_id=request.subscription_id,
            subscription=request.subscription,
            opened=dict(request.opened),
        )
        self._changes: list[SubscriptionChange] = []
        self._parking = Parking(
            f"{request.erp_system}:subscription:{request.subscription_id}",
            request.correlation_id,
        )

    @workflow.signal(name=contract.CHANGED.name)
    def changed(self, subscription: SubscriptionChange) -> None:
        """A version of the subscription from the ERP change feed."""
        self._changes.append(subscription)

    @workflow.signal(name=contract.RETRY.name)
    def retry(self, request: RetryRequest) -> None:
        self._parking.request_retry(request)

    @workflow.query(name=contract.STATE.name)
    def state(self) -> RenewalState:
        return self._state.model_copy(update={"open_exception": self._parking.open_exception})

    @workflow.run
    async def run(self, request: RenewalInput) -> RenewalState:
        await workflow.wait_condition(lambda: bool(self._changes) or self._current() is not None)
        while True:
            subscription = self._take_changes()
            if subscription.status is SubscriptionStatus.CANCELLED:
                self._state.detail = "the subscription was cancelled in the ERP"
                return self._finish(RenewalStatus.CANCELLED)
            # A term is known by its start: an amended end date is the same term.
            term = subscription.start_date.isoformat()
            if term in self._state.opened:
                # This term's renewal is open: follow the term to its end for amendments.
                if await self._changed_before(_term_over_at(subscription)):
                    continue
                return self._finish(RenewalStatus.OPENED)
            self._state.opens_at = opens_at(subscription, request.lead)
            self._show(RenewalStatus.WAITING)
            if await self._changed_before(self._state.opens_at):
                continue  # a new term (or a cancellation): recompute the timer
            opened = await self._open(subscription, request)
            if opened is None:
                continue  # parked, and news arrived meanwhile
            self._state.opened[term] = opened
            self._show(RenewalStatus.OPENED)

    def _current(self) -> SubscriptionChange | None:
        return self._state.subscription

    def _take_changes(self) -> SubscriptionChange:
        """Newest version wins; an older one read late never moves the term back."""
        changes, self._changes = self._changes, []
        current = self._state.subscription
        for change in changes:
            if current is None or change.modified_at >= current.modified_at:
                if current is not None and change.end_date != current.end_date:
                    self._state.term_changes += 1
                current = change
        assert current is not None  # the run waits for the first version
        self._state.subscription = current
        self._state.term_end = current.end_date
        return current

    async def _changed_before(self, moment: datetime) -> bool:
        """Sleep until ``moment`` (a durable timer); whether a new version came first."""
        remaining = moment - workflow.now()
        if remaining <= timedelta(0):
            return bool(self._changes)
        try:
            await workflow.wait_condition(lambda: bool(self._changes), timeout=remaining)
        except TimeoutError:
            return False
        return True

    async def _open(self, subscription: SubscriptionChange, request: RenewalInput) -> str | None:
        """The renewal opportunity's id; None when the run parked and news arrived."""
        resumed_by: str | None = None  # the operator whose retry this attempt is
        while True:
            opportunity_id, reason, problem = await self._try_open(
                subscription, request, resumed_by
            )
            if opportunity_id is not None:
                await self._parking.close()
                return opportunity_id
            self._state.detail = problem
            self._show(RenewalStatus.NEEDS_ATTENTION)
            await self._parking.park(
                "open_renewal",
                reason,
                problem,
                wake=lambda: bool(self._changes),
            )
            if self._changes:
                await self._parking.close()
                return None
            resumed_by = self._parking.retry_requested_by
            self._state.detail = None

    async def _try_open(
        self, subscription: SubscriptionChange, request: RenewalInput, resumed_by: str | None
    ) -> tuple[str | None, ExceptionReason, str]:
        """The opened opportunity's id, or None and what stands in the way."""
        try:
            result = await workflow.execute_activity_method(
                CrmActivities.open_renewal,
                OpenRenewalInput(subscription=subscription, correlation_id=request.correlation_id),
                start_to_close_timeout=CALL_TIMEOUT,
                heartbeat_timeout=HEARTBEAT_TIMEOUT,
                retry_policy=CALL_RETRY,
            )
        except ActivityError as error:
            needed = needs_a_person(error, ExceptionReason.CRM_REJECTED)
            if needed is None:
                raise
            reason, message = needed
            return None, reason, f"the renewal opportunity could not be opened: {message}"
        if result.opportunity_id is None:
            problem = result.problem or "no CRM account to open the renewal on"
            return None, ExceptionReason.NO_CRM_ACCOUNT, problem
        await workflow.execute_local_activity_method(
            LedgerActivities.record_event,
            RecordEventInput(
                event=renewal_opened_event(
                    subscription,
                    result.opportunity_id,
                    request.erp_system,
                    request.correlation_id,
                    workflow.now(),
                ).caused(resumed_by)
            ),
            start_to_close_timeout=LOCAL_TIMEOUT,
        )
        return result.opportunity_id, ExceptionReason.NO_CRM_ACCOUNT, ""

    def _show(self, status: RenewalStatus) -> None:
        """The renewal's status, in its state and the Web UI's search attributes: only
        what changed is upserted (each upsert is a history event and a billable action)."""
        self._state.status = status
        sa.show(
            contract.renewal_attributes(
                status, self._state.subscription_id, self._state.subscription
            )
        )

    def _finish(self, status: RenewalStatus) -> RenewalState:
        self._show(status)
        self._state.open_exception = self._parking.open_exception
        return self._state
