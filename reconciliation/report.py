"""A run's findings as finance reads them: CSV, one row per difference."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

from models.tables import ReconciliationFindingRow
from reconciliation.records import ReconciliationRecords

CSV_COLUMNS = (
    "run_id",
    "domain",
    "key",
    "class",
    "state",
    "remedy",
    "currency",
    "crm",
    "erp",
    "ledger",
    "erp_id",
    "summary",
)


def _line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue()


def _csv_safe(value: str | None) -> str:
    """Spreadsheets run a cell starting with = + - @ as a formula; data from the CRM
    must never become one (CSV injection)."""
    text = value or ""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _values(row: ReconciliationFindingRow) -> list[str]:
    return [
        row.run_id,
        row.domain,
        _csv_safe(row.key),
        row.drift,
        row.state,
        row.remedy,
        row.currency or "",
        row.crm or "",
        row.erp or "",
        row.ledger or "",
        row.erp_id or "",
        _csv_safe(row.summary),
    ]


async def findings_csv(records: ReconciliationRecords, run_id: str) -> AsyncIterator[str]:
    """Streamed a page at a time: a night with many differences is never one string."""
    yield _line(list(CSV_COLUMNS))
    async for row in records.all_findings(run_id):
        yield _line(_values(row))
