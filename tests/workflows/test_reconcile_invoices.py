"""Reconciliation per invoice and per opportunity's billing mirror, on the NetSuite
sandbox: finance voids an invoice, credits another and takes one payment over two
invoices; once the feed has recorded it all, nothing is left unexplained. Then the
CRM's mirror and a ledger fact are corrupted: both are found, with their cents, and
repaired (the fact re-derived from the ERP's record, the mirror written back)."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from decimal import Decimal

import sqlalchemy as sa

from models.billing import ChangeCursor
from models.changes import ChangeKind, ErpChange
from models.deal import DealStatus
from models.events import EventType
from models.reconciliation import Domain, DriftClass, FindingState
from models.tables import LedgerEvent
from reconciliation.records import ReconciliationRecords
from sandbox.netsuite.invoice_void import FINANCE_PATH
from tests.deals import open_deal
from tests.sandbox_netsuite.helpers import get_token
from tests.workflows.conftest import World
from tests.workflows.test_approval import _feed as _approval_feed_of
from tests.workflows.test_approval import _finance, _pending
from tests.workflows.test_reconcile import _classes, _reconcile
from tests.workflows.test_reversals import _until
from workflows.deal.workflow import CloseWonToOrder

DOMAINS = [Domain.INVOICES, Domain.PAYMENTS, Domain.BILLING_MIRROR]
EPOCH = ChangeCursor(modified_at=datetime(2000, 1, 1, tzinfo=UTC))


async def _won(world: World, account_id: str | None = None) -> tuple[str, str]:
    """A deal whose order the ERP accepted: (opportunity, ERP order)."""
    opportunity = await open_deal(world.crm, world.entries, account_id=account_id)
    await world.crm.update("Opportunity", opportunity, {"StageName": "Closed Won"})
    handle = await world.start(opportunity)
    for _ in range(200):
        state = await handle.query(CloseWonToOrder.state)
        if state.billing is not None and state.erp_order_id:
            return opportunity, state.erp_order_id
        await asyncio.sleep(0.05)
    raise AssertionError("the deal never reached billing")


async def _feed(world: World) -> None:
    """What the change feed would read, published as it does (the ledger keeps each
    fact once, however often it is read)."""
    changes: list[ErpChange] = []
    for kind in (ChangeKind.INVOICE, ChangeKind.CREDIT_MEMO, ChangeKind.PAYMENT):
        changes += (await world.erp.changes(kind, EPOCH, 1000)).changes
    await world.publish(*changes)


async def _approval_feed(world: World) -> None:
    await _approval_feed_of(world, ChangeKind.ORDER)


async def _mirror(world: World, opportunity: str) -> tuple[Decimal, Decimal, Decimal]:
    fields = await world.crm.get("Opportunity", opportunity)
    return tuple(  # type: ignore[return-value]
        Decimal(str(fields[f] or 0))
        for f in ("Syncline_Invoiced_Amount__c", "Syncline_Paid_Amount__c", "Syncline_Balance__c")
    )


async def _until_mirrored(world: World, opportunity: str, want: tuple[Decimal, ...]) -> None:
    for _ in range(300):
        if await _mirror(world, opportunity) == want:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{opportunity} mirrors {await _mirror(world, opportunity)}, not {want}")


async def test_voids_credits_and_a_split_payment_reconcile_and_corruption_is_repaired(
    own_world: World,
) -> None:
    world = own_world
    first, first_order = await _won(world)
    account = (await world.crm.get("Opportunity", first))["AccountId"]
    second, second_order = await _won(world, account)
    (customer,) = await world.erp.suiteql(
        f"SELECT entity FROM transaction WHERE id = {first_order}"
    )
    item = (await world.erp.find_items(["SL-PLATFORM-ANNUAL"]))["SL-PLATFORM-ANNUAL"].id
    total = Decimal("2501.00")  # 2 at 1250.50, each order

    # Finance bills the first order, voids that invoice and bills it again.
    wrong = await world.erp.create_record("invoice", {"createdFrom": {"id": first_order}})
    world.erp_admin.headers["Authorization"] = f"Bearer {await get_token(world.erp_admin)}"
    voided = await world.erp_admin.post(f"{FINANCE_PATH}/invoice/{wrong}/void")
    assert voided.status_code == 204, voided.text
    rebilled = await world.erp.create_record("invoice", {"createdFrom": {"id": first_order}})
    other = await world.erp.create_record("invoice", {"createdFrom": {"id": second_order}})
    # A credit of 100 on the new invoice, and one payment over both live invoices.
    await world.erp.create_record(
        "creditMemo",
        {
            "createdFrom": {"id": rebilled},
            "item": {"items": [{"item": {"id": item}, "quantity": 1, "rate": Decimal("100")}]},
            "apply": {"items": [{"doc": {"id": rebilled}, "amount": Decimal("100")}]},
        },
    )
    await world.erp.create_record(
        "customerPayment",
        {
            "customer": {"id": str(customer["entity"])},
            "payment": Decimal("1500"),
            "tranDate": date.today().isoformat(),
            "apply": {
                "items": [
                    {"doc": {"id": rebilled}, "apply": True, "amount": Decimal("500")},
                    {"doc": {"id": other}, "apply": True, "amount": Decimal("1000")},
                ]
            },
        },
    )
    await _feed(world)
    first_mirror = (total - 100, Decimal(500), total - 100 - 500)
    second_mirror = (total, Decimal(1000), total - 1000)
    await _until_mirrored(world, first, first_mirror)
    await _until_mirrored(world, second, second_mirror)

    agreed = await _reconcile(world, domains=DOMAINS)
    assert await _classes(world, agreed) == {}
    assert agreed.unexplained == 0
    money = {(str(m.metric), m.currency): m for m in agreed.metrics}
    # Billings net of the void and the credit, collections the cash: ERP and ledger alike.
    assert (money["billings_net", "USD"].erp, money["billings_net", "USD"].ledger) == (
        total - 100 + total,
        total - 100 + total,
    )
    assert money["collections", "USD"].erp == money["collections", "USD"].ledger == 1500
    compared = {d.domain: d.compared for d in agreed.domains}
    assert compared[Domain.INVOICES] == 3 and compared[Domain.BILLING_MIRROR] == 2

    # A rep overwrites the paid amount; the ledger loses the credit's application.
    await world.crm.update("Opportunity", second, {"Syncline_Paid_Amount__c": 0})
    async with world.store.engine.begin() as connection:
        await connection.execute(
            sa.delete(LedgerEvent).where(
                sa.column("event_type") == EventType.CREDIT_MEMO_APPLIED,
                sa.column("source_id") == rebilled,
            )
        )

    found = await _reconcile(world, domains=DOMAINS)
    assert await _classes(world, found) == {
        (str(Domain.INVOICES), rebilled): DriftClass.MISSING_LEDGER_EVENT,
        (str(Domain.BILLING_MIRROR), second): DriftClass.STALE_MIRROR,
    }
    assert found.unexplained == 0
    rows = {
        row.domain: row async for row in ReconciliationRecords(world.store).all_findings(found.id)
    }
    credit = rows[Domain.INVOICES]
    assert (credit.evidence["measures"], credit.evidence["difference_cents"]) == (
        "credited",
        "10000",
    )
    mirror = rows[Domain.BILLING_MIRROR]
    assert mirror.evidence["fields"] == "paid_amount"
    assert mirror.evidence["paid_amount.difference_cents"] == "100000"
    assert {r.state for r in rows.values()} == {FindingState.REPAIR_REQUESTED}
    # Repaired: the fact re-derived by the feed's builder, the mirror written back.
    assert await world.store.count_events(EventType.CREDIT_MEMO_APPLIED, first) == 1
    assert await _mirror(world, second) == second_mirror

    again = await _reconcile(world, domains=DOMAINS)
    assert await _classes(world, again) == {}


async def test_each_orders_approval_state_against_its_deal(own_world: World) -> None:
    """Held while the deal waits and rejected while it is parked are consistent and no
    bookings; an order approved while the feed was down leaves its deal waiting: a
    finding, whose republished news moves the deal on and books the order."""
    world = own_world
    held, _, _ = await _pending(world)
    _, rejected_state, rejected_deal = await _pending(world)
    await _finance(
        world, f"/admin/finance/salesOrder/{rejected_state.erp_order_id}/reject", {"reason": "x"}
    )
    await _approval_feed(world)
    await _until(rejected_deal, lambda s: s.status == DealStatus.NEEDS_ATTENTION)
    approved, approved_state, approved_deal = await _pending(world)
    await _finance(world, f"/admin/finance/salesOrder/{approved_state.erp_order_id}/approve")

    found = await _reconcile(world, domains=[Domain.ORDERS])
    assert await _classes(world, found) == {(str(Domain.ORDERS), approved): DriftClass.STATUS_DRIFT}
    assert found.unexplained == 0
    (bookings,) = [m for m in found.metrics if m.metric == "bookings"]
    # Only the approved order is a booking; the ledger had not heard of it yet.
    assert (bookings.erp, bookings.ledger) == (Decimal("2501.00"), 0)
    await _until(approved_deal, lambda s: s.status == DealStatus.ORDER_ACCEPTED)
    assert await world.store.count_events(EventType.ORDER_ACCEPTED, approved) == 1
    assert await world.store.count_events(EventType.ORDER_ACCEPTED, held) == 0

    again = await _reconcile(world, domains=[Domain.ORDERS])
    assert await _classes(world, again) == {}
    assert again.unexplained == 0
    await approved_deal.terminate("the test is over")  # it would follow billing until asked to end
