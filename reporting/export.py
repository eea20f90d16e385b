"""The ledger, exported incrementally to Parquet for a data warehouse.

Each run writes the events recorded since the last one into one file,
``ledger-<run>-<first recorded_at>-<last recorded_at>.parquet``, and moves a cursor
(``_cursor.json``, which Parquet readers skip) past them. Amounts are decimal128, never
floats; times are UTC.

Why an overlap: ``recorded_at`` is stamped when an event is built, and a workflow's
event reaches the ledger a moment later, so a run can miss an event stamped just before
its newest one. Each run therefore re-reads the last ``overlap`` of stamps and skips the
ids it already wrote. An event arriving later still than that is not skipped silently:
the count of events behind the window no longer matches what was exported, and the run
stops with ``ExportGap``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa
from pydantic import BaseModel
from sqlmodel import col, select

from models.events import EventType
from models.tables import LedgerEvent
from store import Store

CURSOR_FILE = "_cursor.json"
DEFAULT_OVERLAP = timedelta(hours=1)
AMOUNT = pa.decimal128(38, 9)
"""Wide enough for any amount, rate or quantity; a value with more than nine decimal
places is refused by pyarrow rather than rounded."""

# The payload field holding each event's amount (its ``amount`` column).
AMOUNT_FIELDS = {
    EventType.OPPORTUNITY_CLOSED_WON: "amount",
    EventType.ORDER_ACCEPTED: "total",
    EventType.ORDER_AMENDED: "total",
    EventType.ORDER_CANCELLED: "total",
    EventType.INVOICE_POSTED: "total",
    EventType.INVOICE_VOIDED: "amount",
    EventType.CREDIT_MEMO_ISSUED: "total",
    EventType.CREDIT_MEMO_APPLIED: "amount",
    EventType.PAYMENT_APPLIED: "amount",
    EventType.PAYMENT_REFUNDED: "amount",
    EventType.RENEWAL_OPENED: "recurring_amount",
}

_UTC = pa.timestamp("us", tz="UTC")
LINE = pa.struct(
    [
        ("sku", pa.string()),
        ("quantity", AMOUNT),
        ("rate", AMOUNT),
        ("revenue_type", pa.string()),
        ("term_months", pa.int32()),
    ]
)
SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event_type", pa.string()),
        ("schema_version", pa.int32()),
        ("occurred_at", _UTC),
        ("recorded_at", _UTC),
        ("source_system", pa.string()),
        ("source_id", pa.string()),
        ("subject_id", pa.string()),
        ("correlation_id", pa.string()),
        ("causation_id", pa.string()),
        ("currency", pa.string()),
        ("amount", AMOUNT),
        ("lines", pa.list_(LINE)),
        ("payload", pa.string()),
    ]
)


class ExportGap(RuntimeError):
    """Events reached the ledger behind the export's window; re-export into a new
    directory (or with a larger overlap) so the warehouse misses none."""


class Cursor(BaseModel):
    next_run: int = 1
    watermark: datetime | None = None
    """The newest ``recorded_at`` exported."""
    exported: int = 0
    recent: dict[str, datetime] = {}
    """Exported ids stamped within ``overlap`` of the watermark (the next run re-reads them)."""


@dataclass(frozen=True)
class ExportResult:
    file: Path | None
    """None when nothing new was recorded."""
    events: int
    watermark: datetime | None


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _row(event: LedgerEvent) -> dict[str, Any]:
    payload = event.payload
    field = AMOUNT_FIELDS.get(EventType(event.event_type))
    return {
        "event_id": str(event.event_id),
        "event_type": event.event_type,
        "schema_version": event.schema_version,
        "occurred_at": event.occurred_at,
        "recorded_at": event.recorded_at,
        "source_system": event.source_system,
        "source_id": event.source_id,
        "subject_id": event.subject_id,
        "correlation_id": event.correlation_id,
        "causation_id": event.causation_id,
        "currency": payload.get("currency"),
        "amount": _decimal(payload.get(field)) if field else None,
        "lines": [
            {
                "sku": line.get("sku"),
                "quantity": _decimal(line.get("quantity")),
                "rate": _decimal(line.get("rate")),
                "revenue_type": line.get("revenue_type"),
                "term_months": line.get("term_months"),
            }
            for line in payload.get("lines") or []
        ],
        "payload": json.dumps(payload, sort_keys=True),
    }


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S%fZ")


def _write_atomically(path: Path, write: Any) -> None:
    partial = path.with_name(f".{path.name}.partial")
    write(partial)
    os.replace(partial, path)


class LedgerExport:
    def __init__(self, store: Store, directory: Path, overlap: timedelta = DEFAULT_OVERLAP):
        self._store = store
        self._directory = directory
        self._overlap = overlap

    def _cursor(self) -> Cursor:
        path = self._directory / CURSOR_FILE
        return Cursor.model_validate_json(path.read_text()) if path.exists() else Cursor()

    async def _read(self, low: datetime | None) -> tuple[list[LedgerEvent], int]:
        """Events stamped at or after ``low`` (all when None), and how many before it."""
        async with self._store.sessions()() as session:
            query = select(LedgerEvent).order_by(
                col(LedgerEvent.recorded_at), col(LedgerEvent.event_id)
            )
            behind = 0
            if low is not None:
                query = query.where(col(LedgerEvent.recorded_at) >= low)
                count = select(sa.func.count()).where(col(LedgerEvent.recorded_at) < low)
                behind = int((await session.execute(count)).scalar_one())
            return list((await session.scalars(query)).all()), behind

    async def run(self) -> ExportResult:
        self._directory.mkdir(parents=True, exist_ok=True)
        cursor = self._cursor()
        low = None if cursor.watermark is None else cursor.watermark - self._overlap
        events, behind = await self._read(low)
        if behind != cursor.exported - len(cursor.recent):
            raise ExportGap(
                f"{behind - (cursor.exported - len(cursor.recent))} events reached the ledger "
                f"stamped before {low}, behind this export's window"
            )
        new = [e for e in events if str(e.event_id) not in cursor.recent]
        if not new:
            return ExportResult(None, 0, cursor.watermark)
        for stale in self._directory.glob(f"ledger-{cursor.next_run:06d}-*.parquet"):
            stale.unlink()  # a run that stopped before moving the cursor
        path = self._directory / (
            f"ledger-{cursor.next_run:06d}-{_stamp(new[0].recorded_at)}"
            f"-{_stamp(new[-1].recorded_at)}.parquet"
        )
        table = pa.Table.from_pylist([_row(e) for e in new], schema=SCHEMA)
        _write_atomically(path, lambda target: pq.write_table(table, target))
        watermark = max([new[-1].recorded_at, *([cursor.watermark] if cursor.watermark else [])])
        horizon = watermark - self._overlap
        moved = Cursor(
            next_run=cursor.next_run + 1,
            watermark=watermark,
            exported=cursor.exported + len(new),
            recent={str(e.event_id): e.recorded_at for e in events if e.recorded_at >= horizon},
        )
        _write_atomically(
            self._directory / CURSOR_FILE, lambda target: target.write_text(moved.model_dump_json())
        )
        return ExportResult(path, len(new), watermark)
