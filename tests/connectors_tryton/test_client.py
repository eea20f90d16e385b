"""TrytonClient against a real trytond: find-or-create, rejections, and invoice changes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from connectors.errors import AuthError, RejectedError, TransientError
from connectors.tryton import TrytonClient
from models.billing import ChangeCursor, InvoiceStatus
from models.changes import ChangeKind, InvoiceChange
from models.erp import SalesOrder, SalesOrderDraft
from models.types import Money
from sandbox.catalog import DEFAULT_CATALOG
from sandbox.tryton.accountant import TrytonAccountant
from sandbox.tryton.server import RunningTryton
from tests.connectors_tryton import helpers


async def _as_the_engine_retries(erp: TrytonClient, draft: SalesOrderDraft) -> SalesOrder:
    """A losing racer is told to try again (a transient error); the activity would be."""
    for _ in range(10):
        try:
            return await erp.create_sales_order(draft)
        except TransientError:
            await asyncio.sleep(0.2)
    raise AssertionError("never converged")


async def test_the_catalog_is_found_by_sku(erp: TrytonClient) -> None:
    skus = [item.sku for item in DEFAULT_CATALOG]
    found = await erp.find_items([*skus, "NO-SUCH-SKU"])
    assert set(found) == set(skus)
    for item in DEFAULT_CATALOG:
        assert found[item.sku].price == Money(amount=item.price, currency="USD")


async def test_customers_are_found_or_created_once_even_when_attempts_race(
    erp: TrytonClient,
) -> None:
    account = helpers.account()
    results = await asyncio.gather(*(erp.upsert_customer(account) for _ in range(3)))
    assert {c.id for c in results} == {results[0].id}
    again = await erp.upsert_customer(account.model_copy(update={"company_name": "Renamed"}))
    assert again.id == results[0].id
    assert again.company_name == "Globex Ünïcode GmbH"  # the ERP owns it now
    assert again.billing_address.city == "Springfield"


async def test_a_sale_is_created_quoted_and_confirmed_once_even_when_attempts_race(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    customer = await erp.upsert_customer(helpers.account())
    draft = await helpers.draft(erp, customer.id, ["SL-PLATFORM-ANNUAL", "SL-SEAT-PRO"])
    orders = await asyncio.gather(*(_as_the_engine_retries(erp, draft) for _ in range(3)))
    assert len({o.id for o in orders}) == 1
    live = [
        s
        for s in await accountant.sales_by_reference(draft.external_id)
        if s["state"] != "cancelled"
    ]
    assert [s["id"] for s in live] == [int(orders[0].id)]
    order = await erp.create_sales_order(draft)
    assert order.id == orders[0].id
    assert order.status in ("processing", "confirmed")
    assert order.total == Money(amount=Decimal("398.00"), currency="USD")
    assert {line.sku for line in order.lines} == {"SL-PLATFORM-ANNUAL", "SL-SEAT-PRO"}
    assert await erp.find_sales_order(draft.external_id) is not None


async def test_a_confirmed_sale_finance_entered_for_the_same_reference_is_left_alone(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    # The lifecycle explorer on Tryton (seed 20261311, sequence 5): finance copied the
    # deal's sale and confirmed the copy under the same reference; the deal's later run
    # then took the copy for a duplicate of its own attempts and tried to cancel it.
    # Tryton refuses to cancel a confirmed or processing sale, the refusal read as a
    # race, and the run retried it for ever. Only what a racing attempt of ours leaves
    # behind (a draft or quotation) is cancelled; the rest is finance's.
    customer = await erp.upsert_customer(helpers.account())
    draft = await helpers.draft(erp, customer.id, ["SL-SEAT-PRO"])
    placed = await erp.create_sales_order(draft)
    [copy] = await accountant.call(
        "model.sale.sale.copy", [int(placed.id)], {"reference": draft.external_id}
    )
    await accountant.call("model.sale.sale.quote", [copy])
    await accountant.call("model.sale.sale.confirm", [copy])

    again = await erp.create_sales_order(draft)
    assert again.id == placed.id
    states = {s["id"]: s["state"] for s in await accountant.sales_by_reference(draft.external_id)}
    assert states[copy] in ("confirmed", "processing")


async def test_a_product_that_cannot_be_sold_is_refused_with_trytons_message(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    customer = await erp.upsert_customer(helpers.account())
    draft = await helpers.draft(erp, customer.id, ["SL-ONBOARDING"])
    await accountant.set_product_salable("SL-ONBOARDING", False)
    try:
        with pytest.raises(RejectedError) as refused:
            await erp.create_sales_order(draft)
    finally:
        await accountant.set_product_salable("SL-ONBOARDING", True)
    assert "Product" in refused.value.message and refused.value.status_code == 400


async def test_a_party_without_an_address_is_refused_and_a_retry_after_the_fix_succeeds(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    account = helpers.account(address=False)
    customer = await erp.upsert_customer(account)
    draft = await helpers.draft(erp, customer.id, ["SL-SEAT-PRO"])
    with pytest.raises(RejectedError) as refused:
        await erp.create_sales_order(draft)
    assert "invoice address" in refused.value.message
    # An accountant adds the address; the draft sale is still there, now it quotes.
    party = await accountant.party_by_code(account.external_id)
    assert party is not None
    await accountant.call(
        "model.party.address.create",
        [{"party": party["id"], "street": "2 Side St", "city": "Shelbyville"}],
    )
    sale = await accountant.sales_by_reference(draft.external_id)
    await accountant.call(
        "model.sale.sale.write",
        [sale[0]["id"]],
        {
            "invoice_address": (await accountant.party_by_code(account.external_id) or {})[
                "addresses"
            ][0]
        },
    )
    order = await erp.create_sales_order(draft)
    assert order.status in ("processing", "confirmed")


async def test_a_wrong_application_key_is_an_auth_error(tryton: RunningTryton) -> None:
    async with TrytonClient(tryton.base_url, tryton.setup.database, "not-the-key") as erp:
        with pytest.raises(AuthError) as refused:
            await erp.find_items(["SL-SEAT-PRO"])
    assert "not-the-key" not in str(refused.value)


async def test_posted_and_paid_invoices_arrive_as_changes_in_keyset_order(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    start = ChangeCursor(modified_at=datetime.now(UTC) - timedelta(seconds=5))
    customer = await erp.upsert_customer(helpers.account())
    draft = await helpers.draft(erp, customer.id, ["SL-PLATFORM-ANNUAL"])
    order = await erp.create_sales_order(draft)
    [invoice] = await accountant.invoices_for_sale(int(order.id))
    await accountant.post_invoice(invoice["id"])
    await accountant.pay_invoice(invoice["id"], Decimal("50"))

    async def changes_for_this_order() -> list[InvoiceChange]:
        return [
            change
            for change in await helpers.all_changes(erp, ChangeKind.INVOICE, start, limit=1)
            if isinstance(change, InvoiceChange) and change.erp_order_id == order.id
        ]

    [partly] = await changes_for_this_order()
    assert partly.crm_opportunity_id == draft.external_id
    assert partly.status is InvoiceStatus.OPEN
    assert partly.total == order.total
    assert partly.amount_due.amount == order.total.amount - 50

    await accountant.pay_invoice(invoice["id"], order.total.amount - 50)
    [paid] = await changes_for_this_order()
    assert paid.status is InvoiceStatus.PAID and paid.amount_due.amount == 0
    assert paid.supersedes(partly)
