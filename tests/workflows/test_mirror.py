"""ERP → CRM mirrors: the ERP's customer and catalog land in the CRM read-only; a CRM
edit of an ERP-owned field is a conflict, never propagated; Syncline's own writes are
no edits at all; two ERP customers for one account wait for a person, and so does a
refused credential; nothing heard is lost when the run continues as new."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.testing import WorkflowEnvironment

from models.changes import CustomerChange, ItemChange
from models.crm import Address
from models.deal import ExceptionReason, RetryRequest
from models.events import SourceSystem
from models.identity import ObjectType
from models.lifecycle import AccountEdit, MirrorInput, MirrorState, MirrorStatus
from models.tables import ExceptionStatus
from models.types import Money
from tests.workflows.conftest import World, eventually
from tests.workflows.histories import record_history, search_attribute_upserts
from workflows.mirror import contract as mirror_contract
from workflows.mirror.workflow import ErpMirror
from workflows.search_attributes import SYNC_STATUS, at_start

ADDRESS = Address(street="5 Ring Road", city="Vienna", postal_code="1010", country="AT")


def _customer(
    customer_id: str, account_id: str | None, modified_at: datetime, **changes: Any
) -> CustomerChange:
    values: dict[str, Any] = {
        "id": customer_id,
        "external_id": account_id,
        "legal_name": "Acme Holding GmbH",
        "billing_address": ADDRESS,
        "tax_id": "ATU12345678",
        "currency": "EUR",
        "modified_at": modified_at,
        **changes,
    }
    return CustomerChange(**values)


async def _mirror(
    world: World,
    change: CustomerChange | ItemChange,
    history_limit: int = 2_000,
    task_timeout: timedelta | None = None,
) -> WorkflowHandle[Any, None]:
    return await world.client.start_workflow(
        ErpMirror.run,
        MirrorInput(
            erp_system=SourceSystem.NETSUITE,
            kind=change.kind,
            erp_id=change.id,
            correlation_id="corr-mirror",
            history_limit=history_limit,
        ),
        id=f"mirror-{world.task_queue}-{change.kind}-{change.id}",
        task_queue=world.task_queue,
        task_timeout=task_timeout,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=mirror_contract.CHANGED.name,
        start_signal_args=[change],
        search_attributes=at_start(
            mirror_contract.mirror_attributes(change.kind, change.id, MirrorStatus.PENDING)
        ),
    )


async def _until(
    handle: WorkflowHandle[Any, None], predicate: Callable[[MirrorState], bool]
) -> MirrorState:
    # A short query timeout: an unanswered one (the loaded test server, while a run
    # hands over to its continuation) is asked again by ``eventually``.
    return await eventually(
        lambda: handle.query(ErpMirror.state, rpc_timeout=timedelta(seconds=5)),
        predicate,
        seconds=30,
    )


async def _account(world: World, name: str = "Acme") -> str:
    return await world.crm.create("Account", {"Name": name, "BillingCity": "Nowhere"})


async def test_a_crm_edit_of_erp_owned_fields_is_a_conflict_and_an_echo_is_not(
    world: World, workflow_env: WorkflowEnvironment
) -> None:
    account_id = await _account(world)
    now = await workflow_env.get_current_time()
    handle = await _mirror(world, _customer("42", account_id, now))

    synced = await _until(handle, lambda s: s.applied == 1)
    assert synced.status == MirrorStatus.IN_SYNC and synced.account_ids == [account_id]
    account = await world.crm.get("Account", account_id)
    assert account["Syncline_Legal_Name__c"] == "Acme Holding GmbH"
    assert (account["BillingCity"], account["Tax_Id__c"]) == ("Vienna", "ATU12345678")
    assert account["Syncline_Customer_Id__c"] == "42"
    assert await world.store.erp_ids_for(ObjectType.CUSTOMER, [account_id]) == {account_id: "42"}

    # Syncline's own write, reported back without its origin: equal values, an echo.
    await handle.signal(
        ErpMirror.crm_edited,
        AccountEdit(
            account_id=account_id,
            changed_fields=["BillingCity"],
            values={"billing_city": "Vienna"},
        ),
    )
    await _until(handle, lambda s: s.echoes_ignored == 1)

    # A sales user retypes the legal address in the CRM.
    await world.crm.update("Account", account_id, {"BillingCity": "Graz"})
    await handle.signal(
        ErpMirror.crm_edited,
        AccountEdit(
            account_id=account_id,
            changed_fields=["BillingCity"],
            values={"billing_city": "Graz"},
            origin="com/salesforce/api/rest/59.0",
        ),
    )
    parked = await _until(handle, lambda s: s.status == MirrorStatus.NEEDS_ATTENTION)
    assert parked.conflicts == 1 and parked.open_exception is not None
    assert parked.open_exception.reason == ExceptionReason.OWNERSHIP_CONFLICT
    assert "billing_city set to 'Graz'" in parked.open_exception.message
    (row,) = [
        r
        for r in await world.store.list_exceptions(status=ExceptionStatus.OPEN)
        if r.workflow_id == handle.id
    ]
    assert row.details == {"billing_city": "Graz"}

    # Retry: the ERP's value goes back onto the account; the ERP was never asked.
    await handle.signal(ErpMirror.retry, RetryRequest(exception_id=row.id))
    await _until(handle, lambda s: s.status == MirrorStatus.IN_SYNC and s.applied == 2)
    assert (await world.crm.get("Account", account_id))["BillingCity"] == "Vienna"
    resolved = await world.store.get_exception(row.id)
    assert resolved is not None and resolved.status == ExceptionStatus.RESOLVED
    await record_history(handle, "erp_mirror_conflict_then_retried")
    await handle.terminate("test over")


async def test_one_account_edit_heard_by_two_paths_is_one_conflict(
    world: World, workflow_env: WorkflowEnvironment
) -> None:
    """The webhook relay and the change stream both deliver one change event: its
    transaction key makes it one edit; another change with the same values is another."""
    account_id = await _account(world)
    handle = await _mirror(
        world, _customer("43", account_id, await workflow_env.get_current_time())
    )
    await _until(handle, lambda s: s.applied == 1)
    edit = AccountEdit(
        account_id=account_id,
        changed_fields=["Tax_Id__c"],
        values={"tax_id": "ATU00000000"},
        transaction_key="tx-both-paths",
    )
    for _ in range(2):
        await handle.signal(ErpMirror.crm_edited, edit)
    parked = await _until(handle, lambda s: s.status == MirrorStatus.NEEDS_ATTENTION)
    await handle.signal(ErpMirror.retry, RetryRequest())
    settled = await _until(handle, lambda s: s.status == MirrorStatus.IN_SYNC and s.applied == 2)
    assert parked.conflicts == settled.conflicts == 1

    again = edit.model_copy(update={"transaction_key": "tx-later"})
    await handle.signal(ErpMirror.crm_edited, again)
    assert (await _until(handle, lambda s: s.conflicts == 2)).open_exception is not None
    await handle.terminate("test over")


async def test_two_erp_customers_for_one_account_wait_for_a_person(
    world: World, workflow_env: WorkflowEnvironment
) -> None:
    account_id = await _account(world, "Twin")
    now = await workflow_env.get_current_time()
    first = await _mirror(world, _customer("61", account_id, now, tax_id="DE999"))
    await _until(first, lambda s: s.applied == 1)

    # Finance keys the same company in again: no external id, the same tax id.
    second = await _mirror(world, _customer("62", None, now, tax_id="DE999"))
    parked = await _until(second, lambda s: s.status == MirrorStatus.NEEDS_ATTENTION)
    assert parked.open_exception is not None
    assert parked.open_exception.reason == ExceptionReason.DUPLICATE_CUSTOMER
    assert f"account {account_id} already mirrors ERP customer 61" in (parked.detail or "")
    assert (await world.crm.get("Account", account_id))["Syncline_Customer_Id__c"] == "61"

    # Finance corrects the duplicate's tax id: the newer version wakes the run.
    await second.signal(
        ErpMirror.changed,
        _customer("62", None, now + timedelta(minutes=1), tax_id="DE111"),
    )
    done = await _until(second, lambda s: s.status == MirrorStatus.NO_CRM_RECORD)
    assert done.open_exception is None and done.account_ids == []
    for handle in (first, second):
        await handle.terminate("test over")


async def test_an_item_and_its_price_are_mirrored_and_stale_versions_ignored(
    world: World, workflow_env: WorkflowEnvironment
) -> None:
    items = await world.erp.find_items(["SL-TRAINING-DAY"])
    item = items["SL-TRAINING-DAY"]
    now = await workflow_env.get_current_time()
    newer = ItemChange(
        id=item.id,
        sku="SL-TRAINING-DAY",
        name="Remote training day (8 h)",
        price=Money(amount=Decimal("1500.00"), currency="USD"),
        modified_at=now,
    )
    handle = await _mirror(world, newer)
    await _until(handle, lambda s: s.applied == 1)
    stale = newer.model_copy(
        update={
            "price": Money(amount=Decimal("1.00"), currency="USD"),
            "modified_at": now - timedelta(hours=1),
        }
    )
    await handle.signal(ErpMirror.changed, stale)
    await handle.signal(ErpMirror.changed, newer)  # the same version again
    await asyncio.sleep(0.3)
    assert (await handle.query(ErpMirror.state)).applied == 1
    # The start showed ``pending``; the one upsert is ``in_sync``, and the versions
    # ignored after it changed nothing shown.
    assert await search_attribute_upserts(handle) == 1
    shown = (await handle.describe()).typed_search_attributes
    assert shown.get(SYNC_STATUS) == MirrorStatus.IN_SYNC.value

    (product,) = await world.crm.query(
        f"SELECT Id, Name, ProductCode FROM Product2 WHERE Syncline_Item_Id__c = '{item.id}'"
    )
    assert product["Name"] == "Remote training day (8 h)"
    (entry,) = await world.crm.query(
        f"SELECT UnitPrice FROM PricebookEntry WHERE Product2Id = '{product['Id']}'"
    )
    assert Decimal(str(entry["UnitPrice"])) == Decimal("1500.00")
    await handle.terminate("test over")


async def test_a_refused_crm_credential_parks_the_mirror_until_retried(
    world: World, workflow_env: WorkflowEnvironment
) -> None:
    account_id = await _account(world, "Locked Out")
    # The integration user's session is revoked: every CRM call is refused, even
    # after the connector fetches a fresh token.
    response = await world.crm_admin.post(
        "/admin/faults", json=[{"mode": "error", "status": 401, "path_prefix": "/services/data"}]
    )
    assert response.status_code == 200, response.text
    now = await workflow_env.get_current_time()
    handle = await _mirror(world, _customer("81", account_id, now))

    parked = await _until(handle, lambda s: s.status == MirrorStatus.NEEDS_ATTENTION)
    assert parked.open_exception is not None
    assert parked.open_exception.reason == ExceptionReason.AUTH_FAILED
    (row,) = [r for r in await world.store.list_exceptions() if r.workflow_id == handle.id]
    assert row.status == ExceptionStatus.OPEN

    # An administrator renews the credential; the operator retries.
    await world.crm_admin.delete("/admin/faults")
    await handle.signal(ErpMirror.retry, RetryRequest(exception_id=row.id))
    synced = await _until(handle, lambda s: s.status == MirrorStatus.IN_SYNC)
    assert synced.applied == 1 and synced.open_exception is None
    account = await world.crm.get("Account", account_id)
    assert account["Syncline_Legal_Name__c"] == "Acme Holding GmbH"
    resolved = await world.store.get_exception(row.id)
    assert resolved is not None and resolved.status == ExceptionStatus.RESOLVED
    await record_history(handle, "erp_mirror_auth_failed_then_retried")
    await handle.terminate("test over")


async def _task_under_way(handle: WorkflowHandle[Any, None]) -> bool:
    """Whether the run's last workflow task has started and not yet ended (the local
    activity writing to the CRM runs inside it)."""
    last = None
    async for event in handle.fetch_history_events():
        if event.event_type in _TASK_EVENTS:
            last = event.event_type
    return last == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED


_TASK_EVENTS = {
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
}


async def _slow_answers_left(world: World) -> int:
    (rule,) = (await world.crm_admin.get("/admin/faults")).json()
    return int(rule["times"])


LIMIT = 200
TASK_TIMEOUT = timedelta(seconds=2)


async def test_what_the_mirror_heard_is_not_lost_when_it_continues_as_new(
    own_world: World,
) -> None:
    # On a server of its own, with a low history limit: the signal flood that fills a
    # run's history once took the shared test server down on a slow CI machine.
    world = own_world
    account_id = await _account(world, "Long Lived")
    now = datetime.now(UTC)
    first = _customer("91", account_id, now)
    # A short workflow task timeout: a local activity outlasting 80 % of it makes the
    # worker end the task and take the next, which brings what arrived meanwhile.
    started = await _mirror(world, first, history_limit=LIMIT, task_timeout=TASK_TIMEOUT)
    await _until(started, lambda s: s.applied == 1)
    latest = world.client.get_workflow_handle(started.id)  # whichever run is current

    # The CRM takes seconds to answer the next write (a local activity, inside a task).
    response = await world.crm_admin.post(
        "/admin/faults",
        json=[
            {
                "mode": "latency",
                "latency_ms": 3000,
                "times": 1,
                "method": "PATCH",
                "path_prefix": "/services/data",
            }
        ],
    )
    assert response.status_code == 200, response.text
    await latest.signal(ErpMirror.changed, _customer("91", account_id, now + timedelta(minutes=1)))
    await eventually(lambda: _slow_answers_left(world), lambda left: left == 0, seconds=6)
    # Meanwhile enough stale versions arrive (read again by the feed) for the run's
    # history to pass its limit, so it continues as new once the write is done, and a
    # newer version arrives too: heard during the write, not yet applied.
    stale = _customer("91", account_id, now - timedelta(hours=1))
    for _ in range(LIMIT // 25):
        await asyncio.gather(*(latest.signal(ErpMirror.changed, stale) for _ in range(25)))
    newest = _customer("91", account_id, now + timedelta(minutes=2), legal_name="Acme Group AG")
    await latest.signal(ErpMirror.changed, newest)
    assert await _task_under_way(latest), "the slow write ended too soon"
    assert (await latest.describe()).run_id == started.result_run_id

    continued = await _until(
        latest,
        lambda s: s.latest is not None and s.latest.modified_at == newest.modified_at,
    )
    assert (await latest.describe()).run_id != started.result_run_id
    assert continued.status == MirrorStatus.IN_SYNC
    account = await world.crm.get("Account", account_id)
    assert account["Syncline_Legal_Name__c"] == "Acme Group AG"
    await latest.terminate("test over")


async def test_a_mirror_that_continues_as_new_in_sync_stays_in_sync(world: World) -> None:
    """The status goes with the run's continuation: a run that applied its last version
    and then reached its history limit (stale versions read again) is still in sync."""
    account_id = await _account(world, "Continued")
    now = datetime.now(UTC)
    started = await _mirror(world, _customer("95", account_id, now), history_limit=40)
    await _until(started, lambda s: s.status == MirrorStatus.IN_SYNC)
    latest = world.client.get_workflow_handle(started.id)
    stale = _customer("95", account_id, now - timedelta(hours=1))
    for _ in range(40):
        await latest.signal(ErpMirror.changed, stale)
    await eventually(
        lambda: latest.describe(), lambda d: d.run_id != started.result_run_id, seconds=30
    )
    continued = await _until(latest, lambda s: s.latest is not None)
    assert continued.applied == 0  # the continuation wrote nothing itself
    assert continued.status == MirrorStatus.IN_SYNC
    await latest.terminate("test over")
