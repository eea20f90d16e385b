"""Tryton's customer shipments as fulfilments, against the session's real trytond: a
warehouse short of stock ships part of a sale, Tryton plans a back-order for the rest,
and the second shipment completes the sale; only shipments done are read."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import cast

from temporalio.client import Client

from activities.change_publisher import ChangePublisher
from connectors.tryton import TrytonClient
from models.billing import ChangeCursor
from models.changes import ChangeKind, FulfilmentChange
from models.events import EventType, SourceSystem
from sandbox.tryton.accountant import TrytonAccountant
from sandbox.tryton.warehouse import TrytonWarehouse
from store import Store

from . import helpers


async def _fulfilments(
    erp: TrytonClient, start: ChangeCursor, order_id: str
) -> list[FulfilmentChange]:
    return [
        change
        for change in await helpers.all_changes(erp, ChangeKind.FULFILMENT, start, limit=1)
        if isinstance(change, FulfilmentChange) and change.erp_order_id == order_id
    ]


async def test_a_short_warehouse_ships_part_then_the_back_order_completes_the_sale(
    erp: TrytonClient, accountant: TrytonAccountant, ledger: Store
) -> None:
    start = ChangeCursor(modified_at=datetime.now(UTC) - timedelta(seconds=5))
    warehouse = TrytonWarehouse(accountant)
    sku = f"SL-KEY-{uuid.uuid4().hex[:8]}"
    product = await accountant.create_product(sku, "Hardware key", Decimal("40"), goods=True)
    customer = await erp.upsert_customer(helpers.account())
    # Two keys and a service: the service never ships and does not hold the sale open.
    draft = await helpers.draft(erp, customer.id, [sku, "SL-PLATFORM-ANNUAL"])
    order = await erp.create_sales_order(draft)
    [first] = await warehouse.waiting_shipments(int(order.id))
    assert await _fulfilments(erp, start, order.id) == []  # waiting: nothing has left

    await warehouse.count_in(product, Decimal(1))
    assert not await warehouse.ship(first)  # one of two on the shelf: partial
    [back_order] = await warehouse.waiting_shipments(int(order.id))
    assert back_order != first
    [partial] = await _fulfilments(erp, start, order.id)

    await warehouse.count_in(product, Decimal(5))
    assert await warehouse.ship(back_order)
    fulfilments = await _fulfilments(erp, start, order.id)
    assert [(f.id, f.complete) for f in fulfilments] == [
        (str(first), False),
        (str(back_order), True),
    ]
    assert fulfilments[0] == partial  # re-read after the sale moved on: the same news
    for fulfilment in fulfilments:
        assert fulfilment.crm_opportunity_id == draft.external_id
        assert fulfilment.order_number is not None
        assert fulfilment.fulfilment_date == date.today()
        assert [(line.sku, line.quantity) for line in fulfilment.lines] == [(sku, Decimal(1))]
    assert fulfilments[0].order_status == "Partially Fulfilled"
    assert fulfilments[1].order_status == "Fulfilled"

    # Into a ledger as the feed records them: one order.fulfilled per shipment.
    publisher = ChangePublisher(cast(Client, None), ledger)
    unsignalled = [f.model_copy(update={"crm_opportunity_id": None}) for f in fulfilments]
    await publisher.publish(unsignalled + unsignalled, SourceSystem.TRYTON, "tryton-ship")
    events = await ledger.events_from_sources(
        SourceSystem.TRYTON, [f.id for f in fulfilments], [EventType.ORDER_FULFILLED.value]
    )
    assert sorted((e.payload["fulfilment_id"], e.payload["complete"]) for e in events) == [
        (str(first), False),
        (str(back_order), True),
    ]
    assert {e.payload["erp_order_id"] for e in events} == {order.id}
    assert all(e.payload["lines"] == [{"sku": sku, "quantity": "1"}] for e in events)


async def test_a_sale_of_services_only_has_nothing_to_ship(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    warehouse = TrytonWarehouse(accountant)
    customer = await erp.upsert_customer(helpers.account())
    order = await erp.create_sales_order(
        await helpers.draft(erp, customer.id, ["SL-PLATFORM-ANNUAL"])
    )
    assert await warehouse.waiting_shipments(int(order.id)) == []
