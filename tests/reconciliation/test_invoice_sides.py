"""Per invoice and per opportunity's billing mirror, the classifiers against plain
reference ones over generated states of the ERP, the ledger and the CRM."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from models.billing import InvoiceStatus
from models.changes import InvoiceChange
from models.crm import OpportunityBillingMirror
from models.events import EventType
from models.reconciliation import DriftClass, Remedy
from models.tables import LedgerEvent
from models.types import Money
from reconciliation.context import Policy
from reconciliation.invoice_sides import LedgerInvoice, Measure, differences
from reconciliation.mirrors import classify_mirror

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
OLD = NOW - timedelta(days=2)
POLICY = Policy(now=NOW, sla=timedelta(minutes=15), renewal_lead=timedelta(days=90))
CENTS = st.integers(0, 50_000).map(lambda c: Decimal(c) / 100)


def _invoice(total: Decimal, credited: Decimal, collected: Decimal, voided: bool) -> InvoiceChange:
    # NetSuite zeroes a voided invoice's amounts.
    shown = Decimal(0) if voided else total
    return InvoiceChange(
        id="501",
        number="INV501",
        erp_order_id="77",
        crm_opportunity_id="006A",
        status=InvoiceStatus.CANCELLED if voided else InvoiceStatus.OPEN,
        total=Money(amount=shown, currency="USD"),
        amount_due=Money(amount=max(shown - credited - collected, Decimal(0)), currency="USD"),
        modified_at=OLD,
        credited=Decimal(0) if voided else credited,
        collected=Decimal(0) if voided else collected,
    )


def _reference(
    erp: tuple[Decimal, Decimal, Decimal, bool], ledger: LedgerInvoice
) -> set[tuple[Measure, DriftClass]]:
    """What a controller would say, case by case."""
    total, credited, collected, voided = erp
    found: set[tuple[Measure, DriftClass]] = set()
    if ledger.posted is None or (voided and ledger.voided is None):
        found.add((Measure.BILLED, DriftClass.MISSING_LEDGER_EVENT))
    elif not voided and ledger.voided is not None:
        found.add((Measure.BILLED, DriftClass.STATUS_DRIFT))
    elif (Decimal(0) if voided else total) != ledger.posted - (ledger.voided or 0):
        found.add((Measure.BILLED, DriftClass.AMOUNT_MISMATCH))
    for measure, erp_side, held in (
        (Measure.CREDITED, Decimal(0) if voided else credited, ledger.credited),
        (Measure.COLLECTED, Decimal(0) if voided else collected, ledger.collected),
    ):
        if erp_side > held:
            found.add((measure, DriftClass.MISSING_LEDGER_EVENT))
        elif erp_side < held:
            found.add((measure, DriftClass.AMOUNT_MISMATCH))
    return found


LEDGERS = st.builds(
    LedgerInvoice,
    posted=st.none() | CENTS,
    currency=st.just("USD"),
    voided=st.none() | CENTS,
    credited=CENTS,
    collected=CENTS,
)


@given(total=CENTS, credited=CENTS, collected=CENTS, voided=st.booleans(), ledger=LEDGERS)
def test_each_invoice_measure_is_classified_as_the_reference_says(
    total: Decimal, credited: Decimal, collected: Decimal, voided: bool, ledger: LedgerInvoice
) -> None:
    invoice = _invoice(total, credited, collected, voided)
    found = differences(invoice, ledger, list(Measure))
    assert {(d.measure, d.drift) for d in found} == _reference(
        (total, credited, collected, voided), ledger
    )
    for difference in found:
        # Only a fact the ledger lacks is re-derived; the rest waits for a person.
        replayable = difference.drift is DriftClass.MISSING_LEDGER_EVENT
        assert (difference.remedy is Remedy.REPUBLISH) is replayable
        assert difference.cents == int((difference.erp - difference.ledger) * 100)


@given(total=CENTS, credited=CENTS, collected=CENTS, voided=st.booleans())
def test_a_ledger_holding_the_erps_facts_agrees(
    total: Decimal, credited: Decimal, collected: Decimal, voided: bool
) -> None:
    ledger = LedgerInvoice(
        posted=Decimal(0) if voided else total,
        currency="USD",
        voided=(Decimal(0) if voided else None),
        credited=Decimal(0) if voided else credited,
        collected=Decimal(0) if voided else collected,
    )
    assert differences(_invoice(total, credited, collected, voided), ledger, list(Measure)) == []


def _fact(kind: EventType, source: str, **payload: object) -> LedgerEvent:
    return LedgerEvent(
        event_id=uuid.uuid4(),
        event_type=kind,
        schema_version=1,
        occurred_at=OLD,
        recorded_at=OLD,
        source_system="netsuite",
        source_id=source,
        subject_id="006A",
        correlation_id="c",
        payload={"currency": "USD", **{k: str(v) for k, v in payload.items()}},
    )


INVOICES = st.lists(
    st.tuples(CENTS, CENTS, CENTS, st.booleans(), st.sampled_from(["77", "76"])), max_size=4
)


@given(
    order_total=CENTS,
    invoices=INVOICES,
    off=st.sampled_from([None, "invoiced_amount", "paid_amount", "balance"]),
)
def test_the_billing_mirror_equals_the_sums_over_its_orders_invoices(
    order_total: Decimal,
    invoices: list[tuple[Decimal, Decimal, Decimal, bool, str]],
    off: str | None,
) -> None:
    facts = [_fact(EventType.ORDER_ACCEPTED, "77", total=order_total)]
    invoiced = paid = Decimal(0)
    for number, (total, credited, collected, voided, order) in enumerate(invoices):
        source = f"9{number}"
        facts.append(
            _fact(
                EventType.INVOICE_POSTED,
                source,
                total=total,
                erp_order_id=order,
                invoice_number=f"INV{number}",
                invoice_date="2026-11-20",
            )
        )
        facts.append(
            _fact(EventType.CREDIT_MEMO_APPLIED, source, amount=credited, erp_order_id=order)
        )
        facts.append(_fact(EventType.PAYMENT_APPLIED, source, amount=collected, erp_order_id=order))
        if voided:
            facts.append(_fact(EventType.INVOICE_VOIDED, source, amount=total, erp_order_id=order))
        elif order == "77":  # another order of the opportunity is not this deal's billing
            invoiced += total - credited
            paid += collected
    shown = {"invoiced_amount": invoiced, "paid_amount": paid, "balance": invoiced - paid}
    if off is not None:
        shown[off] += Decimal("0.01")
    mirror = OpportunityBillingMirror(opportunity_id="006A", erp_order_id="77", **shown)
    found = classify_mirror("006A", mirror, facts, POLICY)
    if off is None:
        assert found is None
    else:
        assert found is not None and found.drift is DriftClass.STALE_MIRROR
        assert found.evidence["fields"] == off
        assert found.evidence[f"{off}.difference_cents"] == "-1"
        assert found.record is not None and Decimal(found.record[off]) == shown[off] - Decimal(
            "0.01"
        )
