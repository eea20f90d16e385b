"""The warehouse export: incremental Parquet whose totals equal the API's, to the cent."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from models.events import EventType
from reporting.compute import build_report, report_from_ledger
from reporting.definitions import GroupKey, definition
from reporting.export import AMOUNT, ExportGap, LedgerExport
from reporting.facts import Fact
from store import Store
from tests.reporting.ledger import a_later_order, at, seed
from workers.reports_cli import _csv

ALL_TIME = (date(2000, 1, 1), date(2100, 1, 1))


def warehouse(directory: Path) -> pa.Table:
    return pq.read_table(directory)  # the cursor file starts with "_": readers skip it


def warehouse_sums(table: pa.Table, event_type: EventType) -> dict[str, Decimal]:
    """What a warehouse query would say: SUM(amount) GROUP BY currency, in Arrow."""
    rows = table.filter(pc.equal(table["event_type"], str(event_type)))
    grouped = rows.group_by("currency").aggregate([("amount", "sum")])
    return dict(
        zip(grouped["currency"].to_pylist(), grouped["amount_sum"].to_pylist(), strict=True)
    )


def warehouse_arr(table: pa.Table) -> dict[str, Decimal]:
    """ARR from the exported lines, for a ledger of accepted orders only."""
    arr: dict[str, Decimal] = {}
    for event in table.filter(pc.equal(table["event_type"], "order.accepted")).to_pylist():
        for line in event["lines"]:
            if line["revenue_type"] == "recurring":
                yearly = line["quantity"] * line["rate"] * 12 / line["term_months"]
                arr[event["currency"]] = arr.get(event["currency"], Decimal(0)) + yearly
    return arr


async def api_totals(store: Store, metric: str, version: int | None = None) -> dict[str, Decimal]:
    report = await report_from_ledger(store, metric, *ALL_TIME, version=version)
    return {t.currency: Decimal(t.amount) for t in report.totals}


async def test_warehouse_totals_equal_the_reports_after_each_incremental_run(
    store: Store, tmp_path: Path
) -> None:
    await seed(store)
    export = LedgerExport(store, tmp_path / "warehouse")
    first = await export.run()
    assert first.file is not None and first.events == 13
    table = warehouse(tmp_path / "warehouse")
    assert table.schema.field("amount").type == AMOUNT
    assert str(table.schema.field("occurred_at").type) == "timestamp[us, tz=UTC]"
    assert warehouse_sums(table, EventType.ORDER_ACCEPTED) == await api_totals(store, "bookings", 1)
    assert warehouse_sums(table, EventType.INVOICE_POSTED) == await api_totals(store, "billings")
    assert warehouse_sums(table, EventType.PAYMENT_APPLIED) == await api_totals(
        store, "collections"
    )

    assert (await export.run()).file is None  # nothing new: no file
    for number in range(3):
        await store.append_event(a_later_order(f"L{number}", at(6, 1) + timedelta(minutes=number)))
    second = await export.run()
    assert second.file is not None and second.events == 3
    assert pq.read_table(second.file).num_rows == 3  # only the new events
    table = warehouse(tmp_path / "warehouse")
    assert table.num_rows == 16 and len(set(table["event_id"].to_pylist())) == 16
    assert warehouse_sums(table, EventType.ORDER_ACCEPTED) == await api_totals(store, "bookings", 1)
    assert warehouse_sums(table, EventType.ORDER_ACCEPTED)["USD"] == Decimal("73827.98")

    # The same facts, read back from Parquet, make the same report as the ledger's.
    facts = [
        Fact(
            event_id=uuid.UUID(row["event_id"]),
            event_type=EventType(row["event_type"]),
            occurred_at=row["occurred_at"],
            subject_id=row["subject_id"],
            payload=json.loads(row["payload"]),
        )
        for row in table.to_pylist()
    ]
    for metric in ("bookings", "arr", "billings", "collections", "pipeline", "renewals"):
        keys = [GroupKey.MONTH, GroupKey.REVENUE_TYPE] if metric in ("bookings", "arr") else []
        from_warehouse = build_report(definition(metric), facts, *ALL_TIME, keys)
        from_ledger = await report_from_ledger(store, metric, *ALL_TIME, keys)
        assert from_warehouse == from_ledger, metric


async def test_arr_from_the_exported_lines_equals_the_api(store: Store, tmp_path: Path) -> None:
    for number in range(4):
        await store.append_event(a_later_order(f"L{number}", at(6, 1 + number)))
    await LedgerExport(store, tmp_path).run()
    assert warehouse_arr(warehouse(tmp_path)) == await api_totals(store, "arr")
    assert await api_totals(store, "arr") == {"USD": Decimal("9504.00")}


async def test_an_event_recorded_behind_the_window_stops_the_export(
    store: Store, tmp_path: Path
) -> None:
    await store.append_event(a_later_order("L1", at(6, 1)))
    export = LedgerExport(store, tmp_path, overlap=timedelta(minutes=5))
    await export.run()
    # Stamped a day before the newest exported event, and only now in the ledger.
    await store.append_event(a_later_order("LATE", at(5, 31)))
    with pytest.raises(ExportGap, match="1 events"):
        await export.run()
    # Within the overlap, a late arrival is exported once, not lost and not doubled.
    recovered = LedgerExport(store, tmp_path / "again", overlap=timedelta(days=2))
    await recovered.run()
    await store.append_event(a_later_order("LATER", at(5, 31) + timedelta(hours=1)))
    assert (await recovered.run()).events == 1
    assert warehouse(tmp_path / "again").num_rows == 3


def test_the_cli_csv_has_the_grouped_columns() -> None:
    rows = [{"currency": "USD", "month": "2026-01", "amount": "1.00", "count": 1}]
    assert _csv(rows, ["currency", "month"]).splitlines() == [
        "currency,month,amount,count",
        "USD,2026-01,1.00,1",
    ]
