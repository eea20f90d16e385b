"""The end of ``syncline demo --finance``: what finance did, and whether Syncline's
report agrees, read from its operator API as a controller would.

The report is read per customer and summed over the demo's own customers, so deals of
other runs in the same ledger do not count. Syncline learns of finance's work through
its ERP change feed, so the report is read again until it agrees or the settle wait is
over; a report that still differs then is the demo's failure.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from rich.console import Console
from rich.table import Table

from workers.demo_books import Action, Books, Finance, Tally
from workers.demo_finance import FinanceStep
from workers.operator_client import OperatorClient

METRICS = ("bookings", "billings", "collections")


@dataclass(frozen=True)
class MetricCheck:
    metric: str
    version: int
    expected: Tally
    reported: Tally

    @property
    def agrees(self) -> bool:
        return self.expected == self.reported


async def reported_amounts(
    operator: OperatorClient, metric: str, start: date, end: date, customers: set[str]
) -> tuple[int, Tally]:
    """The metric's newest version over ``start``..``end``, for ``customers`` only."""
    report = await operator.report(
        metric, {"from": start.isoformat(), "to": end.isoformat(), "group_by": "customer"}
    )
    tally: Tally = {}
    for row in report["rows"]:
        if row["customer"] in customers:
            tally[row["currency"]] = tally.get(row["currency"], Decimal(0)) + Decimal(row["amount"])
    return int(report["definition_version"]), {c: a for c, a in tally.items() if a}


async def check_report(
    operator: OperatorClient, books: Books, start: date, end: date, settle_wait: float
) -> list[MetricCheck]:
    """Each metric against the books, read until all agree or ``settle_wait`` is over."""
    expected = books.expected()
    deadline = time.monotonic() + settle_wait
    while True:
        checks = []
        for metric in METRICS:
            version, reported = await reported_amounts(
                operator, metric, start, end, books.customers
            )
            checks.append(MetricCheck(metric, version, expected[metric], reported))
        if all(check.agrees for check in checks) or time.monotonic() >= deadline:
            return checks
        await asyncio.sleep(1.0)


def _money(tally: Tally) -> str:
    if not tally:
        return "0"
    return ", ".join(f"{amount:,.2f} {currency}" for currency, amount in sorted(tally.items()))


def print_finance(console: Console, books: Books, checks: list[MetricCheck]) -> None:
    did = Table(title="What finance did in the ERP", show_header=False)
    did.add_row("invoices (one per order)", str(books.invoices))
    for action in Action:
        if books.actions[action]:
            did.add_row(f"  {action.value}", str(books.actions[action]))
    did.add_row("invoiced", _money(books.invoiced))
    did.add_row("less voided", _money(books.voided))
    did.add_row("less credited (credit memos)", _money(books.credited))
    did.add_row("collected (payments)", _money(books.collected))
    did.add_row("less refunded", _money(books.refunded))
    console.print(did)
    check = Table(title="Syncline's report (operator API) against what finance did")
    for column in ("metric", "finance did", "report says", "check"):
        check.add_column(column)
    for item in checks:
        check.add_row(
            f"{item.metric} v{item.version}",
            _money(item.expected),
            _money(item.reported),
            "agrees" if item.agrees else "DIFFERS",
        )
    console.print(check)


async def settle_and_check(
    console: Console,
    step: FinanceStep,
    operator: OperatorClient,
    rng: random.Random,
    first_day: date,
    settle_wait: float,
) -> list[MetricCheck]:
    """Settle what ``step`` billed, then compare the report from ``first_day`` on."""
    with console.status("finance settles the invoices…"):
        books = await Finance(step.erp).settle(list(step.billed.values()), rng)
    last_day = datetime.now(UTC).date() + timedelta(days=1)
    with console.status("waiting for Syncline's report to show what finance did…"):
        checks = await check_report(operator, books, first_day, last_day, settle_wait)
    print_finance(console, books, checks)
    return checks
