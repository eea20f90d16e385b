"""Ledger events as reports read them, and what each one is worth.

A ``Fact`` is the part of a ledger event a measure needs, whether it came from the
store or back from the warehouse's Parquet; an ``Entry`` is one signed amount a
measure derived from facts, with everything a report can group it by.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from models.events import EventType
from models.tables import LedgerEvent
from store import Store

UNCLASSIFIED = "unclassified"
"""The revenue type of a line the ERP did not classify (never counted as ARR)."""

_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)
_END_OF_TIME = datetime(9999, 12, 31, tzinfo=UTC)


@dataclass(frozen=True)
class Fact:
    event_id: uuid.UUID
    event_type: EventType
    occurred_at: datetime
    subject_id: str
    payload: dict[str, Any]

    @classmethod
    def of(cls, row: LedgerEvent) -> Fact:
        return cls(
            event_id=row.event_id,
            event_type=EventType(row.event_type),
            occurred_at=row.occurred_at,
            subject_id=row.subject_id,
            payload=row.payload,
        )


@dataclass(frozen=True)
class Entry:
    day: date
    currency: str
    amount: Decimal
    event_id: uuid.UUID
    customer: str | None = None
    sku: str | None = None
    revenue_type: str | None = None
    counted: bool = True
    """False: shown as unclassified, left out of the metric (an ARR line of unknown type)."""


async def load_facts(store: Store, event_types: Sequence[EventType]) -> list[Fact]:
    """Every fact of these types, oldest first. All of them, not the window's: netting an
    amendment needs the order's history, and an invoice is dated by its invoice date,
    not by when the ledger learnt of it."""
    facts: list[Fact] = []
    for event_type in event_types:
        rows = await store.events_between(event_type, _BEGINNING, _END_OF_TIME)
        facts += [Fact.of(row) for row in rows]
    return sorted(facts, key=lambda f: (f.occurred_at, f.event_type, str(f.event_id)))
