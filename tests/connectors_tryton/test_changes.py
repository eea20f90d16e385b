"""The change feed, cancel and amend against a real trytond.

In this sandbox no queue worker runs, so Tryton processes a sale right after its
confirmation: a freshly confirmed sale is already "processing" (its invoice drafted).
A sale stays "confirmed" only when processing fails; the ``stuck_sku`` fixture sells a
product Tryton cannot invoice to get one, as a worker's ``sale_process_after`` would.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from connectors.errors import RejectedError
from connectors.tryton import TrytonClient
from models.billing import ChangeCursor, InvoiceStatus
from models.changes import (
    ChangeKind,
    CustomerChange,
    ErpChange,
    InvoiceChange,
    ItemChange,
    OrderChange,
    OrderStatus,
)
from models.erp import SalesOrder
from models.types import Money
from sandbox.tryton.accountant import TrytonAccountant
from tests.connectors_tryton import helpers


def _start() -> ChangeCursor:
    # Tryton stamps with its transaction's start: a little slack before "now".
    return ChangeCursor(modified_at=datetime.now(UTC) - timedelta(seconds=5))


async def _change_of(
    erp: TrytonClient, kind: ChangeKind, record_id: str, after: ChangeCursor, limit: int = 2
) -> ErpChange | None:
    """The record's change after ``after``: a record shows once, as it is now."""
    found = [c for c in await helpers.all_changes(erp, kind, after, limit) if c.id == record_id]
    assert len(found) <= 1
    return found[0] if found else None


async def _order_change(erp: TrytonClient, order_id: str, after: ChangeCursor) -> OrderChange:
    change = await _change_of(erp, ChangeKind.ORDER, order_id, after)
    assert isinstance(change, OrderChange)
    return change


async def _sale_state(accountant: TrytonAccountant, order: SalesOrder) -> str:
    [sale] = [s for s in await accountant.sales_by_reference(order.external_id or "")]
    return str(sale["state"])


@pytest.fixture
async def stuck_sku(accountant: TrytonAccountant) -> AsyncIterator[str]:
    """A product Tryton cannot invoice: a sale of it stays "confirmed"."""
    sku = f"SL-STUCK-{uuid.uuid4().hex[:8]}"
    await accountant.create_product(sku, "No revenue account", Decimal("10.00"), billable=False)
    yield sku
    await accountant.set_product_active(sku, False)


async def _placed(erp: TrytonClient, skus: list[str]) -> SalesOrder:
    customer = await erp.upsert_customer(helpers.account())
    return await erp.create_sales_order(await helpers.draft(erp, customer.id, skus))


# --- what confirming does here --------------------------------------------------------


async def test_a_freshly_confirmed_sale_is_already_processing_in_this_setup(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    order = await _placed(erp, ["SL-SEAT-PRO"])
    assert order.status == "confirmed"  # the button's answer, read before processing ran
    assert await _sale_state(accountant, order) == "processing"
    [invoice] = await accountant.invoices_for_sale(int(order.id))
    assert invoice["state"] == "draft"


async def test_every_kind_but_subscriptions_and_credit_memos_is_reported(
    erp: TrytonClient,
) -> None:
    """Credit notes are invoices in Tryton: they come with the invoice kind."""
    assert erp.change_kinds == frozenset(
        {
            ChangeKind.ORDER,
            ChangeKind.FULFILMENT,
            ChangeKind.INVOICE,
            ChangeKind.CUSTOMER,
            ChangeKind.ITEM,
            ChangeKind.PAYMENT,
        }
    )
    for kind in (ChangeKind.SUBSCRIPTION, ChangeKind.CREDIT_MEMO):
        with pytest.raises(RejectedError):
            await erp.changes(kind, _start(), 10)


# --- orders and invoices ------------------------------------------------------------------


async def test_an_order_arrives_open_then_billed_then_closed(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    start = _start()
    order = await _placed(erp, ["SL-PLATFORM-ANNUAL", "SL-SEAT-PRO"])
    opened = await _order_change(erp, order.id, start)
    assert opened.status is OrderStatus.OPEN and opened.erp_status == "processing"
    assert opened.crm_opportunity_id == order.external_id
    assert opened.customer_id == order.customer_id
    assert opened.total == Money(amount=Decimal("398.00"), currency="USD")
    assert {line.sku for line in opened.lines} == {"SL-PLATFORM-ANNUAL", "SL-SEAT-PRO"}

    [invoice] = await accountant.invoices_for_sale(int(order.id))
    await accountant.post_invoice(invoice["id"])
    billed = await _order_change(erp, order.id, opened.position)
    assert billed.status is OrderStatus.BILLED and billed.erp_status == "processing"
    assert billed.modified_at >= opened.modified_at

    invoices = [
        c
        for c in await helpers.all_changes(erp, ChangeKind.INVOICE, start, limit=1)
        if isinstance(c, InvoiceChange) and c.erp_order_id == order.id
    ]
    assert [(i.kind, i.status, i.crm_opportunity_id) for i in invoices] == [
        ("invoice", InvoiceStatus.OPEN, order.external_id)
    ]

    await accountant.pay_invoice(invoice["id"], Decimal("398.00"))
    closed = await _order_change(erp, order.id, billed.position)
    assert closed.status is OrderStatus.CLOSED and closed.erp_status == "done"


async def test_a_sale_cancelled_before_it_was_confirmed_is_no_order_change(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    start = _start()
    customer = await erp.upsert_customer(helpers.account(address=False))
    draft = await helpers.draft(erp, customer.id, ["SL-SEAT-PRO"])
    with pytest.raises(RejectedError):
        await erp.create_sales_order(draft)  # no invoice address: it stays a draft
    [sale] = await accountant.sales_by_reference(draft.external_id)
    cancelled = await erp.cancel_sales_order(str(sale["id"]))
    assert cancelled.status == "cancelled"
    assert await _change_of(erp, ChangeKind.ORDER, str(sale["id"]), start) is None


# --- cancel ----------------------------------------------------------------------------------


async def test_a_confirmed_sale_is_cancelled_through_draft_and_reported_cancelled(
    erp: TrytonClient, accountant: TrytonAccountant, stuck_sku: str
) -> None:
    start = _start()
    order = await _placed(erp, [stuck_sku])
    assert await _sale_state(accountant, order) == "confirmed"
    assert (await _order_change(erp, order.id, start)).status is OrderStatus.OPEN

    cancelled = await erp.cancel_sales_order(order.id)
    assert cancelled.id == order.id and cancelled.status == "cancelled"
    change = await _order_change(erp, order.id, start)
    assert change.status is OrderStatus.CANCELLED and change.erp_status == "cancelled"
    assert change.crm_opportunity_id == order.external_id
    assert await erp.find_sales_order(order.external_id or "") is None
    again = await erp.cancel_sales_order(order.id)  # a no-op
    assert again.status == "cancelled"


async def test_cancel_is_refused_in_plain_words_once_the_sale_is_processing(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    order = await _placed(erp, ["SL-SEAT-PRO"])
    with pytest.raises(RejectedError) as refused:
        await erp.cancel_sales_order(order.id)
    message = refused.value.message
    assert f"Tryton sale {order.order_number} is processing (invoiced or shipped)" in message
    assert "credit note" in message

    [invoice] = await accountant.invoices_for_sale(int(order.id))
    await accountant.post_invoice(invoice["id"])
    with pytest.raises(RejectedError, match="is processing"):
        await erp.cancel_sales_order(order.id)
    assert await _sale_state(accountant, order) == "processing"


# --- amend ------------------------------------------------------------------------------------


async def test_a_confirmed_sale_is_amended_and_confirmed_again(
    erp: TrytonClient, accountant: TrytonAccountant, stuck_sku: str
) -> None:
    start = _start()
    order = await _placed(erp, [stuck_sku])
    items = await erp.find_items(["SL-SEAT-PRO", "SL-ONBOARDING"])
    new_lines = helpers.lines({sku: item.id for sku, item in items.items()}, 3, "100.00")

    amended = await erp.amend_sales_order(order.id, new_lines)
    assert amended.id == order.id
    assert {(line.sku, line.quantity) for line in amended.lines} == {
        ("SL-SEAT-PRO", Decimal(3)),
        ("SL-ONBOARDING", Decimal(3)),
    }
    assert amended.total == Money(amount=Decimal("600.00"), currency="USD")
    # The stuck product is gone, so Tryton could process the sale this time.
    assert await _sale_state(accountant, order) == "processing"
    change = await _order_change(erp, order.id, start)
    assert change.status is OrderStatus.OPEN and change.total == amended.total
    assert {line.sku for line in change.lines} == {"SL-SEAT-PRO", "SL-ONBOARDING"}

    # The retry of an amendment whose answer was lost: the sale already says so.
    again = await erp.amend_sales_order(order.id, new_lines)
    assert again.status == "processing" and again.lines == change.lines


async def test_amend_is_refused_in_plain_words_once_the_sale_is_processing(
    erp: TrytonClient,
) -> None:
    order = await _placed(erp, ["SL-SEAT-PRO"])
    more = [line.model_copy(update={"quantity": Decimal(5)}) for line in order.lines]
    with pytest.raises(RejectedError) as refused:
        await erp.amend_sales_order(order.id, more)
    message = refused.value.message
    assert f"Tryton sale {order.order_number} is processing (invoiced or shipped)" in message
    assert "can no longer amend it" in message
    current = await erp.find_sales_order(order.external_id or "")
    assert current is not None and current.lines == order.lines


# --- customers ---------------------------------------------------------------------------------


async def test_customers_sharing_a_timestamp_cross_a_page_boundary_in_id_order(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    start = _start()
    codes = [f"001{uuid.uuid4().hex[:12]}" for _ in range(3)]
    ids = await accountant.create_parties([(code, f"Tie {code}") for code in codes])
    wanted = [str(i) for i in sorted(ids)]

    seen = await helpers.all_changes(erp, ChangeKind.CUSTOMER, start, limit=2)
    ours = [c for c in seen if isinstance(c, CustomerChange) and c.id in wanted]
    assert [c.id for c in ours] == wanted
    assert len({c.modified_at for c in ours}) == 1  # one import, one timestamp

    # A page boundary inside the group: its records are neither skipped nor repeated.
    just_before = ChangeCursor(modified_at=ours[0].modified_at, id=int(wanted[0]) - 1)
    first = await erp.changes(ChangeKind.CUSTOMER, just_before, 2)
    assert [c.id for c in first.changes] == wanted[:2] and first.has_more
    second = await erp.changes(ChangeKind.CUSTOMER, first.changes[-1].position, 2)
    assert second.changes[0].id == wanted[2]
    assert [c.external_id for c in ours] == [
        code for _, code in sorted(zip(ids, codes, strict=True))
    ]


async def test_a_customer_change_follows_the_accountants_correction_and_archiving(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    account = helpers.account()
    customer = await erp.upsert_customer(account)
    before = await _change_of(erp, ChangeKind.CUSTOMER, customer.id, _start())
    assert isinstance(before, CustomerChange)
    assert before.external_id == account.external_id and before.is_active
    assert before.legal_name == account.company_name
    assert before.billing_address.city == "Springfield" and before.tax_id is None

    await accountant.update_party(
        account.external_id,
        name="Globex Holdings AG",
        street="9 Harbour Road",
        city="Capital City",
        postal_code="99999",
        tax_id="BE0897290877",
    )
    after = await _change_of(erp, ChangeKind.CUSTOMER, customer.id, before.position)
    assert isinstance(after, CustomerChange)
    assert after.legal_name == "Globex Holdings AG"
    assert after.billing_address.street == "9 Harbour Road"
    assert after.billing_address.city == "Capital City"
    assert after.billing_address.postal_code == "99999"
    assert after.tax_id == "BE0897290877"
    assert after.modified_at > before.modified_at

    await accountant.set_party_active(account.external_id, False)
    archived = await _change_of(erp, ChangeKind.CUSTOMER, customer.id, after.position)
    assert isinstance(archived, CustomerChange) and not archived.is_active
    assert archived.billing_address == after.billing_address


# --- items -----------------------------------------------------------------------------------


async def test_an_item_change_follows_a_price_change_and_an_archiving(
    erp: TrytonClient, accountant: TrytonAccountant
) -> None:
    sku = f"SL-TEST-{uuid.uuid4().hex[:8]}"
    product_id = str(await accountant.create_product(sku, "Test item", Decimal("10.00")))
    try:
        created = await _change_of(erp, ChangeKind.ITEM, product_id, _start(), limit=3)
        assert isinstance(created, ItemChange)
        assert (created.sku, created.name, created.is_active) == (sku, "Test item", True)
        assert created.price == Money(amount=Decimal("10.00"), currency="USD")

        # The price lives on the template: only the template is stamped.
        await accountant.set_list_price(sku, Decimal("12.50"))
        repriced = await _change_of(erp, ChangeKind.ITEM, product_id, created.position)
        assert isinstance(repriced, ItemChange)
        assert repriced.price == Money(amount=Decimal("12.50"), currency="USD")
        assert repriced.modified_at > created.modified_at
    finally:
        await accountant.set_product_active(sku, False)
    retired = await _change_of(erp, ChangeKind.ITEM, product_id, repriced.position)
    assert isinstance(retired, ItemChange) and not retired.is_active
