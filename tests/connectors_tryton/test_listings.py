"""Sales by reference against a real trytond: keyset pages in ordinal order, the order
feed's choice of sales, and the sales of one reference never split across pages.

The session's database holds every other test's sales too, so each test works under its
own reference prefix and reads only from there on (``after`` = the prefix)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal

import pytest

from connectors.errors import RejectedError
from connectors.tryton import TrytonClient
from models.changes import OrderChange, OrderStatus
from models.erp import SalesOrder
from models.types import Money
from sandbox.tryton.accountant import TrytonAccountant
from tests.connectors_tryton import helpers


@pytest.fixture
def prefix() -> str:
    # Lower case first: sorts after the "006…" references the other tests place.
    return f"zz{uuid.uuid4().hex[:10]}-"


@pytest.fixture
async def stuck_sku(accountant: TrytonAccountant) -> AsyncIterator[str]:
    """A product Tryton cannot invoice: a sale of it stays "confirmed" (cancellable)."""
    sku = f"SL-STUCK-{uuid.uuid4().hex[:8]}"
    await accountant.create_product(sku, "No revenue account", Decimal("10.00"), billable=False)
    yield sku
    await accountant.set_product_active(sku, False)


async def _place(
    erp: TrytonClient, reference: str, skus: list[str], sale_date: date | None = None
) -> SalesOrder:
    customer = await erp.upsert_customer(helpers.account())
    draft = await helpers.draft(erp, customer.id, skus)
    update = {"external_id": reference, "tran_date": sale_date or draft.tran_date}
    return await erp.create_sales_order(draft.model_copy(update=update))


async def _listed(
    erp: TrytonClient, prefix: str, limit: int, since: date | None = None
) -> list[list[OrderChange]]:
    """The pages from ``prefix`` on, up to the first sale of another test."""
    pages: list[list[OrderChange]] = []
    after = prefix
    for _ in range(20):  # a client stuck on one page fails, not hangs
        found = await erp.orders_by_reference(after, limit, since)
        keys = [o.crm_opportunity_id or "" for o in found]
        assert keys == sorted(keys) and all(k > after for k in keys)
        ours = [o for o in found if (o.crm_opportunity_id or "").startswith(prefix)]
        if ours:
            pages.append(ours)
        if len(found) < limit or len(ours) < len(found):
            return pages
        after = keys[-1]
    raise AssertionError("no end after 20 pages")


def _keys(pages: list[list[OrderChange]], prefix: str) -> list[str]:
    return [(o.crm_opportunity_id or "").removeprefix(prefix) for page in pages for o in page]


async def test_confirmed_sales_page_in_ordinal_reference_order(
    erp: TrytonClient, prefix: str
) -> None:
    suffixes = ["a", "Z", "b", "A", "9"]
    placed = {s: await _place(erp, prefix + s, ["SL-SEAT-PRO"]) for s in suffixes}
    ordinal = sorted(suffixes)
    assert ordinal == ["9", "A", "Z", "a", "b"] != sorted(suffixes, key=str.casefold)

    for limit in (1, 2, 3, 50):
        assert _keys(await _listed(erp, prefix, limit), prefix) == ordinal
    first = (await _listed(erp, prefix, 50))[0][0]
    order = placed["9"]
    assert (first.id, first.order_number, first.customer_id) == (
        order.id,
        order.order_number,
        order.customer_id,
    )
    assert first.status is OrderStatus.OPEN and first.lines == []
    assert first.total == Money(amount=Decimal("199.00"), currency="USD")

    after = await erp.orders_by_reference(prefix + "A", 2)
    assert [o.crm_opportunity_id for o in after] == [prefix + "Z", prefix + "a"]


async def test_which_sales_are_listed(
    erp: TrytonClient, accountant: TrytonAccountant, prefix: str, stuck_sku: str
) -> None:
    live = await _place(erp, prefix + "live", ["SL-SEAT-PRO"])
    # Confirmed, then cancelled: an order the ERP had, listed as cancelled.
    withdrawn = await _place(erp, prefix + "cancelled", [stuck_sku])
    await erp.cancel_sales_order(withdrawn.id)
    # Cancelled before it was ever confirmed (no invoice address): never an order.
    customer = await erp.upsert_customer(helpers.account(address=False))
    draft = await helpers.draft(erp, customer.id, ["SL-SEAT-PRO"])
    draft = draft.model_copy(update={"external_id": prefix + "draft"})
    with pytest.raises(RejectedError):
        await erp.create_sales_order(draft)
    [stillborn] = await accountant.sales_by_reference(draft.external_id)
    await erp.cancel_sales_order(str(stillborn["id"]))
    # A draft (still waiting for its address) is the seller's proposal, not an order.
    with pytest.raises(RejectedError):
        await erp.create_sales_order(draft.model_copy(update={"external_id": prefix + "open"}))

    pages = await _listed(erp, prefix, 50)
    found = {(o.crm_opportunity_id or "").removeprefix(prefix): o for o in pages[0]}
    assert sorted(found) == ["cancelled", "live"]
    assert (found["cancelled"].status, found["cancelled"].erp_status) == (
        OrderStatus.CANCELLED,
        "cancelled",
    )
    assert (found["cancelled"].id, found["live"].id) == (withdrawn.id, live.id)
    assert found["live"].status is OrderStatus.OPEN


async def test_a_sale_without_reference_is_not_listed(erp: TrytonClient) -> None:
    customer = await erp.upsert_customer(helpers.account())
    draft = await helpers.draft(erp, customer.id, ["SL-SEAT-PRO"])
    values = await erp._orders.sale_values(draft)
    del values["reference"]
    sale = await erp.rest.create("sale.sale", values)
    for button in ("quote", "confirm"):
        await erp.rest.button("sale.sale", sale["id"], button)
    listed = await erp.orders_by_reference(None, 100_000)
    assert str(sale["id"]) not in {o.id for o in listed}
    assert all(o.crm_opportunity_id for o in listed)


async def test_the_sales_of_one_reference_share_a_page(
    erp: TrytonClient, prefix: str, stuck_sku: str
) -> None:
    first = await _place(erp, prefix + "A", ["SL-SEAT-PRO"])
    # Cancelled after confirmation, then won again: two sales, one reference.
    cancelled = await _place(erp, prefix + "B", [stuck_sku])
    await erp.cancel_sales_order(cancelled.id)
    replacement = await _place(erp, prefix + "B", ["SL-SEAT-PRO"])
    assert replacement.id != cancelled.id
    last = await _place(erp, prefix + "C", ["SL-SEAT-PRO"])

    # A page of two ends inside "B": it takes B's second sale along.
    pages = await _listed(erp, prefix, 2)
    assert [[o.id for o in page] for page in pages] == [
        [first.id, cancelled.id, replacement.id],
        [last.id],
    ]
    assert [o.status for o in pages[0][1:]] == [OrderStatus.CANCELLED, OrderStatus.OPEN]
    # A page of one that is all "B".
    after_a = await erp.orders_by_reference(prefix + "A", 1)
    assert [o.id for o in after_a] == [cancelled.id, replacement.id]


async def test_since_keeps_sales_dated_on_or_after_it(erp: TrytonClient, prefix: str) -> None:
    today = date.today()
    await _place(erp, prefix + "old", ["SL-SEAT-PRO"], today - timedelta(days=3))
    await _place(erp, prefix + "new", ["SL-SEAT-PRO"], today)
    assert _keys(await _listed(erp, prefix, 1), prefix) == ["new", "old"]
    recent = await _listed(erp, prefix, 1, since=today)
    assert _keys(recent, prefix) == ["new"]
    assert all(o.tran_date == today for page in recent for o in page)
