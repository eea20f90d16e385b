"""What invoices, credit memos and payments add to the ledger (``activities.erp_facts``),
and reconciliation's publisher reading the records that settled an invoice, on both
store backends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import cast

from temporalio.client import Client

from activities.change_publisher import ChangePublisher
from activities.erp_facts import (
    booked_from_this_version,
    record_credit_memo,
    record_invoice,
    record_order,
    record_payment,
)
from models.billing import InvoiceSnapshot, InvoiceStatus
from models.changes import ErpChange, InvoiceChange, OrderChange, OrderStatus
from models.erp import SalesOrder, SalesOrderLine
from models.events import EventType, SourceSystem
from models.facts import OrderFacts, order_accepted_event, order_amended_event
from models.settlement import (
    Application,
    CreditMemoChange,
    InvoiceRef,
    PaymentChange,
    PaymentDirection,
)
from models.types import Money
from store import Store

NS = SourceSystem.NETSUITE
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
REF = InvoiceRef(id="900", number="INV900", erp_order_id="77", amount_due=Decimal("0"))


def usd(amount: str) -> Money:
    return Money(amount=Decimal(amount), currency="USD")


def invoice(status: InvoiceStatus = InvoiceStatus.OPEN, total: str = "1000.00") -> InvoiceSnapshot:
    return InvoiceSnapshot(
        id="900",
        number="INV900",
        erp_order_id="77",
        status=status,
        total=usd(total),
        amount_due=usd(total),
        invoice_date=date(2026, 11, 1),
        modified_at=NOW,
    )


def payment(payment_id: str, amount: str, direction: PaymentDirection) -> PaymentChange:
    refunded = direction is PaymentDirection.REFUNDED
    return PaymentChange(
        id=payment_id,
        number=f"P{payment_id}",
        direction=direction,
        customer_id="5",
        total=usd(amount),
        tran_date=date(2026, 11, 20),
        applications=[
            Application(
                amount=Decimal(amount),
                invoice=REF,
                credit_memo_id="950" if refunded else None,
                credit_memo_number="CM950" if refunded else None,
            )
        ],
        modified_at=NOW,
    )


async def _amounts(store: Store, event_type: EventType) -> list[Decimal]:
    rows = await store.events_from_sources(NS, ["900", "970"], [event_type])
    return sorted(Decimal(str(r.payload["amount"])) for r in rows)


async def test_a_void_takes_back_the_total_the_ledger_posted(store: Store) -> None:
    assert await record_invoice(store, invoice(), NS, "c", NOW) == 1
    voided = invoice(InvoiceStatus.CANCELLED, total="0")  # NetSuite zeroes a voided invoice
    assert await record_invoice(store, voided, NS, "c", NOW) == 1
    assert await record_invoice(store, voided, NS, "c", NOW) == 0
    assert await _amounts(store, EventType.INVOICE_VOIDED) == [Decimal("1000.00")]


async def test_an_invoice_first_read_voided_is_posted_and_voided_at_its_amount(
    store: Store,
) -> None:
    assert await record_invoice(store, invoice(InvoiceStatus.CANCELLED, "0"), NS, "c", NOW) == 2
    assert await _amounts(store, EventType.INVOICE_VOIDED) == [Decimal("0")]


async def test_payments_credits_and_refunds_are_each_one_fact(store: Store) -> None:
    first = payment("960", "300.00", PaymentDirection.RECEIVED)
    second = payment("961", "200.00", PaymentDirection.RECEIVED)
    assert await record_payment(store, first, NS, "c", NOW) == 1
    assert await record_payment(store, second, NS, "c", NOW) == 1
    assert await record_payment(store, first, NS, "c", NOW) == 0
    applied = await store.events_from_sources(NS, ["900"], [EventType.PAYMENT_APPLIED])
    assert sorted(r.payload["paid_to_date"] for r in applied) == ["300.00", "500.00"]
    assert await store.paid_to_date(NS, "900") == Decimal("500.00")

    memo = CreditMemoChange(
        id="950",
        number="CM950",
        customer_id="5",
        created_from=REF,
        total=usd("150.00"),
        amount_unapplied=usd("50.00"),
        tran_date=date(2026, 11, 21),
        applications=[Application(amount=Decimal("100.00"), invoice=REF)],
        modified_at=NOW,
    )
    assert await record_credit_memo(store, memo, NS, "c", NOW) == 2
    assert await record_credit_memo(store, memo, NS, "c", NOW) == 0
    assert await _amounts(store, EventType.CREDIT_MEMO_APPLIED) == [Decimal("100.00")]
    # A credit is not cash: what the ledger holds paid is unchanged.
    assert await store.paid_to_date(NS, "900") == Decimal("500.00")

    refund = payment("970", "50.00", PaymentDirection.REFUNDED)
    assert await record_payment(store, refund, NS, "c", NOW) == 1
    (refunded,) = await store.events_from_sources(NS, ["970"], [EventType.PAYMENT_REFUNDED])
    assert (refunded.payload["erp_credit_memo_id"], refunded.payload["amount"]) == ("950", "50.00")


async def test_reconciliation_reads_the_records_an_invoice_shows_settled(store: Store) -> None:
    asked: list[list[str]] = []
    paid = payment("960", "1000.00", PaymentDirection.RECEIVED)

    async def settling(ids: Sequence[str]) -> list[ErpChange]:
        asked.append(list(ids))
        return [paid]

    # No record names an opportunity: no workflow is signalled.
    publisher = ChangePublisher(cast(Client, None), store, settling_records=settling)
    settled = InvoiceChange.model_validate(
        invoice(InvoiceStatus.PAID).model_copy(
            update={"amount_due": usd("0"), "collected": Decimal("1000.00")}
        ),
        from_attributes=True,
    )
    result = await publisher.publish([settled], NS, "reconcile")
    assert asked == [["900"]] and result.recorded == 2  # invoice.posted, payment.applied
    again = await publisher.publish([settled], NS, "reconcile")
    assert asked == [["900"]] and again.recorded == 0  # the ledger now holds the cash


# -- which order changes its deal needs to hear of ------------------------------------

PLACED_AT = datetime(2026, 11, 23, 11, 59, 58, tzinfo=UTC)  # the ERP's stamp, to the second


def placed_order(modified: datetime | None = PLACED_AT) -> SalesOrder:
    return SalesOrder(
        id="77",
        order_number="SO77",
        external_id="006A",
        customer_id="5",
        currency="USD",
        status="Pending Fulfillment",
        total=usd("300.00"),
        lines=[SalesOrderLine(item_id="11", sku="SKU-1", quantity=Decimal(3), rate=usd("100"))],
        last_modified=modified,
    )


def order_read_by_feed(
    modified: datetime = PLACED_AT, status: OrderStatus = OrderStatus.OPEN
) -> OrderChange:
    order = placed_order()
    return OrderChange(
        id=order.id,
        order_number=order.order_number,
        crm_opportunity_id="006A",
        customer_id=order.customer_id,
        status=status,
        erp_status="Cancelled" if status is OrderStatus.CANCELLED else order.status,
        total=order.total,
        lines=order.lines,
        modified_at=modified,
    )


async def _deal_booked(store: Store, order: SalesOrder) -> None:
    facts = OrderFacts.of_order(order, "006A")
    assert await store.append_event(order_accepted_event(facts, NS, "deal", NOW))


async def test_the_version_its_deal_booked_is_not_signalled_to_the_deal(store: Store) -> None:
    await _deal_booked(store, placed_order())
    # No Temporal client: a signal would fail the publish.
    publisher = ChangePublisher(cast(Client, None), store)
    result = await publisher.publish([order_read_by_feed(), order_read_by_feed()], NS, "feed")
    assert (result.recorded, result.known_to_deal, result.signalled) == (0, 2, 0)


async def test_every_other_order_version_is_news_for_its_deal(store: Store) -> None:
    later = PLACED_AT.replace(second=59)
    assert not await booked_from_this_version(store, OrderFacts.of_change(order_read_by_feed()), NS)
    await _deal_booked(store, placed_order())
    same_second = order_read_by_feed()
    for change in (
        order_read_by_feed(later),  # finance edited it since
        order_read_by_feed(status=OrderStatus.CANCELLED),  # in the same second
        # Billed and its invoice voided in the same second as the deal's read (NetSuite
        # stamps to the second): still open, but "Pending Billing" now (the run of
        # 1,000, seed 20261210, sequence 29: the opportunity kept the old status).
        same_second.model_copy(update={"erp_status": "Pending Billing"}),
        # Edited by finance in that second: another total, the same stamp and state.
        same_second.model_copy(
            update={"total": Money(amount=Decimal("1.00"), currency=same_second.total.currency)}
        ),
    ):
        assert not await booked_from_this_version(store, OrderFacts.of_change(change), NS)


async def test_an_order_billed_in_the_second_its_deal_amended_it_is_news(store: Store) -> None:
    # The run of 1,000 (seed 20261210, sequence 33): the deal amended the order and
    # finance billed it within one second, NetSuite's stamp resolution. The deal's
    # amendment named only the stamp, so the Billed version was taken for the one the
    # deal had read, never signalled, and the opportunity kept "Pending Fulfillment".
    await _deal_booked(store, placed_order())
    amended_order = placed_order().model_copy(
        update={
            "total": usd("150.00"),
            "lines": [
                SalesOrderLine(item_id="11", sku="SKU-1", quantity=Decimal(3), rate=usd("50"))
            ],
        }
    )
    amended = OrderFacts.of_order(amended_order, "006A")
    assert await store.append_event(order_amended_event(amended, 1, NS, "deal", NOW))
    same_version = amended.model_copy(update={"erp_status": amended_order.status})
    assert await booked_from_this_version(store, same_version, NS)
    billed = amended.model_copy(update={"status": OrderStatus.BILLED, "erp_status": "Billed"})
    assert not await booked_from_this_version(store, billed, NS)


async def test_a_booking_that_names_no_version_is_never_taken_as_read(store: Store) -> None:
    await _deal_booked(store, placed_order(modified=None))  # an ERP without stamps
    change = OrderFacts.of_change(order_read_by_feed())
    assert not await booked_from_this_version(store, change, NS)


async def test_an_order_first_read_cancelled_after_its_approval_is_booked_then_cancelled(
    store: Store,
) -> None:
    # Explorer, seed 20261275: approved and cancelled between two polls of the feed.
    approved_at = PLACED_AT + timedelta(seconds=30)
    read = order_read_by_feed(PLACED_AT + timedelta(minutes=1), OrderStatus.CANCELLED)
    facts = OrderFacts.of_change(read.model_copy(update={"approved_at": approved_at}))
    assert await record_order(store, facts, NS, "feed", NOW) == 2
    assert await record_order(store, facts, NS, "feed", NOW) == 0  # read again: nothing new
    rows = await store.events_from_sources(
        NS, [read.id], [EventType.ORDER_ACCEPTED, EventType.ORDER_CANCELLED]
    )
    by_type = {row.event_type: row for row in rows}
    assert by_type[EventType.ORDER_ACCEPTED].occurred_at == approved_at
    assert by_type[EventType.ORDER_ACCEPTED].payload["status"] == OrderStatus.OPEN.value
    assert by_type[EventType.ORDER_CANCELLED].occurred_at > approved_at


async def test_an_order_cancelled_while_still_held_books_nothing(store: Store) -> None:
    # Never approved (no approval date): a cancellation of nothing the ledger booked.
    read = order_read_by_feed(status=OrderStatus.CANCELLED)
    assert await record_order(store, OrderFacts.of_change(read), NS, "feed", NOW) == 1
    rows = await store.events_from_sources(NS, [read.id], [EventType.ORDER_ACCEPTED])
    assert rows == []
