"""Reports from a seeded ledger (tests/reporting/ledger.py), on both store backends."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from reporting.compute import BadQuery, Report, parse_group_by, report_from_ledger
from reporting.definitions import DEFINITIONS, UnknownMetric, definition
from reporting.measures import MEASURES, annualised
from store import Store
from tests.reporting.ledger import seed

Q1 = (date(2026, 1, 1), date(2026, 3, 31))


async def report(store: Store, metric: str, group_by: str = "", **kwargs: Any) -> Report:
    return await report_from_ledger(store, metric, *Q1, parse_group_by(group_by), **kwargs)


def totals(answer: Report) -> dict[str, Decimal]:
    return {t.currency: Decimal(t.amount) for t in answer.totals}


def rows(answer: Report, *keys: str) -> dict[tuple[str | None, ...], Decimal]:
    return {
        (row.currency, *(getattr(row, k) for k in keys)): Decimal(row.amount) for row in answer.rows
    }


def test_every_definition_has_its_measure_and_versions_are_unique() -> None:
    assert {(d.name, d.version) for d in DEFINITIONS} == set(MEASURES)
    assert len(DEFINITIONS) == len(MEASURES)
    assert definition("bookings").version == 2
    assert definition("bookings", 1).version == 1
    with pytest.raises(UnknownMetric, match="known: arr, billings"):
        definition("revenue")
    with pytest.raises(UnknownMetric, match="no version 7"):
        definition("arr", 7)


def test_annualising_a_term() -> None:
    assert annualised(Decimal("36000.00"), 36) == Decimal("12000.00")
    assert annualised(Decimal("2200.00"), 1) == Decimal("26400.00")
    assert annualised(Decimal("1000.00"), 7) == Decimal("1714.29")


async def test_bookings_net_amendments_and_cancellations_by_revenue_type(store: Store) -> None:
    await seed(store)
    answer = await report(store, "bookings", "revenue_type")
    assert answer.definition_version == 2
    assert totals(answer) == {"EUR": Decimal("4500.00"), "USD": Decimal("42699.98")}
    assert rows(answer, "revenue_type") == {
        ("EUR", "recurring"): Decimal("4400.00"),
        ("EUR", "unclassified"): Decimal("100.00"),
        ("USD", "one_time"): Decimal("5000.00"),
        ("USD", "recurring"): Decimal("36000.00"),  # C's 24,000 booked, then cancelled
        ("USD", "unclassified"): Decimal("1000.00"),  # the v1 event: no revenue types
        ("USD", "usage"): Decimal("699.98"),
    }


async def test_bookings_by_month_date_each_move(store: Store) -> None:
    await seed(store)
    answer = await report(store, "bookings", "month")
    assert rows(answer, "month") == {
        ("EUR", "2026-02"): Decimal("4500.00"),
        ("USD", "2026-01"): Decimal("42699.98"),
        ("USD", "2026-02"): Decimal("24000.00"),
        ("USD", "2026-03"): Decimal("-24000.00"),
    }
    march = await report_from_ledger(store, "bookings", date(2026, 3, 1), date(2026, 3, 31))
    assert totals(march) == {"USD": Decimal("-24000.00")}


async def test_bookings_version_1_stays_reproducible(store: Store) -> None:
    await seed(store)
    answer = await report(store, "bookings", version=1)
    assert answer.definition_version == 1
    # Gross order totals, as version 1 always counted: the cancelled order stays in.
    assert totals(answer) == {"EUR": Decimal("2300.00"), "USD": Decimal("66699.98")}
    assert {t.currency: t.count for t in answer.totals} == {"EUR": 1, "USD": 3}
    with pytest.raises(BadQuery, match="not measured by line"):
        await report(store, "bookings", "sku", version=1)


async def test_arr_counts_recurring_lines_annualised_and_shows_the_unclassified(
    store: Store,
) -> None:
    await seed(store)
    answer = await report(store, "arr", "sku")
    assert rows(answer, "sku") == {
        ("EUR", "SL-PLATFORM-MONTHLY"): Decimal("52800.00"),  # 2 x 2,200 a month
        ("USD", "SL-PLATFORM-3Y"): Decimal("12000.00"),  # 36,000 over 36 months
        ("USD", "SL-PLATFORM-ANNUAL"): Decimal("0.00"),  # booked and cancelled
    }
    assert totals(answer) == {"EUR": Decimal("52800.00"), "USD": Decimal("12000.00")}
    assert {t.currency: Decimal(t.amount) for t in answer.unclassified} == {
        "EUR": Decimal("100.00"),
        "USD": Decimal("1000.00"),
    }
    february = await report_from_ledger(store, "arr", date(2026, 2, 1), date(2026, 2, 28))
    assert totals(february) == {"EUR": Decimal("52800.00"), "USD": Decimal("24000.00")}


async def test_pipeline_billings_collections_and_renewals(store: Store) -> None:
    await seed(store)
    assert totals(await report(store, "pipeline")) == {"USD": Decimal("7777.77")}
    # Before A, B and C were accepted, their wins were pipeline too.
    early = await report_from_ledger(store, "pipeline", date(2026, 1, 1), date(2026, 1, 9))
    assert totals(early) == {"EUR": Decimal("2300.00"), "USD": Decimal("65699.98")}
    billings = await report(store, "billings", "customer")
    assert rows(billings, "customer") == {("USD", "C1"): Decimal("41699.98")}
    assert totals(await report(store, "collections")) == {"USD": Decimal("20000.00")}
    assert totals(await report(store, "renewals")) == {}
    renewals = await report_from_ledger(store, "renewals", date(2029, 1, 1), date(2029, 1, 31))
    assert totals(renewals) == {"USD": Decimal("12000.00")}


async def test_bad_queries_are_refused(store: Store) -> None:
    with pytest.raises(BadQuery, match="before"):
        await report_from_ledger(store, "bookings", date(2026, 2, 1), date(2026, 1, 1))
    with pytest.raises(BadQuery, match="cannot group by 'region'"):
        parse_group_by("month,region")
    with pytest.raises(BadQuery, match="not measured by line"):
        await report(store, "billings", "revenue_type")
