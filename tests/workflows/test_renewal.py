"""Renewals: a durable timer across a whole term, moved by amendments, ended by a
cancellation, one renewal opportunity whatever happens in between; a refused
credential waits for a person."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from models.changes import SubscriptionChange, SubscriptionStatus
from models.deal import ExceptionReason, RetryRequest
from models.events import EventType, SourceSystem
from models.lifecycle import RenewalInput, RenewalState, RenewalStatus
from models.tables import ExceptionStatus
from models.types import Money
from tests.deals import open_deal
from tests.workflows.conftest import World
from tests.workflows.histories import record_history, search_attribute_upserts
from workers.worker import build_workers
from workflows.renewal import contract as renewal_contract
from workflows.renewal.workflow import Renewal
from workflows.search_attributes import (
    CRM_OPPORTUNITY_ID,
    ERP_SUBSCRIPTION_ID,
    SYNC_STATUS,
    at_start,
)

LEAD = timedelta(days=90)


def _subscription(
    opportunity_id: str | None,
    *,
    start: date,
    end: date,
    modified_at: datetime,
    status: SubscriptionStatus = SubscriptionStatus.ACTIVE,
    subscription_id: str = "501",
) -> SubscriptionChange:
    return SubscriptionChange(
        id=subscription_id,
        erp_order_id="77",
        crm_opportunity_id=opportunity_id,
        customer_id="12",
        name="SO1077 subscription",
        start_date=start,
        end_date=end,
        recurring_amount=Money(amount=Decimal("24000.00"), currency="USD"),
        status=status,
        modified_at=modified_at,
    )


async def _start(
    world: World, subscription: SubscriptionChange, task_queue: str | None = None
) -> WorkflowHandle[Any, RenewalState]:
    """As the change feed does it: signal-with-start on the subscription's key."""
    return await world.client.start_workflow(
        Renewal.run,
        RenewalInput(
            erp_system=SourceSystem.NETSUITE,
            subscription_id=subscription.id,
            lead=LEAD,
            correlation_id="corr-renewal",
        ),
        id=f"renewal-{world.task_queue}-{subscription.id}",
        task_queue=task_queue or world.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=renewal_contract.CHANGED.name,
        start_signal_args=[subscription],
        search_attributes=at_start(
            renewal_contract.renewal_attributes(
                RenewalStatus.WAITING, subscription.id, subscription
            )
        ),
    )


async def _state_until(handle: WorkflowHandle[Any, RenewalState], predicate: Any) -> RenewalState:
    for _ in range(200):
        state = await handle.query(Renewal.state)
        if predicate(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"the renewal never got there: {state}")


async def _renewals_in_crm(world: World, opportunity_id: str) -> list[dict[str, Any]]:
    return await world.crm.query(
        "SELECT Id, Name, AccountId, Amount, CloseDate, StageName, External_Id__c, "
        "Syncline_Subscription_Id__c FROM Opportunity "
        f"WHERE Syncline_Renewal_Of__c = '{opportunity_id}'"
    )


async def test_a_year_long_term_amended_then_renewed_once(
    world: World, workflow_env: WorkflowEnvironment
) -> None:
    opportunity_id = await open_deal(world.crm, world.entries, name="Annual platform")
    now = await workflow_env.get_current_time()
    start = now.date()
    end = start + timedelta(days=364)
    handle = await _start(
        world, _subscription(opportunity_id, start=start, end=end, modified_at=now)
    )

    waiting = await _state_until(handle, lambda s: s.opens_at is not None)
    assert waiting.status == RenewalStatus.WAITING
    assert waiting.opens_at is not None and waiting.opens_at.date() == end - LEAD

    # Finance extends the term by a month; a stale copy of the old term arrives after.
    amended_end = end + timedelta(days=31)
    await handle.signal(
        Renewal.changed,
        _subscription(
            opportunity_id, start=start, end=amended_end, modified_at=now + timedelta(minutes=5)
        ),
    )
    await handle.signal(
        Renewal.changed,
        _subscription(opportunity_id, start=start, end=end, modified_at=now + timedelta(minutes=1)),
    )
    moved = await _state_until(handle, lambda s: s.term_end == amended_end)
    assert moved.opens_at is not None and moved.opens_at.date() == amended_end - LEAD
    assert moved.term_changes == 1

    # Nothing opens before its time, then exactly one renewal when the timer fires.
    await workflow_env.sleep(timedelta(days=200))
    assert await _renewals_in_crm(world, opportunity_id) == []
    result = await handle.result()  # time skips to the renewal and then the term's end
    await record_history(handle, "renewal_amended_then_opened")
    # The start showed ``waiting`` and the keys; the amendment changed none of them: the
    # one upsert is ``opened``.
    assert await search_attribute_upserts(handle) == 1
    shown = (await handle.describe()).typed_search_attributes
    assert shown.get(SYNC_STATUS) == RenewalStatus.OPENED.value
    assert shown.get(ERP_SUBSCRIPTION_ID) == "501"
    assert shown.get(CRM_OPPORTUNITY_ID) == opportunity_id

    assert result.status == RenewalStatus.OPENED
    (renewal,) = await _renewals_in_crm(world, opportunity_id)
    assert result.opened == {start.isoformat(): renewal["Id"]}
    assert renewal["CloseDate"] == amended_end.isoformat()
    assert Decimal(str(renewal["Amount"])) == Decimal("24000.00")
    assert renewal["Syncline_Subscription_Id__c"] == "501"
    events = await world.store.events_for(opportunity_id)
    opened = [e for e in events if e.event_type == EventType.RENEWAL_OPENED]
    assert len(opened) == 1
    assert opened[0].payload["renewal_opportunity_id"] == renewal["Id"]
    assert opened[0].payload["term_end"] == amended_end.isoformat()


async def test_a_cancelled_subscription_ends_without_a_renewal(
    world: World, workflow_env: WorkflowEnvironment
) -> None:
    opportunity_id = await open_deal(world.crm, world.entries, name="Cancelled platform")
    now = await workflow_env.get_current_time()
    start = now.date()
    end = start + timedelta(days=364)
    handle = await _start(
        world,
        _subscription(opportunity_id, start=start, end=end, modified_at=now, subscription_id="502"),
    )
    await _state_until(handle, lambda s: s.opens_at is not None)
    await handle.signal(
        Renewal.changed,
        _subscription(
            opportunity_id,
            start=start,
            end=end,
            modified_at=now + timedelta(days=1),
            status=SubscriptionStatus.CANCELLED,
            subscription_id="502",
        ),
    )
    result = await handle.result()
    await record_history(handle, "renewal_cancelled")
    assert result.status == RenewalStatus.CANCELLED
    assert await _renewals_in_crm(world, opportunity_id) == []


async def test_no_crm_account_parks_until_news_arrives(
    world: World, workflow_env: WorkflowEnvironment
) -> None:
    now = await workflow_env.get_current_time()
    start = now.date() - timedelta(days=300)
    # The term ends inside the lead time: the renewal is due at once, but the
    # subscription names no opportunity and no CRM account mirrors its customer.
    handle = await _start(
        world,
        _subscription(
            None,
            start=start,
            end=start + timedelta(days=364),
            modified_at=now,
            subscription_id="503",
        ),
    )
    parked = await _state_until(handle, lambda s: s.status == RenewalStatus.NEEDS_ATTENTION)
    assert parked.open_exception is not None
    assert parked.open_exception.reason == ExceptionReason.NO_CRM_ACCOUNT
    rows = await world.store.list_exceptions(status=ExceptionStatus.OPEN)
    assert any(row.workflow_id == handle.id for row in rows)

    await handle.signal(
        Renewal.changed,
        _subscription(
            None,
            start=start,
            end=start + timedelta(days=364),
            modified_at=now + timedelta(hours=1),
            status=SubscriptionStatus.CANCELLED,
            subscription_id="503",
        ),
    )
    assert (await handle.result()).status == RenewalStatus.CANCELLED
    rows = await world.store.list_exceptions(status=ExceptionStatus.RESOLVED)
    assert any(row.workflow_id == handle.id for row in rows)


@asynccontextmanager
async def _worker(world: World, task_queue: str, cached: int = 1000) -> AsyncIterator[None]:
    workers = build_workers(
        world.client,
        task_queue=task_queue,
        crm=world.crm,
        erp=world.erp,
        erp_system=SourceSystem.NETSUITE,
        store=world.store,
        erp_max_concurrency=2,
        max_cached_workflows=cached,
    )
    async with workers[0], workers[1]:
        yield


async def test_a_new_worker_picks_the_sleeping_renewal_up_from_its_history(
    world: World, workflow_env: WorkflowEnvironment
) -> None:
    """A worker restart between two steps: the next worker replays the history (timer
    started, amendment taken) and carries on to the one renewal."""
    opportunity_id = await open_deal(world.crm, world.entries, name="Restarted platform")
    task_queue = f"{world.task_queue}-restart"
    now = await workflow_env.get_current_time()
    start = now.date()
    end = start + timedelta(days=364)
    subscription = _subscription(
        opportunity_id, start=start, end=end, modified_at=now, subscription_id="504"
    )
    # Uncached, so the next task goes to the shared queue rather than this worker's
    # sticky one (which the test server would wait on without skipping time).
    async with _worker(world, task_queue, cached=0):
        handle = await _start(world, subscription, task_queue)
        await _state_until(handle, lambda s: s.opens_at is not None)
    # No worker now: the amendment waits in the history.
    amended = subscription.model_copy(
        update={"end_date": end + timedelta(days=10), "modified_at": now + timedelta(hours=1)}
    )
    await handle.signal(Renewal.changed, amended)
    async with _worker(world, task_queue):
        result = await handle.result()
    assert result.status == RenewalStatus.OPENED
    assert list(result.opened) == [start.isoformat()]
    assert len(await _renewals_in_crm(world, opportunity_id)) == 1


async def test_an_end_date_moved_after_the_renewal_opened_is_the_same_term(
    world: World, workflow_env: WorkflowEnvironment
) -> None:
    opportunity_id = await open_deal(world.crm, world.entries, name="Extended platform")
    now = await workflow_env.get_current_time()
    start = now.date() - timedelta(days=330)
    subscription = _subscription(
        opportunity_id,
        start=start,
        end=start + timedelta(days=364),
        modified_at=now,
        subscription_id="505",
    )
    handle = await _start(world, subscription)  # inside the lead time: due at once
    await _state_until(handle, lambda s: s.status == RenewalStatus.OPENED)
    extended = subscription.model_copy(
        update={
            "end_date": subscription.end_date + timedelta(days=30),
            "modified_at": now + timedelta(hours=1),
        }
    )
    await handle.signal(Renewal.changed, extended)
    result = await handle.result()
    assert result.status == RenewalStatus.OPENED and result.term_end == extended.end_date
    assert len(result.opened) == 1
    assert len(await _renewals_in_crm(world, opportunity_id)) == 1


async def test_a_refused_crm_credential_parks_the_renewal_until_retried(
    world: World, workflow_env: WorkflowEnvironment
) -> None:
    opportunity_id = await open_deal(world.crm, world.entries, name="Locked out platform")
    now = await workflow_env.get_current_time()
    start = now.date() - timedelta(days=330)
    # The integration user's session is revoked: every CRM call is refused, even after
    # the connector fetches a fresh token.
    response = await world.crm_admin.post(
        "/admin/faults", json=[{"mode": "error", "status": 401, "path_prefix": "/services/data"}]
    )
    assert response.status_code == 200, response.text
    handle = await _start(  # inside the lead time: due at once
        world,
        _subscription(
            opportunity_id,
            start=start,
            end=start + timedelta(days=364),
            modified_at=now,
            subscription_id="506",
        ),
    )
    parked = await _state_until(handle, lambda s: s.status == RenewalStatus.NEEDS_ATTENTION)
    assert parked.open_exception is not None
    assert parked.open_exception.reason == ExceptionReason.AUTH_FAILED

    await world.crm_admin.delete("/admin/faults")
    await handle.signal(
        Renewal.retry, RetryRequest(exception_id=parked.open_exception.id, requested_by="rita")
    )
    await _state_until(handle, lambda s: s.status == RenewalStatus.OPENED)
    await record_history(handle, "renewal_auth_failed_then_retried")
    result = await handle.result()
    assert result.status == RenewalStatus.OPENED and result.open_exception is None
    assert len(await _renewals_in_crm(world, opportunity_id)) == 1
    row = await world.store.get_exception(parked.open_exception.id)
    assert row is not None and row.status == ExceptionStatus.RESOLVED
    # The renewal opened because rita retried it: the ledger says so.
    [opened] = await world.store.events_from_source(
        EventType.RENEWAL_OPENED, SourceSystem.NETSUITE, "506"
    )
    assert opened.caused_by == "rita"
