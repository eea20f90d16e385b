"""``syncline demo``: real deals through the real path, measured.

Accounts and opportunities are created in the sandbox CRM through its API; closing
them won makes the CRM call Syncline's webhook, exactly as a Salesforce Flow would.
The demo then watches the opportunities until Syncline has written an order number
back, and asks the ERP how many orders exist per deal.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from connectors.errors import TransientError
from connectors.governor import UnlimitedGovernor
from connectors.protocols import ErpClient
from connectors.salesforce import SalesforceClient
from models.crm import ProductMirror
from models.types import Money
from sandbox.catalog import DEFAULT_CATALOG
from workers.demo_finance import HELD, FinanceStep
from workers.demo_report import MetricCheck, settle_and_check
from workers.operator_client import OPERATOR_KEY, OperatorClient, env_with_file
from workers.settings import Settings
from workers.wiring import build_erp

T = TypeVar("T")
# With ``--finance``, every fifth deal is a second deal of an earlier deal's customer,
# so finance has customers with two invoices to pay with one payment.
REPEAT_EVERY = 5


@dataclass
class DemoConfig:
    api_url: str
    operator_key: str
    crm_url: str
    crm_client_id: str
    crm_client_secret: str
    erp: Settings
    """The stack's settings, for its ERP (NetSuite credentials or Tryton key)."""
    deals: int = 20
    concurrency: int = 20
    timeout: float = 300.0
    approval_share: float = 0.0
    """A share of deals whose orders the ERP holds for approval (``demo_finance``)."""
    finance: bool = False
    """Finance bills every order, settles the invoices and checks the report
    (``demo_books``, ``demo_report``)."""
    settle_wait: float = 60.0
    """How long the report may take to show what finance did."""

    @classmethod
    def from_env(cls, env_file: Path, **overrides: Any) -> DemoConfig:
        env = env_with_file(env_file)
        try:
            return cls(
                api_url=env.get("SYNCLINE_API_URL", "http://127.0.0.1:8000"),
                operator_key=env[OPERATOR_KEY],
                crm_url=env.get("SYNCLINE_CRM_BASE_URL", "http://127.0.0.1:8010"),
                crm_client_id=env["SYNCLINE_CRM_CLIENT_ID"],
                crm_client_secret=env["SYNCLINE_CRM_CLIENT_SECRET"],
                erp=Settings.from_env_values(env),
                **overrides,
            )
        except KeyError as missing:
            raise SystemExit(
                f"{missing} is not set: start the stack with `syncline dev` first"
            ) from None


@dataclass
class DemoDeal:
    opportunity_id: str
    account_id: str | None = None
    account_name: str = ""
    """Empty for a deal of an account opened before (the demo's finance step needs only
    the names of the accounts it opened)."""
    closed_at: float = 0.0
    accepted_at: float | None = None
    order_number: str | None = None


@dataclass
class DemoOutcome:
    deals: list[DemoDeal]
    elapsed: float
    orders_in_erp: int
    duplicate_orders: int
    exceptions: int
    latencies: list[float] = field(default_factory=list)
    approved: int | None = None
    """Orders the finance step approved (None: no finance step)."""
    shipped: int | None = None
    finance_checks: list[MetricCheck] | None = None
    """The report against what finance did (None: no ``--finance``)."""

    @property
    def finance_agrees(self) -> bool:
        return self.finance_checks is None or all(c.agrees for c in self.finance_checks)

    @property
    def accepted(self) -> int:
        return sum(1 for deal in self.deals if deal.order_number)

    @property
    def all_accepted(self) -> bool:
        return self.accepted == len(self.deals) and self.duplicate_orders == 0


def percentile(values: Sequence[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


async def bounded(
    concurrency: int, items: Sequence[T], action: Callable[[T], Awaitable[None]]
) -> None:
    semaphore = asyncio.Semaphore(concurrency)

    async def one(item: T) -> None:
        async with semaphore:
            await action(item)

    await asyncio.gather(*(one(item) for item in items))


def demo_erp(config: DemoConfig) -> ErpClient:
    """The stack's ERP, as the worker reaches it."""
    erp, _ = build_erp(config.erp, UnlimitedGovernor())
    return erp


async def seed_crm_catalog(crm: SalesforceClient, erp: ErpClient) -> dict[str, str]:
    """Mirror the ERP catalog into the CRM now (Product2 + standard price book entries).

    The change feed mirrors every item the ERP changes; the demo does not wait for it.
    Both go through the same upsert keyed by the ERP item id, so they never duplicate
    a product or a price, whichever runs first. Returns the PricebookEntry id per SKU.
    """
    items = await erp.find_items([item.sku for item in DEFAULT_CATALOG])
    for catalog_item in DEFAULT_CATALOG:
        erp_item = items.get(catalog_item.sku)
        if erp_item is None:
            continue
        # The ERP's own name and price: it owns the catalog.
        await crm.upsert_product_mirror(
            ProductMirror(
                erp_item_id=erp_item.id,
                sku=catalog_item.sku,
                name=erp_item.name or catalog_item.name,
                price=erp_item.price
                or Money(amount=catalog_item.price, currency=catalog_item.currency),
            )
        )
    pricebooks = await crm.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
    rows = await crm.query(
        "SELECT Id, ProductCode FROM PricebookEntry "
        f"WHERE Pricebook2Id = '{pricebooks[0]['Id']}' AND CurrencyIsoCode = 'USD'"
    )
    wanted = {item.sku for item in DEFAULT_CATALOG if item.sku in items}
    return {row["ProductCode"]: row["Id"] for row in rows if row["ProductCode"] in wanted}


async def create_open_deal(
    crm: SalesforceClient,
    entries: dict[str, str],
    tag: str,
    index: int,
    rng: random.Random,
    account_id: str | None = None,
) -> DemoDeal:
    """An open deal of a new account, or of ``account_id`` (a customer seen before)."""
    account_name = ""
    if account_id is None:
        account_name = f"Demo Customer {tag}-{index:05d}"
        account_id = await crm.create(
            "Account",
            {
                "Name": account_name,
                "BillingStreet": f"{index} Market Street",
                "BillingCity": "San Francisco",
                "BillingPostalCode": "94105",
                "BillingCountry": "US",
            },
        )
    opportunity_id = await crm.create(
        "Opportunity",
        {
            "Name": f"Demo deal {tag}-{index:05d}",
            "AccountId": account_id,
            "StageName": "Negotiation/Review",
            "CloseDate": date.today().isoformat(),
        },
    )
    catalog = {item.sku: item for item in DEFAULT_CATALOG}
    for sku in rng.sample(sorted(entries), k=min(len(entries), rng.randint(1, 3))):
        await crm.create(
            "OpportunityLineItem",
            {
                "OpportunityId": opportunity_id,
                "PricebookEntryId": entries[sku],
                "Quantity": rng.randint(1, 20),
                "UnitPrice": catalog[sku].price,
            },
        )
    return DemoDeal(opportunity_id=opportunity_id, account_id=account_id, account_name=account_name)


async def open_deals(
    crm: SalesforceClient,
    entries: dict[str, str],
    count: int,
    tag: str,
    rng: random.Random,
    *,
    concurrency: int,
    on_each: Callable[[], None] | None = None,
) -> list[DemoDeal]:
    """``count`` open deals, created ``concurrency`` at a time, in index order."""
    deals: list[DemoDeal | None] = [None] * count

    async def make(index: int) -> None:
        deals[index] = await create_open_deal(crm, entries, tag, index, rng)
        if on_each is not None:
            on_each()

    await bounded(concurrency, range(count), make)
    return [deal for deal in deals if deal is not None]


def _again_if_transient() -> AsyncRetrying:
    """A few tries of a CRM call that changes nothing when repeated. The demo and the
    benchmarks call the CRM directly, where no engine retries: a connection the server
    cut (after committing, or while closing it as idle) must not end the run."""
    return AsyncRetrying(
        retry=retry_if_exception_type(TransientError),
        wait=wait_random_exponential(multiplier=0.1, max=2),
        stop=stop_after_attempt(5),
        reraise=True,
    )


async def close_won(crm: SalesforceClient, deal: DemoDeal) -> None:
    """Set the opportunity's stage to Closed Won: the same write again is no change."""
    deal.closed_at = time.time()
    async for attempt in _again_if_transient():
        with attempt:
            await crm.update("Opportunity", deal.opportunity_id, {"StageName": "Closed Won"})


def _parse_synced_at(value: str) -> float:
    normalised = value.replace("+0000", "+00:00").replace("Z", "+00:00")
    return datetime.fromisoformat(normalised).astimezone(UTC).timestamp()


async def poll_orders(crm: SalesforceClient, deals: Sequence[DemoDeal]) -> None:
    """One SOQL query per 200 waiting deals: what a CRM user would see."""
    waiting = {deal.opportunity_id: deal for deal in deals if deal.order_number is None}
    ids = list(waiting)
    for start in range(0, len(ids), 200):
        chunk = ", ".join(f"'{i}'" for i in ids[start : start + 200])
        async for attempt in _again_if_transient():
            with attempt:
                rows = await crm.query(
                    "SELECT Id, Syncline_Order_Number__c, Syncline_Order_Status__c, "
                    f"Syncline_Synced_At__c FROM Opportunity WHERE Id IN ({chunk})"
                )
        for row in rows:
            # An order the ERP holds for approval is placed but not accepted yet.
            if row.get("Syncline_Order_Number__c") and row.get("Syncline_Order_Status__c") != (
                HELD
            ):
                deal = waiting[row["Id"]]
                deal.order_number = row["Syncline_Order_Number__c"]
                synced = row.get("Syncline_Synced_At__c")
                deal.accepted_at = _parse_synced_at(synced) if synced else time.time()


async def count_erp_orders(erp: ErpClient, deals: Sequence[DemoDeal]) -> Counter[str]:
    return Counter(await erp.count_sales_orders([deal.opportunity_id for deal in deals]))


async def run_demo(config: DemoConfig, console: Console) -> DemoOutcome:
    crm = SalesforceClient(config.crm_url, config.crm_client_id, config.crm_client_secret)
    erp = demo_erp(config)
    operator = OperatorClient(config.api_url, config.operator_key)
    rng = random.Random(7)
    tag = uuid.uuid4().hex[:6]
    first_day = datetime.now(UTC).date() - timedelta(days=1)
    try:
        with console.status("seeding the CRM catalog from the ERP…"):
            entries = await seed_crm_catalog(crm, erp)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
        ) as progress:
            creating = progress.add_task("creating open deals", total=config.deals)
            repeats = config.deals // REPEAT_EVERY if config.finance else 0
            deals = await open_deals(
                crm,
                entries,
                config.deals - repeats,
                tag,
                rng,
                concurrency=config.concurrency,
                on_each=lambda: progress.advance(creating),
            )
            for index in range(repeats):
                account = deals[index].account_id
                deals.append(await create_open_deal(crm, entries, tag, len(deals), rng, account))
                progress.advance(creating)
            closing = progress.add_task("closing won (webhooks)", total=config.deals)
            accepted = progress.add_task("orders accepted", total=config.deals)
            started = time.time()

            async def close_tracked(deal: DemoDeal) -> None:
                await close_won(crm, deal)
                progress.advance(closing)

            finance = (
                await FinanceStep.start(
                    config.erp.erp_base_url,
                    erp,
                    {
                        deal.account_id: deal.account_name
                        for deal in deals
                        if deal.account_id and deal.account_name
                    },
                    [deal.opportunity_id for deal in deals],
                    config.approval_share,
                    rng,
                    bills=config.finance,
                )
                if config.approval_share > 0 or config.finance
                else None
            )
            await bounded(config.concurrency, deals, close_tracked)
            deadline = time.monotonic() + config.timeout
            while time.monotonic() < deadline:
                if finance is not None:
                    await finance.act(_accepted(deals))
                await poll_orders(crm, deals)
                done = sum(1 for deal in deals if deal.order_number)
                progress.update(accepted, completed=done)
                if done == len(deals):
                    break
                await asyncio.sleep(0.5)
            elapsed = max((deal.accepted_at or time.time()) for deal in deals) - started
            if finance is not None:
                await finance.act(_accepted(deals))  # ship and bill what was accepted last
                await finance.aclose()

        counts = await count_erp_orders(erp, deals)
        exceptions = [
            row
            for row in await operator.list_exceptions(status="open")
            if row["crm_opportunity_id"] in {deal.opportunity_id for deal in deals}
        ]
        outcome = DemoOutcome(
            deals=deals,
            elapsed=elapsed,
            orders_in_erp=sum(counts.values()),
            duplicate_orders=sum(count - 1 for count in counts.values() if count > 1),
            exceptions=len(exceptions),
            latencies=[
                deal.accepted_at - deal.closed_at for deal in deals if deal.accepted_at is not None
            ],
            approved=len(finance.approved) if finance is not None else None,
            shipped=len(finance.shipped) if finance is not None else None,
        )
        _print_outcome(console, outcome)
        if finance is not None and config.finance:
            outcome.finance_checks = await settle_and_check(
                console, finance, operator, rng, first_day, config.settle_wait
            )
        return outcome
    finally:
        await crm.aclose()
        await erp.aclose()
        await operator.aclose()


def _accepted(deals: Sequence[DemoDeal]) -> set[str]:
    return {deal.opportunity_id for deal in deals if deal.order_number}


def _print_outcome(console: Console, outcome: DemoOutcome) -> None:
    table = Table(title="Closed-won → ERP order", show_header=False)
    table.add_row("deals closed won", str(len(outcome.deals)))
    table.add_row("orders accepted (on the opportunity)", str(outcome.accepted))
    table.add_row("orders in the ERP", str(outcome.orders_in_erp))
    table.add_row("duplicate orders", str(outcome.duplicate_orders))
    table.add_row("open exceptions", str(outcome.exceptions))
    if outcome.approved is not None:
        table.add_row("held for approval, approved by finance", str(outcome.approved))
        table.add_row("orders shipped by the warehouse", str(outcome.shipped))
    if outcome.latencies:
        table.add_row(
            "latency p50 / p95",
            f"{percentile(outcome.latencies, 0.5):.2f} s / "
            f"{percentile(outcome.latencies, 0.95):.2f} s",
        )
        table.add_row("throughput", f"{outcome.accepted / max(outcome.elapsed, 1e-9):.1f} deals/s")
    console.print(table)
