"""Reconciliation against the sandboxes: seeded drift of every class is found and
classified exactly, repaired through the normal workflows, and a second run finds
nothing new. The ERP change feed is not running here, so nothing but reconciliation
brings the ledger up to date."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal

import sqlalchemy as sa

from models.crm import Address
from models.deal import DealStatus, RetryRequest
from models.erp import CustomerUpsert
from models.events import EventType
from models.reconciliation import (
    Domain,
    DriftClass,
    FindingState,
    ReconcileRequest,
    ReconciliationReport,
    RunStatus,
)
from models.tables import ExceptionStatus, LedgerEvent
from reconciliation import contract as reconcile_contract
from reconciliation.records import ReconciliationRecords
from reconciliation.workflow import Reconcile
from tests.deals import erp_order_outside_syncline, open_deal
from tests.workflows.conftest import World
from tests.workflows.histories import record_history
from tests.workflows.test_reversals import _following
from workflows.contract import RETRY
from workflows.deal.workflow import CloseWonToOrder


async def _reconcile(
    world: World, history: str | None = None, **request: object
) -> ReconciliationReport:
    handle = await world.client.start_workflow(
        Reconcile.run,
        ReconcileRequest.model_validate(request),
        id=f"{reconcile_contract.ON_DEMAND_PREFIX}{uuid.uuid4().hex[:12]}",
        task_queue=world.task_queue,
    )
    # Polled, not awaited: waiting on a result lets the time-skipping server jump ahead
    # whenever nothing runs, and the mirrors and deals left waiting would time out.
    records = ReconciliationRecords(world.store)
    for _ in range(600):
        report = await records.get_run(handle.id)
        if report is not None and report.status != RunStatus.RUNNING:
            if history is not None:
                await record_history(handle, history)
            return report
        await asyncio.sleep(0.05)
    raise AssertionError(f"{handle.id} did not finish")


async def _classes(world: World, report: ReconciliationReport) -> dict[tuple[str, str], str]:
    """(domain, key) → class, for every finding of the run."""
    records = ReconciliationRecords(world.store)
    return {(row.domain, row.key): row.drift async for row in records.all_findings(report.id)}


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(300):
        if await check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"never happened: {what}")


async def _events(world: World, subject: str, event_type: str) -> int:
    return await world.store.count_events(event_type, subject)


async def test_replayable_drift_is_found_repaired_and_gone_on_the_next_run(
    own_world: World,
) -> None:
    world = own_world
    healthy, _, _ = await _following(world)

    # Won in the CRM, and its webhook never arrived. (On a customer the ERP knows, so its
    # replay creates no customer while the run compares customers.)
    healthy_account = (await world.crm.get("Opportunity", healthy))["AccountId"]
    missing = await open_deal(
        world.crm, world.entries, name="No webhook", account_id=healthy_account
    )
    await world.crm.update("Opportunity", missing, {"StageName": "Closed Won"})

    # A rep raised the quantity after the order was placed; the callout was lost.
    amended, amended_state, _ = await _following(world)
    (line,) = await world.crm.query(
        f"SELECT Id FROM OpportunityLineItem WHERE OpportunityId = '{amended}'"
    )
    await world.crm.update("OpportunityLineItem", line["Id"], {"Quantity": 5})

    # The ledger lost a booking (restored from an older backup, say).
    lost, lost_state, _ = await _following(world)
    async with world.store.engine.begin() as connection:
        await connection.execute(
            sa.delete(LedgerEvent).where(
                sa.column("subject_id") == lost,
                sa.column("event_type") == EventType.ORDER_ACCEPTED,
            )
        )

    # Finance invoiced and took part of the payment; the feed is down.
    billed, billed_state, _ = await _following(world)
    invoice_id = await world.erp.create_record(
        "invoice", {"createdFrom": {"id": billed_state.erp_order_id}}
    )
    await world.erp.create_record(
        "customerPayment", {"createdFrom": {"id": invoice_id}, "payment": Decimal("1000.00")}
    )

    # A monthly subscription is due for renewal at once (90 days' lead).
    renewing, renewing_state, _ = await _following(world, ["SL-PLATFORM-MONTHLY"])
    (subscription,) = await world.erp.suiteql(
        f"SELECT id FROM subscription WHERE salesorder = {renewing_state.erp_order_id}"
    )
    subscription_id = str(subscription["id"])

    first = await _reconcile(world, "reconcile_found_and_repaired", requested_by="otto")
    assert first.requested_by == "otto"
    classes = await _classes(world, first)
    orders = {key: drift for (domain, key), drift in classes.items() if domain == "orders"}
    assert orders == {
        missing: DriftClass.MISSING_ORDER,
        amended: DriftClass.AMOUNT_MISMATCH,
        lost: DriftClass.MISSING_LEDGER_EVENT,
    }
    assert classes[("invoices", invoice_id)] == DriftClass.MISSING_LEDGER_EVENT
    assert classes[("payments", invoice_id)] == DriftClass.MISSING_LEDGER_EVENT
    assert classes[("subscriptions", subscription_id)] == DriftClass.MISSING_LEDGER_EVENT
    customers = [key for (domain, key), _ in classes.items() if domain == "customers"]
    # Every ERP customer: none has its customer.upserted yet.
    assert sorted(customers) == sorted(
        str(row["id"]) for row in await world.erp.suiteql("SELECT id FROM customer")
    )
    assert all(classes[("customers", c)] == DriftClass.MISSING_LEDGER_EVENT for c in customers)
    assert healthy not in orders
    assert first.unexplained == 0
    assert sum(d.repaired for d in first.domains) == len(classes)
    bookings = {(str(m.metric), m.currency): m for m in first.metrics}
    assert bookings[("bookings", "USD")].variance == Decimal("2501.00")  # the lost booking

    # The remedies went through the workflows: the missing deal placed its order, the
    # amended one amended it, the deal took its invoice, the renewal opened.
    await _eventually(lambda: _has(world, missing, EventType.ORDER_ACCEPTED), "the order")
    await _eventually(lambda: _has(world, amended, EventType.ORDER_AMENDED), "the amended order")
    await _eventually(lambda: _has(world, lost, EventType.ORDER_ACCEPTED), "the booking")
    # The booking this run restored itself names the operator who started the run.
    [restored] = [e for e in await world.store.events_for(lost) if e.event_type == "order.accepted"]
    assert restored.caused_by == "otto"
    await _eventually(lambda: _has(world, billed, EventType.PAYMENT_APPLIED), "the payment")
    await _eventually(lambda: _has(world, renewing, EventType.RENEWAL_OPENED), "the renewal")
    await _eventually(lambda: _customers_recorded(world, len(customers)), "every customer")
    deal = world.client.get_workflow_handle(f"close-won:salesforce:{amended}")
    state = await deal.query(CloseWonToOrder.state)
    assert state.billing is not None and state.billing.order_total == Decimal("1250.50") * 5
    assert amended_state.erp_order_id == state.erp_order_id
    assert lost_state.erp_order_id

    second = await _reconcile(world)
    assert await _classes(world, second) == {}
    assert second.unexplained == 0
    assert all(m.variance == 0 for m in second.metrics)


async def _has(world: World, subject: str, event_type: str) -> bool:
    return await _events(world, subject, event_type) >= 1


async def _customers_recorded(world: World, at_least: int) -> bool:
    return await world.store.count_events(EventType.CUSTOMER_UPSERTED) >= at_least


async def test_drift_a_person_must_decide_becomes_one_exception_with_the_evidence(
    own_world: World,
) -> None:
    world = own_world
    # An ERP order for an opportunity that was never won.
    never_won = await open_deal(world.crm, world.entries, name="Never won")
    orphan = await erp_order_outside_syncline(world.erp, never_won, date.today())
    # The deal's ERP order cancelled by finance, the ledger told; sales still says won.
    cancelled, cancelled_state, handle = await _following(world)
    await world.erp.cancel_sales_order(cancelled_state.erp_order_id or "")

    first = await _reconcile(world, "reconcile_left_to_a_person", domains=[Domain.ORDERS])
    classes = await _classes(world, first)
    assert classes == {
        (str(Domain.ORDERS), never_won): DriftClass.ORPHAN_ERP_ORDER,
        (str(Domain.ORDERS), cancelled): DriftClass.STATUS_DRIFT,
    }
    # The orphan has no deal to replay: an exception with what each system says.
    (orphan_exception,) = await world.store.list_exceptions(subject_id=never_won)
    assert orphan_exception.reason == DriftClass.ORPHAN_ERP_ORDER
    assert orphan_exception.details["erp_id"] == orphan.id
    assert orphan_exception.details["erp"] == "5000.00 USD"
    assert first.unexplained == 1
    # The cancellation was republished: the running deal follows and records it.
    result = await handle.result()
    assert result.state.status == DealStatus.CANCELLED
    assert await _has(world, cancelled, EventType.ORDER_CANCELLED)

    # Now the ledger agrees with the ERP, and only sales can say the deal is lost.
    second = await _reconcile(world, domains=[Domain.ORDERS])
    assert await _classes(world, second) == {
        (str(Domain.ORDERS), never_won): DriftClass.ORPHAN_ERP_ORDER,
        (str(Domain.ORDERS), cancelled): DriftClass.STATUS_DRIFT,
    }
    states = {
        row.key: row.state
        async for row in ReconciliationRecords(world.store).all_findings(second.id)
    }
    assert set(states.values()) == {FindingState.EXCEPTION}
    # The same difference found again is the same exception, not a second one.
    assert len(await world.store.list_exceptions(subject_id=never_won)) == 1
    # A run that only reports still sees it: the exception stays open.
    await _reconcile(world, domains=[Domain.ORDERS], repair=False)
    (still_open,) = await world.store.list_exceptions(subject_id=never_won)
    assert still_open.status == ExceptionStatus.OPEN

    # Finance cancels the orphan and sales marks the deal lost: the next run resolves both.
    await world.erp.cancel_sales_order(orphan.id)
    await world.crm.update("Opportunity", cancelled, {"StageName": "Closed Lost"})
    third = await _reconcile(world, domains=[Domain.ORDERS])
    assert await _classes(world, third) == {}
    assert third.unexplained == 0
    exceptions = await world.store.list_exceptions(id_prefix="recon:orders:")
    assert exceptions and all(e.status == ExceptionStatus.RESOLVED for e in exceptions)


async def test_a_targeted_run_compares_only_the_keys_it_names(
    own_world: World,
) -> None:
    world = own_world
    missing = await open_deal(world.crm, world.entries, name="Targeted")
    await world.crm.update("Opportunity", missing, {"StageName": "Closed Won"})
    other = await open_deal(world.crm, world.entries, name="Not asked about")
    await world.crm.update("Opportunity", other, {"StageName": "Closed Won"})

    report = await _reconcile(world, domains=[Domain.ORDERS], keys=[missing], repair=False)
    assert await _classes(world, report) == {
        (str(Domain.ORDERS), missing): DriftClass.MISSING_ORDER
    }
    assert report.unexplained == 1  # not repaired: it waits for a person
    assert await world.erp_orders_for(missing) == []


async def test_customer_drift_and_a_foreign_currency_order(own_world: World) -> None:
    world = own_world
    opportunity_id, state, _ = await _following(world)
    customer_id = state.erp_customer_id or ""
    account_id = (await world.crm.get("Opportunity", opportunity_id))["AccountId"]
    # A first run mirrors every customer onto its account (none was, the feed is down).
    await _reconcile(world, domains=[Domain.CUSTOMERS])

    async def mirrored() -> bool:
        account = await world.crm.get("Account", account_id)
        return bool(account.get("Syncline_Legal_Name__c"))

    await _eventually(mirrored, "the legal name on the account")

    # A rep overwrites the legal name (change data capture is off here).
    await world.crm.update("Account", account_id, {"Syncline_Legal_Name__c": "Not The ERP Inc"})
    # Finance enters one company twice in the ERP.
    for external_id in ("001-first", "001-second"):
        await world.erp.upsert_customer(
            CustomerUpsert(
                external_id=external_id,
                company_name="Twice Ltd",
                billing_address=Address(country="US"),
                tax_id="US-999",
                currency="USD",
            )
        )
    (second,) = await world.erp.suiteql("SELECT id FROM customer WHERE externalid = '001-second'")
    # A USD deal booked in EUR by hand.
    euro_deal = await open_deal(world.crm, world.entries, name="Sold in dollars")
    await world.crm.update("Opportunity", euro_deal, {"StageName": "Closed Won"})
    await erp_order_outside_syncline(world.erp, euro_deal, date.today(), currency="EUR")

    found = await _reconcile(world, domains=[Domain.CUSTOMERS, Domain.ORDERS])
    classes = await _classes(world, found)
    assert classes[("customers", customer_id)] == DriftClass.OWNERSHIP_CONFLICT
    assert classes[("customers", str(second["id"]))] == DriftClass.DUPLICATE_CUSTOMER
    assert classes[("orders", euro_deal)] == DriftClass.CURRENCY_MISMATCH
    assert found.unexplained == 2  # the duplicate and the currency: a person decides

    # The conflict went to the customer's mirror, which parked it the way it parks a
    # conflict change data capture reports.
    mirror_subject = f"netsuite:customer:{customer_id}"

    async def parked() -> bool:
        return any(
            e.reason == "ownership_conflict" and e.status == ExceptionStatus.OPEN
            for e in await world.store.list_exceptions(subject_id=mirror_subject)
        )

    await _eventually(parked, "the mirror's ownership conflict")
    again = await _reconcile(world, domains=[Domain.CUSTOMERS])
    rows = {row.key: row async for row in ReconciliationRecords(world.store).all_findings(again.id)}
    assert rows[customer_id].state == FindingState.EXCEPTION
    assert "parked: ownership_conflict" in rows[customer_id].summary

    # The operator's retry writes the ERP's name back; the next run finds no conflict.
    (conflict,) = await world.store.list_exceptions(subject_id=mirror_subject)
    mirror = world.client.get_workflow_handle(conflict.workflow_id)
    await RETRY.send(mirror, RetryRequest(exception_id=conflict.id))

    async def restored() -> bool:
        account = await world.crm.get("Account", account_id)
        return account.get("Syncline_Legal_Name__c") != "Not The ERP Inc"

    await _eventually(restored, "the ERP's legal name back on the account")
    last = await _reconcile(world, domains=[Domain.CUSTOMERS])
    assert ("customers", customer_id) not in await _classes(world, last)
