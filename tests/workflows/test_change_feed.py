"""The ERP change feed over every kind of change: events in the ledger once, mirrors
and renewals started and kept current, duplicate pages harmless, lag measured; a kind
the ERP refuses waits for a person while the others go on, and never ends the feed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowFailureError, WorkflowHandle

from models.billing import ChangeCursor
from models.changes import ChangeKind, ItemChange
from models.deal import DealStatus, ExceptionReason, RetryRequest
from models.events import EventType
from models.lifecycle import MirrorStatus, RenewalStatus
from models.tables import ExceptionRow, ExceptionStatus
from tests.deals import open_deal
from tests.workflows.conftest import World
from tests.workflows.conftest import eventually as _eventually
from tests.workflows.histories import record_history
from workflows.contract import RETRY
from workflows.deal.workflow import CloseWonToOrder
from workflows.feed.contract import FeedConfig, FeedInput, FeedStatus
from workflows.feed.workflow import RECHECK_EVERY, ErpChangeFeed
from workflows.mirror.contract import mirror_workflow_id
from workflows.mirror.workflow import ErpMirror
from workflows.renewal.contract import renewal_workflow_id
from workflows.renewal.workflow import Renewal


def _feed_input(config: FeedConfig) -> FeedInput:
    # The sandbox stamps wall-clock time; the test server's clock may have skipped.
    start = ChangeCursor(modified_at=datetime.now(UTC) - timedelta(minutes=1))
    return FeedInput(
        erp_system="netsuite", config=config, cursors={kind: start for kind in ChangeKind}
    )


async def _start_feed(
    world: World, name: str, request: FeedInput | None = None
) -> WorkflowHandle[Any, None]:
    return await world.client.start_workflow(
        ErpChangeFeed.run,
        request or _feed_input(FeedConfig(poll_interval=timedelta(seconds=1), page_size=2)),
        id=f"{name}-{world.task_queue}",
        task_queue=world.task_queue,
    )


async def _event_count(world: World, subject: str, kind: EventType) -> int:
    return [e.event_type for e in await world.store.events_for(subject)].count(kind)


async def test_every_kind_of_erp_change_reaches_its_process_once(own_world: World) -> None:
    world = own_world
    opportunity_id = await open_deal(world.crm, world.entries, ["SL-PLATFORM-ANNUAL"])
    await world.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    deal = await world.start(opportunity_id)
    state = await _eventually(
        lambda: deal.query(CloseWonToOrder.state), lambda s: s.billing is not None
    )
    order_id, customer_id = state.erp_order_id, state.erp_customer_id
    assert order_id is not None and customer_id is not None
    account_id = (await world.crm.get("Opportunity", opportunity_id))["AccountId"]
    (subscription,) = await world.erp.suiteql(
        f"SELECT id FROM subscription WHERE salesorder = {order_id}"
    )

    feed = await _start_feed(world, "feed")

    # The customer Syncline created is mirrored back onto its account, read-only.
    customer_mirror = world.client.get_workflow_handle(
        mirror_workflow_id("netsuite", "customer", customer_id)
    )
    await _eventually(
        lambda: customer_mirror.query(ErpMirror.state),
        lambda s: s.applied >= 1 and s.status == MirrorStatus.IN_SYNC,
    )
    account = await world.crm.get("Account", account_id)
    assert account["Syncline_Customer_Id__c"] == customer_id
    assert account["Syncline_Legal_Name__c"] == "Test deal account"

    # The order made a subscription; its renewal waits for the term's end.
    renewal = world.client.get_workflow_handle(
        renewal_workflow_id("netsuite", str(subscription["id"]))
    )
    waiting = await _eventually(
        lambda: renewal.query(Renewal.state), lambda s: s.opens_at is not None
    )
    assert waiting.status == RenewalStatus.WAITING
    assert waiting.subscription is not None
    assert waiting.subscription.crm_opportunity_id == opportunity_id

    # Finance, in the ERP: a new legal address, a longer term, a new list price.
    await world.erp.update_record(
        "customer",
        customer_id,
        {
            "companyName": "Test deal account Ltd",
            "addressBook": {
                "items": [
                    {
                        "defaultBilling": True,
                        "addressBookAddress": {
                            "addr1": "9 Quay",
                            "city": "Dublin",
                            "country": "IE",
                        },
                    }
                ]
            },
        },
    )
    new_end = waiting.subscription.end_date + timedelta(days=90)
    await world.erp.update_record(
        "subscription", str(subscription["id"]), {"endDate": new_end.isoformat()}
    )
    items = await world.erp.find_items(["SL-TRAINING-DAY"])
    item_id = items["SL-TRAINING-DAY"].id
    await world.erp.update_record("inventoryItem", item_id, {"basePrice": 1600})

    account = await _eventually(
        lambda: world.crm.get("Account", account_id), lambda a: a["BillingCity"] == "Dublin"
    )
    assert account["Syncline_Legal_Name__c"] == "Test deal account Ltd"
    assert account["Name"] == "Test deal account"  # the CRM's own field, untouched
    await _eventually(lambda: renewal.query(Renewal.state), lambda s: s.term_end == new_end)
    product = (
        await world.crm.query(f"SELECT Id FROM Product2 WHERE Syncline_Item_Id__c = '{item_id}'")
    )[0]
    await _eventually(
        lambda: world.crm.query(
            f"SELECT UnitPrice FROM PricebookEntry WHERE Product2Id = '{product['Id']}'"
        ),
        lambda rows: bool(rows) and float(rows[0]["UnitPrice"]) == 1600.0,
    )

    # The ledger: one order.accepted (the deal's and the feed's are one fact), one
    # customer.upserted per version of the customer.
    assert await _event_count(world, opportunity_id, EventType.ORDER_ACCEPTED) == 1
    assert await _event_count(world, account_id, EventType.CUSTOMER_UPSERTED) >= 2
    status: FeedStatus = await feed.query(ErpChangeFeed.status)
    # The customer twice; the order's acceptance is one fact with the deal's.
    assert status.recorded >= 2
    assert status.lag_p95_seconds is not None
    assert set(status.streams) == set(ChangeKind)

    # A second feed over the same window: every page again, nothing new in the ledger.
    replay = await _start_feed(world, "replayed-feed")
    again: FeedStatus = await _eventually(
        lambda: replay.query(ErpChangeFeed.status), lambda s: s.polls >= 1
    )
    # The ERP shows only the customer's newest version now: a duplicate.
    assert again.recorded == 0 and again.duplicates >= 1
    assert await _event_count(world, opportunity_id, EventType.ORDER_ACCEPTED) == 1
    assert (await deal.query(CloseWonToOrder.state)).status == DealStatus.ORDER_ACCEPTED
    assert (await renewal.query(Renewal.state)).term_changes == 1
    await replay.terminate("compared")

    # A deal no longer following (stopped here by hand): its invoice's facts are the
    # feed's to record, and the signal nobody took is counted as unmatched.
    await deal.terminate("stopped following")
    invoice_id = await world.erp.create_record("invoice", {"createdFrom": {"id": order_id}})
    posted = await _eventually(
        lambda: world.store.events_for(opportunity_id),
        lambda events: any(e.event_type == EventType.INVOICE_POSTED for e in events),
    )
    [event] = [e for e in posted if e.event_type == EventType.INVOICE_POSTED]
    assert event.source_id == invoice_id and event.correlation_id == feed.id
    assert (await feed.query(ErpChangeFeed.status)).unmatched >= 1
    await _until_idle(feed)
    await feed.cancel()
    with pytest.raises(WorkflowFailureError):
        await feed.result()
    await record_history(feed, "erp_change_feed_polls")


SUITEQL = "/services/rest/query/v1/suiteql"


# The integration role loses its permission on customer records: a 403 on every read
# of one, which the feed does for each customer change (SuiteQL has no address).
CUSTOMERS_DENIED: dict[str, Any] = {
    "mode": "error",
    "status": 403,
    "method": "POST",
    "path_prefix": SUITEQL,
    "body_contains": "FROM customer",
    "code": "INSUFFICIENT_PERMISSION",
    "detail": "Permission Violation: you need the Lists > Customers permission.",
}


async def _set_erp_faults(world: World, *rules: dict[str, Any]) -> None:
    response = await world.erp_admin.post("/admin/faults", json=list(rules))
    assert response.status_code == 200, response.text


async def _faults_fired(world: World) -> int:
    fired: int = (await world.erp_admin.get("/admin/stats")).json()["faults_fired"]
    return fired


async def _feed_exceptions(world: World, feed: WorkflowHandle[Any, None]) -> list[ExceptionRow]:
    return [r for r in await world.store.list_exceptions() if r.workflow_id == feed.id]


async def _new_customer(world: World, name: str) -> str:
    """A customer keyed in by finance (a POST: the faults below only refuse reads)."""
    return await world.erp.create_record(
        "customer", {"companyName": name, "currency": {"refName": "USD"}}
    )


async def _customer_mirrored(world: World, customer_id: str) -> None:
    handle = world.client.get_workflow_handle(
        mirror_workflow_id("netsuite", "customer", customer_id)
    )
    await _eventually(lambda: handle.query(ErpMirror.state), lambda s: s.applied >= 1)


async def _until_idle(handle: WorkflowHandle[Any, Any]) -> None:
    """Between two polls, no activity outstanding (see test_billing)."""
    for _ in range(200):
        description = await handle.describe()
        if not description.raw_description.pending_activities:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the feed never paused between polls")


async def test_a_kind_the_erp_refuses_waits_alone_and_resumes_from_its_cursor(
    own_world: World,
) -> None:
    world = own_world
    await _set_erp_faults(world, CUSTOMERS_DENIED)
    denied = CUSTOMERS_DENIED["detail"]
    first = await _new_customer(world, "Parked Before Ltd")
    request = _feed_input(FeedConfig(poll_interval=timedelta(seconds=1), page_size=2))
    feed = await _start_feed(world, "refused-feed", request)

    parked = await _eventually(
        lambda: feed.query(ErpChangeFeed.status), lambda s: ChangeKind.CUSTOMER in s.parked
    )
    exception = parked.parked[ChangeKind.CUSTOMER]
    assert exception.reason == ExceptionReason.AUTH_FAILED and denied in exception.message
    assert exception.step == "poll:customer"
    assert set(parked.parked) == {ChangeKind.CUSTOMER}
    # The kind's cursor stays where it was: nothing after it is skipped.
    assert parked.streams[ChangeKind.CUSTOMER].cursor == request.cursors[ChangeKind.CUSTOMER]
    (row,) = await _feed_exceptions(world, feed)
    assert row.id == exception.id and row.status == ExceptionStatus.OPEN
    assert denied in row.message

    # The other kinds go on: a new list price reaches the item's mirror meanwhile.
    item = (await world.erp.find_items(["SL-TRAINING-DAY"]))["SL-TRAINING-DAY"]
    await world.erp.update_record("inventoryItem", item.id, {"basePrice": 1700})
    item_mirror = world.client.get_workflow_handle(mirror_workflow_id("netsuite", "item", item.id))
    await _eventually(
        lambda: item_mirror.query(ErpMirror.state),
        lambda s: (
            isinstance(s.latest, ItemChange)
            and s.latest.price is not None
            and s.latest.price.amount == 1700
        ),
    )
    second = await _new_customer(world, "Parked During Ltd")

    # A retry before the permission is back: the same refusal, the same exception row.
    fired = await _faults_fired(world)
    await RETRY.send(feed, RetryRequest(exception_id=exception.id))
    await _eventually(lambda: _faults_fired(world), lambda n: n > fired)
    again = await _eventually(
        lambda: feed.query(ErpChangeFeed.status), lambda s: ChangeKind.CUSTOMER in s.parked
    )
    assert again.parked[ChangeKind.CUSTOMER].id == exception.id
    assert [r.id for r in await _feed_exceptions(world, feed)] == [exception.id]

    # The permission is restored and the operator retries (naming no exception: the
    # feed retries whatever it parked): the kind resumes from its cursor, and both
    # customers it could not read are fed.
    await world.erp_admin.delete("/admin/faults")
    await RETRY.send(feed, RetryRequest())
    resumed = await _eventually(
        lambda: feed.query(ErpChangeFeed.status),
        lambda s: not s.parked and s.streams[ChangeKind.CUSTOMER].published >= 2,
    )
    assert resumed.parked == {}
    for customer_id in (first, second):
        await _customer_mirrored(world, customer_id)
    (row,) = await _feed_exceptions(world, feed)
    assert row.id == exception.id and row.status == ExceptionStatus.RESOLVED

    await _until_idle(feed)
    await feed.cancel()
    with pytest.raises(WorkflowFailureError):
        await feed.result()
    await record_history(feed, "erp_change_feed_kind_parked_then_retried")


async def test_an_answer_no_connector_explains_parks_the_kind_not_the_feed(
    own_world: World,
) -> None:
    world = own_world
    # The first poll's SuiteQL answers come back in a shape nobody expects, for as
    # many attempts as Syncline gives an unexplained error (the world's default, 5):
    # customers are read first, so it is the customers' poll that gives up.
    await _set_erp_faults(
        world,
        {
            "mode": "malformed",
            "method": "POST",
            "path_prefix": SUITEQL,
            "body": {"items": [{}], "hasMore": False},
            "times": 5,
        },
    )
    config = FeedConfig(poll_interval=timedelta(seconds=1), page_size=2, polls_per_run=3)
    feed = await _start_feed(world, "malformed-feed", _feed_input(config))
    parked = await _eventually(
        lambda: feed.query(ErpChangeFeed.status),
        lambda s: ChangeKind.CUSTOMER in s.parked and s.polls >= 2,
    )
    exception = parked.parked[ChangeKind.CUSTOMER]
    assert exception.reason == ExceptionReason.UNEXPECTED_ERROR
    assert "KeyError" in exception.message
    (row,) = await _feed_exceptions(world, feed)
    assert row.reason == ExceptionReason.UNEXPECTED_ERROR

    customer_id = await _new_customer(world, "Fed After The Fix Ltd")
    # The ERP answers properly again. With nobody's retry, the run continues as new
    # (three polls, sooner than the kind's ten-interval recheck timer could fire) and
    # the new run, carrying the parked kind, reads it at its first poll: the kind
    # resumes from its cursor and its exception resolves.
    second = await _eventually(feed.describe, lambda d: d.run_id != feed.result_run_id)
    await _eventually(lambda: feed.query(ErpChangeFeed.status), lambda s: not s.parked, seconds=30)
    await _customer_mirrored(world, customer_id)
    resolved = await world.store.get_exception(row.id)
    assert resolved is not None and resolved.status == ExceptionStatus.RESOLVED
    # The run that carried the kind, whole: it read the kind at its first poll.
    carried = world.client.get_workflow_handle(feed.id, run_id=second.run_id)
    await _eventually(
        carried.describe,
        lambda d: d.status == WorkflowExecutionStatus.CONTINUED_AS_NEW,
        seconds=30,
    )
    await record_history(carried, "erp_change_feed_carried_kind_read_at_first_poll")


async def test_a_refused_kind_is_read_again_by_itself_once_its_recheck_is_due(
    own_world: World,
) -> None:
    world = own_world
    # The integration role loses the customers permission and gets it back, and nobody
    # sends a retry. Every SuiteQL read is slow (150 ms, eight kinds a poll), so a poll
    # lasts several of its 300 ms intervals: the recheck, due ten intervals after the
    # refusal, must come after a few polls, not ten (a count of polls came this late).
    slow_reads = {"mode": "latency", "latency_ms": 150, "method": "POST", "path_prefix": SUITEQL}
    await _set_erp_faults(world, CUSTOMERS_DENIED, slow_reads)
    customer_id = await _new_customer(world, "Rechecked Ltd")
    config = FeedConfig(poll_interval=timedelta(milliseconds=300), page_size=2)
    feed = await _start_feed(world, "rechecked-feed", _feed_input(config))
    parked = await _eventually(
        lambda: feed.query(ErpChangeFeed.status), lambda s: ChangeKind.CUSTOMER in s.parked
    )
    exception = parked.parked[ChangeKind.CUSTOMER]

    await _set_erp_faults(world, slow_reads)
    resumed = await _eventually(
        lambda: feed.query(ErpChangeFeed.status), lambda s: not s.parked, seconds=60
    )
    assert resumed.polls - parked.polls < RECHECK_EVERY // 2
    assert resumed.streams[ChangeKind.CUSTOMER].published >= 1
    await _customer_mirrored(world, customer_id)
    (row,) = await _feed_exceptions(world, feed)
    assert row.id == exception.id and row.status == ExceptionStatus.RESOLVED
    # Still the first run: the recheck was the timer's, not a continue-as-new's.
    assert (await feed.describe()).run_id == feed.result_run_id

    await world.erp_admin.delete("/admin/faults")
    await _until_idle(feed)
    await feed.cancel()
    with pytest.raises(WorkflowFailureError):
        await feed.result()
    await record_history(feed, "erp_change_feed_kind_rechecked_by_itself")
