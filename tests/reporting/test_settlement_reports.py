"""Billings and collections, old and new definitions, from one ledger: the quarter of
``tests.reporting.ledger`` plus a March of settlements.

March: invoice 901 (order A, 5,000) posted 2 Mar and voided; credit memo 950 (1,000)
issued 10 Mar from invoice 900, 600 of it applied to 900, 400 refunded 25 Mar; payment
960 pays 15,000 of invoice 900 on 20 Mar; payment 961 pays 100 on 31 Mar but the ERP
recorded it on 2 Apr (its record changed then).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from models.billing import InvoiceSnapshot, InvoiceStatus
from models.events import BusinessEvent
from models.facts import invoice_posted_event, invoice_voided_event
from models.settlement import (
    Application,
    CreditMemoChange,
    InvoiceRef,
    PaymentChange,
    PaymentDirection,
)
from models.settlement_facts import (
    credit_memo_applied_event,
    credit_memo_issued_event,
    payment_applied_event,
    payment_refunded_event,
)
from reporting.compute import report_from_ledger
from reporting.definitions import definition
from store import Store
from tests.reporting.ledger import NS, at, money, quarter_events, seed

from .test_compute import Q1, report, rows, totals

INVOICE_900 = InvoiceRef(
    id="900", number="INV900", erp_order_id="A", crm_opportunity_id="006A", amount_due=Decimal(0)
)


def march() -> list[BusinessEvent]:
    wrong = InvoiceSnapshot(
        id="901",
        number="INV901",
        erp_order_id="A",
        crm_opportunity_id="006A",
        status=InvoiceStatus.OPEN,
        total=money("5000.00", "USD"),
        amount_due=money("5000.00", "USD"),
        invoice_date=date(2026, 3, 2),
        modified_at=at(3, 2),
    )
    voided = wrong.model_copy(update={"status": InvoiceStatus.CANCELLED, "modified_at": at(3, 5)})
    memo = CreditMemoChange(
        id="950",
        number="CM950",
        customer_id="C1",
        created_from=INVOICE_900,
        total=money("1000.00", "USD"),
        amount_unapplied=money("400.00", "USD"),
        tran_date=date(2026, 3, 10),
        applications=[Application(amount=Decimal("600.00"), invoice=INVOICE_900)],
        modified_at=at(3, 10),
    )
    refund = PaymentChange(
        id="970",
        number="RFND970",
        direction=PaymentDirection.REFUNDED,
        customer_id="C1",
        total=money("400.00", "USD"),
        tran_date=date(2026, 3, 25),
        applications=[
            Application(
                amount=Decimal("400.00"),
                invoice=INVOICE_900,
                credit_memo_id="950",
                credit_memo_number="CM950",
            )
        ],
        modified_at=at(3, 25),
    )

    def payment(payment_id: str, amount: str, day: date, recorded: int) -> PaymentChange:
        return PaymentChange(
            id=payment_id,
            number=f"PYMT{payment_id}",
            direction=PaymentDirection.RECEIVED,
            customer_id="C1",
            total=money(amount, "USD"),
            tran_date=day,
            applications=[Application(amount=Decimal(amount), invoice=INVOICE_900)],
            modified_at=at(*divmod(recorded, 100)),
        )

    paid = payment("960", "15000.00", date(2026, 3, 20), 321)
    late = payment("961", "100.00", date(2026, 3, 31), 402)
    return [
        invoice_posted_event("006A", wrong, NS, "c", at(3, 2)),
        invoice_voided_event("006A", voided, Decimal("5000.00"), NS, "c", at(3, 5)),
        credit_memo_issued_event(memo, NS, "c", at(3, 10)),
        credit_memo_applied_event(memo, memo.applications[0], NS, "c", at(3, 10)),
        payment_applied_event(paid, paid.applications[0], Decimal("20000.00"), NS, "c", at(3, 21)),
        payment_refunded_event(refund, refund.applications[0], NS, "c", at(3, 25)),
        payment_applied_event(late, late.applications[0], Decimal("35000.00"), NS, "c", at(4, 2)),
    ]


async def test_billings_v2_nets_voids_and_credit_memos_v1_does_not(store: Store) -> None:
    await seed(store, [*quarter_events(), *march()])
    assert definition("billings").version == 2
    gross = await report(store, "billings", "customer", version=1)
    assert gross.definition_version == 1
    assert rows(gross, "customer") == {("USD", "C1"): Decimal("46699.98")}
    net = await report(store, "billings", "customer,month")
    assert net.definition_version == 2
    assert rows(net, "customer", "month") == {
        ("USD", "C1", "2026-01"): Decimal("41699.98"),
        # 901 posted and voided in its own month; the credit memo in the month issued.
        ("USD", "C1", "2026-03"): Decimal("-1000.00"),
    }


async def test_collections_v2_by_payment_date_net_of_refunds(store: Store) -> None:
    await seed(store, [*quarter_events(), *march()])
    old = await report(store, "collections", version=1)
    # v1 dates by when the fact happened: the late-recorded payment falls in April.
    assert totals(old) == {"USD": Decimal("35000.00")}
    new = await report(store, "collections", "month")
    assert new.definition_version == 2
    assert rows(new, "month") == {
        ("USD", "2026-02"): Decimal("20000.00"),  # recorded before payment records: v1's date
        ("USD", "2026-03"): Decimal("14700.00"),  # 15,000 + 100 - 400 refunded
    }
    april = await report_from_ledger(store, "collections", date(2026, 4, 1), date(2026, 4, 30))
    assert totals(april) == {}
    assert Q1[0] == date(2026, 1, 1)


async def test_old_versions_recompute_the_same_ledger_unchanged(store: Store) -> None:
    """The quarter alone answers as it did before the new versions existed."""
    await seed(store)
    assert totals(await report(store, "billings", version=1)) == {"USD": Decimal("41699.98")}
    assert totals(await report(store, "billings")) == {"USD": Decimal("41699.98")}
    assert totals(await report(store, "collections", version=1)) == {"USD": Decimal("20000.00")}
    assert totals(await report(store, "collections")) == {"USD": Decimal("20000.00")}
