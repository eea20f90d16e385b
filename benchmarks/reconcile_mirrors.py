"""The billing-mirror pass (``reconciliation.mirrors``) over a seeded SQLite ledger.

N opportunities, each with an order, two invoices (one voided), a credit memo applied
and a payment; the CRM side answers from memory with the mirror the deal would have
written (so every opportunity agrees and the pass classifies them all). The baseline,
in the same run, reads the same pages with the same two ledger queries and classifies
nothing: the ratio is what building each opportunity's billing and comparing it adds
to the reads the pass cannot avoid.

    python benchmarks/reconcile_mirrors.py --opportunities 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from connectors.protocols import CrmClient, ErpClient
from models.crm import OpportunityBillingMirror
from models.events import EventType, SourceSystem
from models.tables import LedgerEvent
from reconciliation.context import PassContext, Policy
from reconciliation.mirrors import LEDGER_TYPES, mirrors_pass
from store import Store

NOW = datetime(2026, 12, 6, 12, tzinfo=UTC)
WHEN = NOW - timedelta(days=3)
# Per opportunity: 1000 booked, invoice A 1000 voided, invoice B 1000 credited 100, paid 400.
MIRROR = {"invoiced_amount": Decimal(900), "paid_amount": Decimal(400), "balance": Decimal(500)}


def _row(kind: EventType, source: str, subject: str, **payload: Any) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "event_type": kind.value,
        "schema_version": 1,
        "occurred_at": WHEN,
        "recorded_at": WHEN,
        "source_system": "netsuite",
        "source_id": source,
        "subject_id": subject,
        "correlation_id": "bench",
        "causation_id": None,
        "caused_by": None,
        "payload": {"currency": "USD", **{k: str(v) for k, v in payload.items()}},
    }


def _facts(n: int) -> list[dict[str, Any]]:
    opportunity, order = f"006{n:015d}", str(n)
    a, b = f"{n}1", f"{n}2"
    posted = {"erp_order_id": order, "invoice_date": "2026-12-01"}
    return [
        _row(EventType.ORDER_ACCEPTED, order, opportunity, total=1000),
        _row(EventType.INVOICE_POSTED, a, opportunity, total=1000, invoice_number=a, **posted),
        _row(EventType.INVOICE_VOIDED, a, opportunity, amount=1000, erp_order_id=order),
        _row(EventType.INVOICE_POSTED, b, opportunity, total=1000, invoice_number=b, **posted),
        _row(EventType.CREDIT_MEMO_APPLIED, b, opportunity, amount=100, erp_order_id=order),
        _row(EventType.PAYMENT_APPLIED, b, opportunity, amount=400, erp_order_id=order),
    ]


class MemoryCrm:
    """The CRM's mirrors, as the deal wrote them: every one agrees."""

    def __init__(self) -> None:
        self.calls = 0

    async def billing_mirrors(self, ids: Sequence[str]) -> dict[str, OpportunityBillingMirror]:
        self.calls += 1
        return {
            i: OpportunityBillingMirror(opportunity_id=i, erp_order_id=str(int(i[3:])), **MIRROR)
            for i in ids
        }


async def _seed(store: Store, count: int) -> None:
    table = LedgerEvent.__table__  # type: ignore[attr-defined]
    async with store.engine.begin() as connection:
        for start in range(0, count, 2000):
            rows = [f for n in range(start, min(count, start + 2000)) for f in _facts(n)]
            await connection.execute(table.insert(), rows)


async def _baseline(store: Store, page_size: int) -> int:
    after, seen = None, 0
    while True:
        subjects = await store.subjects_with_events(EventType.INVOICE_POSTED, after, page_size)
        await store.events_for_subjects(subjects, LEDGER_TYPES)
        seen += len(subjects)
        if len(subjects) < page_size:
            return seen
        after = subjects[-1]


async def _pass(store: Store, page_size: int) -> tuple[int, int]:
    ctx = PassContext(
        crm=cast(CrmClient, MemoryCrm()),
        erp=cast(ErpClient, None),
        erp_system=SourceSystem.NETSUITE,
        store=store,
        policy=Policy(now=NOW, sla=timedelta(minutes=15), renewal_lead=timedelta(days=90)),
        page_size=page_size,
    )
    compared = found = 0
    async for batch in mirrors_pass(ctx, None):
        compared += batch.compared
        found += len(batch.findings)
    return compared, found


async def main(count: int, page_size: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as workdir:
        store = Store.from_url(f"sqlite+aiosqlite:///{Path(workdir) / 'ledger.db'}")
        await store.migrate()
        await _seed(store, count)
        started = time.perf_counter()
        read = await _baseline(store, page_size)
        baseline = time.perf_counter() - started
        started = time.perf_counter()
        compared, found = await _pass(store, page_size)
        measured = time.perf_counter() - started
        await store.close()
    assert read == compared == count and found == 0, (read, compared, found)
    figures = {
        "opportunities": count,
        "page_size": page_size,
        "pass_seconds": round(measured, 2),
        "pass_per_second": round(count / measured),
        "baseline_reads_seconds": round(baseline, 2),
        "baseline_per_second": round(count / baseline),
        "ratio_pass_to_baseline": round(measured / baseline, 2),
    }
    print(json.dumps(figures, indent=1))
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opportunities", type=int, default=20000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = asyncio.run(main(args.opportunities, args.page_size))
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
