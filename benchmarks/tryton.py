"""tryton: what Syncline's order path costs on a real Tryton 8.2, call by call.

For each backend (Tryton on SQLite; on PostgreSQL too when a server is given) the
script builds a Tryton database in a temporary folder (from the bootstrap's cache),
serves it with ``trytond`` on 127.0.0.1 and measures, in the same run:

* connector: N deals one at a time through ``TrytonClient`` (a new customer, the
  deal's 2-3 catalog SKUs, the sale created, quoted and confirmed): every HTTP call
  timed by kind (method, model, button), calls per deal, seconds per deal;
* baseline: the same orders from a plain sequential JSON-RPC script as admin (party
  with address, sale with lines, quote, confirm; no find-or-create, no idempotency),
  and the ratio connector deals/s / baseline deals/s;
* concurrency: the connector path with 1, 2, 4, 8 deals at a time (the ERP governor
  at the same limit), deals/s, errors by class and by HTTP status, transactions trytond
  retried itself, duplicate sales; on trytond's own server (one process, a thread per
  request) and, when gunicorn is importable, on gunicorn with --workers processes;
* batching: the baseline with one JSON-RPC call per step for a batch of sales;
* invoices: post and pay (as the accountant) for some confirmed sales, and the
  invoice changes read back through ``TrytonClient.changes`` in pages.

Then, unless --stack-deals 0, close_won.py's measurement on the real stack with Tryton
(``syncline dev --erp tryton``: Temporal, worker, API, sandbox CRM, Tryton on SQLite
behind the fault proxy): Syncline against the plain-script baseline, same ERP limit.

    python benchmarks/tryton.py [--deals 30] [--postgres-uri postgresql://user@host:port/]
        [--workers 2] [--stack-deals 30] [--json benchmarks/results/tryton.json]

PostgreSQL also comes from SYNCLINE_TEST_POSTGRES_URL (``eval "$(bash .ci/postgres.sh)"``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import importlib.util
import json
import os
import random
import secrets
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx
from close_won import (
    Run,
    _baseline_deals,
    _syncline_run,
    _unloaded_latency,
)
from cpu import CpuClock  # benchmarks/ is sys.path[0]

from connectors.errors import ConnectorError, TransientError
from connectors.governor import LocalGovernor
from connectors.salesforce import SalesforceClient
from connectors.tryton import TrytonClient
from models.billing import ChangeCursor
from models.changes import ChangeKind
from models.crm import Address
from models.erp import CustomerUpsert, SalesOrder, SalesOrderDraft, SalesOrderLine
from models.types import Money
from sandbox.catalog import DEFAULT_CATALOG
from sandbox.tryton.accountant import TrytonAccountant
from sandbox.tryton.bootstrap import TrytonSetup, init_database, trytond_argv
from sandbox.tryton.server import HOST, free_port, serving
from workers.demo import (
    DemoDeal,
    bounded,
    count_erp_orders,
    open_deals,
    percentile,
    seed_crm_catalog,
)
from workers.dev_stack import DevStack, StackOptions, StackPorts

LEVELS = (1, 2, 4, 8)
PRICES = {item.sku: item.price for item in DEFAULT_CATALOG}
WARM_UP_DEALS = 2
POST_CHUNK = 20  # invoices per batched post: about 0.3 s each, kept well inside RPC_TIMEOUT
RPC_TIMEOUT = 120.0
DEAL_ATTEMPTS = 5  # a failed deal is retried as the engine retries the activity
T = TypeVar("T")


# --- deals -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deal:
    """One closed-won opportunity as the order path sees it: a new account and its lines."""

    opportunity_id: str
    account_id: str
    name: str
    lines: tuple[tuple[str, int], ...]  # (sku, quantity)


def make_deals(tag: str, count: int, rng: random.Random) -> list[Deal]:
    skus = sorted(PRICES)
    return [
        Deal(
            opportunity_id=f"006{tag}{n:06d}",
            account_id=f"001{tag}{n:06d}",
            name=f"Bench {tag} customer {n}",
            lines=tuple((sku, rng.randint(1, 20)) for sku in rng.sample(skus, rng.randint(2, 3))),
        )
        for n in range(count)
    ]


ADDRESS = {"street": "1 Main Street", "city": "Springfield", "postal_code": "12345"}


# --- timing ------------------------------------------------------------------------------


class CallLog:
    """Seconds per call kind, and the answers' HTTP statuses."""

    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.statuses: Counter[int] = Counter()
        self.failures: Counter[str] = Counter()  # "503 search sale.sale ...: message"

    def add(self, kind: str, seconds: float, status: int = 200) -> None:
        self.samples[kind].append(seconds)
        self.statuses[status] += 1

    def clear(self) -> None:
        self.samples.clear()
        self.statuses.clear()
        self.failures.clear()

    @property
    def calls(self) -> int:
        return sum(len(v) for v in self.samples.values())

    @property
    def seconds(self) -> float:
        return sum(sum(v) for v in self.samples.values())


def call_kind(request: httpx.Request) -> str:
    """``search party.party by code``, ``create sale.sale``, ``quote sale.sale`` ..."""
    parts = request.url.path.split("/rest/model/", 1)[-1].split("/")
    model = parts[0]
    if len(parts) >= 3:
        return f"{parts[2]} {model}"
    if request.method == "GET" and len(parts) == 2:
        return f"read {model}"
    if request.method == "GET":
        domain = request.url.params.get("d")
        by = ""
        if domain:
            decoded = json.loads(base64.urlsafe_b64decode(domain))
            firsts = [c[0] for c in decoded if isinstance(c, list) and c and isinstance(c[0], str)]
            by = f" by {firsts[0]}" if firsts else ""
        return f"search {model}{by}"
    return {"POST": "create", "PUT": "write", "DELETE": "delete"}.get(
        request.method, request.method
    ) + f" {model}"


class TimingTransport(httpx.AsyncBaseTransport):
    """Times every request TrytonClient sends, body included, by call kind."""

    def __init__(self, log: CallLog, max_connections: int = 20) -> None:
        self.log = log
        limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._inner = httpx.AsyncHTTPTransport(limits=limits)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        begun = time.perf_counter()
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        kind = call_kind(request)
        self.log.add(kind, time.perf_counter() - begun, response.status_code)
        if response.status_code >= 400:
            text = " ".join(content.decode(errors="replace").split())
            self.log.failures[f"{response.status_code} {kind}: {text[:160]}"] += 1
        return httpx.Response(
            response.status_code, headers=response.headers, content=content, request=request
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class TimedAccountant:
    """JSON-RPC as admin, every call timed under a kind of the caller's choosing."""

    def __init__(self, accountant: TrytonAccountant, log: CallLog) -> None:
        self.accountant = accountant
        self.log = log

    async def call(self, kind: str, method: str, *params: Any) -> Any:
        begun = time.perf_counter()
        result = await self.accountant.call(method, *params)
        self.log.add(kind, time.perf_counter() - begun)
        return result

    async def timed(self, kind: str, action: Awaitable[T]) -> T:
        begun = time.perf_counter()
        result = await action
        self.log.add(kind, time.perf_counter() - begun)
        return result


# --- results -----------------------------------------------------------------------------


@dataclass
class CallStats:
    kind: str
    calls: int
    per_deal: float
    mean_ms: float
    p50_ms: float
    p95_ms: float
    share: float  # of all call time in the run


@dataclass
class PathRun:
    name: str
    deals: int
    seconds: float
    deals_per_second: float
    deal_p50_s: float
    deal_p95_s: float
    calls_per_deal: float
    call_seconds_per_deal: float
    trytond_cpu_per_deal_s: float
    client_cpu_per_deal_s: float  # this process: the client library, JSON, pydantic models
    calls: list[CallStats]


@dataclass
class ConcurrencyRun:
    server: str
    concurrency: int
    deals: int
    completed: int
    seconds: float
    deals_per_second: float
    speedup: float
    deal_p50_s: float
    deal_p95_s: float
    server_cpu_cores: float  # server CPU seconds per wall second (1.0 = one core busy)
    peak_in_flight: int
    retried_deals: int
    failed_deals: int
    server_retries: int  # transactions trytond retried itself: contention the client never sees
    errors: dict[str, int]
    http_statuses: dict[str, int]
    failed_calls: dict[str, int]  # status, call kind and Tryton's message
    duplicate_sales: int


@dataclass
class BatchRun:
    batch_size: int
    deals: int
    seconds: float
    deals_per_second: float
    gain_over_sequential: float
    per_record_ms: dict[str, float]
    sequential_per_record_ms: dict[str, float]


@dataclass
class InvoiceRun:
    invoices: int
    calls: list[CallStats]
    batch_posted: int
    batch_post_per_invoice_ms: float
    feed_invoices: int
    feed_pages: int
    feed_page_limit: int
    feed_page_mean_ms: float
    feed_page_p95_ms: float


@dataclass
class BackendResult:
    backend: str
    setup_seconds: float
    connector: PathRun
    baseline: PathRun
    ratio: float
    concurrency: list[ConcurrencyRun]
    batching: BatchRun
    invoices: InvoiceRun
    notes: list[str] = field(default_factory=list)


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 1)


def call_stats(log: CallLog, deals: int) -> list[CallStats]:
    total = log.seconds or 1.0
    stats = [
        CallStats(
            kind=kind,
            calls=len(samples),
            per_deal=round(len(samples) / max(deals, 1), 2),
            mean_ms=_ms(sum(samples) / len(samples)),
            p50_ms=_ms(percentile(samples, 0.5)),
            p95_ms=_ms(percentile(samples, 0.95)),
            share=round(sum(samples) / total, 3),
        )
        for kind, samples in log.samples.items()
    ]
    return sorted(stats, key=lambda s: -s.share)


def path_run(
    name: str,
    log: CallLog,
    latencies: Sequence[float],
    seconds: float,
    cpu: float,
    client_cpu: float,
) -> PathRun:
    deals = len(latencies)
    return PathRun(
        name=name,
        deals=deals,
        seconds=round(seconds, 2),
        deals_per_second=round(deals / seconds, 2),
        deal_p50_s=round(percentile(latencies, 0.5), 3),
        deal_p95_s=round(percentile(latencies, 0.95), 3),
        calls_per_deal=round(log.calls / deals, 2),
        call_seconds_per_deal=round(log.seconds / deals, 3),
        trytond_cpu_per_deal_s=round(cpu / deals, 3),
        client_cpu_per_deal_s=round(client_cpu / deals, 3),
        calls=call_stats(log, deals),
    )


# --- the trytond server ------------------------------------------------------------------


# Only the REST wrapper's "Retry: n" (a transaction retried after a lock or a
# serialisation failure) is logged below ERROR: it shows contention the client never sees.
LOG_CONFIG = """\
[loggers]
keys=root,wrappers
[handlers]
keys=stderr
[formatters]
keys=plain
[logger_root]
level=ERROR
handlers=stderr
[logger_wrappers]
level=DEBUG
handlers=
qualname=trytond.protocols.wrappers
[handler_stderr]
class=StreamHandler
args=(sys.stderr,)
formatter=plain
[formatter_plain]
format=%(process)s [%(asctime)s] %(levelname)s %(name)s %(message)s
"""


@dataclass(frozen=True)
class Server:
    setup: TrytonSetup
    label: str
    base_url: str
    cpu: CpuClock
    log_path: Path

    def retries(self) -> int:
        """Transactions trytond retried so far (each after a DatabaseOperationalError)."""
        return self.log_path.read_text(errors="replace").count("Retry: ")


def gunicorn_available() -> bool:
    return importlib.util.find_spec("gunicorn") is not None


def _server_command(
    setup: TrytonSetup, port: int, workers: int, log_config: Path
) -> tuple[list[str], dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRYTOND_")}
    if not workers:
        # trytond's own server (werkzeug, one process, a thread per request), as the
        # sandbox and the tests run it; `env` execs Python, so the pid is trytond's.
        return [*trytond_argv(setup, HOST, port), "--logconf", str(log_config)], env
    # The shape of a production install: a pre-forking WSGI server, one Python
    # process per worker, the models loaded once before the fork.
    env |= {
        "TRYTOND_CONFIG": str(setup.config_file),
        "TRYTOND_DATABASE_NAMES": setup.database,
        "TRYTOND_LOGGING_CONFIG": str(log_config),
    }
    command = [sys.executable, "-m", "gunicorn", "--preload", "-w", str(workers)]
    return [*command, "-b", f"{HOST}:{port}", "trytond.application:app"], env


@contextmanager
def serve(
    setup: TrytonSetup, workdir: Path, workers: int = 0, timeout: float = 90
) -> Iterator[Server]:
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    label = f"gunicorn, {workers} worker processes" if workers else "trytond (werkzeug, threads)"
    log_path = workdir / f"trytond-{workers}.log"
    log_config = workdir / "logging.conf"
    log_config.write_text(LOG_CONFIG)
    command, env = _server_command(setup, port, workers, log_config)
    with serving(command, port, log_path, env=env, timeout=timeout) as process:
        yield Server(setup, label, base_url, CpuClock(process.pid), log_path)


def _accountant(server: Server) -> TrytonAccountant:
    setup = server.setup
    return TrytonAccountant(
        server.base_url,
        setup.database,
        setup.admin_login,
        setup.admin_password,
        timeout=RPC_TIMEOUT,
    )


def connector(server: Server, log: CallLog, governor: LocalGovernor | None = None) -> TrytonClient:
    return TrytonClient(
        server.base_url,
        server.setup.database,
        server.setup.application_key,
        company_id=server.setup.company_id,  # as the stack sets SYNCLINE_ERP_COMPANY
        governor=governor or LocalGovernor(20),
        transport=TimingTransport(log),
    )


# --- the connector path ------------------------------------------------------------------


async def connector_deal(erp: TrytonClient, deal: Deal) -> SalesOrder:
    """What the ERP activity does for a closed-won deal with a new account."""
    customer = await erp.upsert_customer(
        CustomerUpsert(
            external_id=deal.account_id,
            company_name=deal.name,
            billing_address=Address(**ADDRESS),
            currency="USD",
        )
    )
    items = await erp.find_items([sku for sku, _ in deal.lines])
    return await erp.create_sales_order(
        SalesOrderDraft(
            external_id=deal.opportunity_id,
            customer_id=customer.id,
            currency="USD",
            tran_date=date.today(),
            lines=[
                SalesOrderLine(
                    item_id=items[sku].id,
                    sku=sku,
                    quantity=Decimal(quantity),
                    rate=Money(amount=PRICES[sku], currency="USD"),
                )
                for sku, quantity in deal.lines
            ],
        )
    )


@dataclass
class Level:
    """What the passes at one concurrency level saw, added up."""

    level: int
    deals: list[Deal] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0
    retries: int = 0
    retried: int = 0
    failed: int = 0
    peak: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    log: CallLog = field(default_factory=CallLog)


async def connector_pass(server: Server, level: Level, deals: list[Deal]) -> None:
    """``deals`` through the connector ``level.level`` at a time; a deal that fails with a
    transient error is retried, as the engine retries the activity."""
    governor = LocalGovernor(level.level)
    erp = connector(server, level.log, governor)

    async def one(deal: Deal) -> None:
        begun = time.perf_counter()
        for attempt in range(1, DEAL_ATTEMPTS + 1):
            try:
                await connector_deal(erp, deal)
            except ConnectorError as exc:
                level.errors[type(exc).__name__] += 1
                if not isinstance(exc, TransientError) or attempt == DEAL_ATTEMPTS:
                    level.failed += 1
                    return
                level.retried += attempt == 1
                await asyncio.sleep(0.1 * attempt)
            else:
                level.latencies.append(time.perf_counter() - begun)
                return

    async with erp:
        retries, cpu, started = server.retries(), server.cpu.seconds(), time.perf_counter()
        await bounded(level.level, deals, one)
        level.seconds += time.perf_counter() - started
        level.cpu += server.cpu.seconds() - cpu
        level.retries += server.retries() - retries
    level.deals += deals
    level.peak = max(level.peak, governor.peak)


async def concurrency_run(
    server: Server, accountant: TrytonAccountant, level: Level, base: float
) -> ConcurrencyRun:
    rate = len(level.latencies) / level.seconds
    log = level.log
    return ConcurrencyRun(
        server=server.label,
        concurrency=level.level,
        deals=len(level.deals),
        completed=len(level.latencies),
        seconds=round(level.seconds, 2),
        deals_per_second=round(rate, 2),
        speedup=round(rate / base, 2) if base else 1.0,
        deal_p50_s=round(percentile(level.latencies, 0.5), 3),
        deal_p95_s=round(percentile(level.latencies, 0.95), 3),
        server_cpu_cores=round(level.cpu / level.seconds, 2),
        peak_in_flight=level.peak,
        retried_deals=level.retried,
        failed_deals=level.failed,
        server_retries=level.retries,
        errors=dict(level.errors),
        http_statuses={str(k): v for k, v in sorted(log.statuses.items()) if v},
        failed_calls=dict(log.failures),
        duplicate_sales=await duplicate_sales(accountant, [d.opportunity_id for d in level.deals]),
    )


async def duplicate_sales(accountant: TrytonAccountant, references: list[str]) -> int:
    sales = await accountant.call(
        "model.sale.sale.search_read",
        [("reference", "in", references), ("state", "!=", "cancelled")],
        0,
        None,
        None,
        ["reference"],
    )
    counts = Counter(sale["reference"] for sale in sales)
    return sum(n - 1 for n in counts.values())


# --- the baseline: plain JSON-RPC as admin -----------------------------------------------


@dataclass(frozen=True)
class Catalog:
    company: int
    currency: int
    products: dict[str, tuple[int, int]]  # sku -> (product id, sale unit id)


async def load_catalog(accountant: TrytonAccountant, setup: TrytonSetup) -> Catalog:
    """What a plain script looks up once before it starts."""
    (currency,) = await accountant.call("model.currency.currency.search", [("code", "=", "USD")])
    products = await accountant.call(
        "model.product.product.search_read",
        [("code", "in", sorted(PRICES))],
        0,
        None,
        None,
        ["code", "sale_uom"],
    )
    return Catalog(
        company=setup.company_id,
        currency=int(currency),
        products={p["code"]: (int(p["id"]), int(p["sale_uom"])) for p in products},
    )


def party_values(deal: Deal) -> dict[str, Any]:
    return {
        "name": deal.name,
        "code": deal.account_id,
        "addresses": [["create", [dict(ADDRESS)]]],
    }


def sale_values(catalog: Catalog, deal: Deal, party_id: int, address_id: int) -> dict[str, Any]:
    return {
        "company": catalog.company,
        "party": party_id,
        "currency": catalog.currency,
        "reference": deal.opportunity_id,
        "sale_date": date.today(),
        "invoice_address": address_id,
        "shipment_address": address_id,
        "lines": [
            [
                "create",
                [
                    {
                        "type": "line",
                        "product": catalog.products[sku][0],
                        "quantity": float(quantity),
                        "unit": catalog.products[sku][1],
                        "unit_price": PRICES[sku],
                        "description": sku,
                    }
                    for sku, quantity in deal.lines
                ],
            ]
        ],
    }


async def baseline_deal(rpc: TimedAccountant, catalog: Catalog, deal: Deal) -> int:
    (party_id,) = await rpc.call("party create", "model.party.party.create", [party_values(deal)])
    (party,) = await rpc.call(
        "party read (address id)", "model.party.party.read", [party_id], ["addresses"]
    )
    (sale_id,) = await rpc.call(
        "sale create",
        "model.sale.sale.create",
        [sale_values(catalog, deal, party_id, party["addresses"][0])],
    )
    await rpc.call("sale quote", "model.sale.sale.quote", [sale_id])
    await rpc.call("sale confirm", "model.sale.sale.confirm", [sale_id])
    return int(sale_id)


class Meter:
    """Seconds, server CPU and client CPU of one path's deals, run one at a time."""

    def __init__(self, server: Server, log: CallLog) -> None:
        self.server = server
        self.log = log
        self.latencies: list[float] = []
        self.cpu = 0.0
        self.client = 0.0

    async def measure(self, action: Awaitable[T]) -> T:
        cpu, client, begun = self.server.cpu.seconds(), time.process_time(), time.perf_counter()
        result = await action
        self.latencies.append(time.perf_counter() - begun)
        self.cpu += self.server.cpu.seconds() - cpu
        self.client += time.process_time() - client
        return result

    def run(self, name: str) -> PathRun:
        seconds = sum(self.latencies)  # one deal at a time: the deals' own time
        return path_run(name, self.log, self.latencies, seconds, self.cpu, self.client)


async def sequential(
    server: Server, rpc: TimedAccountant, catalog: Catalog, count: int, rng: random.Random
) -> tuple[PathRun, PathRun, list[SalesOrder]]:
    """The connector and the baseline one deal at a time, alternating deal by deal, so
    that both see the same machine (a shared machine drifts over a minute)."""
    log = CallLog()
    connector_deals, baseline_deals = make_deals("TRYS", count, rng), make_deals("TRYB", count, rng)
    async with connector(server, log) as erp:
        for deal in make_deals("TRYW", WARM_UP_DEALS, rng):  # fill Tryton's caches
            await connector_deal(erp, deal)
        for deal in make_deals("TRYV", WARM_UP_DEALS, rng):
            await baseline_deal(rpc, catalog, deal)
        log.clear()
        rpc.log.clear()
        ours, theirs = Meter(server, log), Meter(server, rpc.log)
        orders: list[SalesOrder] = []
        for mine, plain in zip(connector_deals, baseline_deals, strict=True):
            orders.append(await ours.measure(connector_deal(erp, mine)))
            await theirs.measure(baseline_deal(rpc, catalog, plain))
    return ours.run("connector"), theirs.run("baseline"), orders


async def baseline_batched(
    rpc: TimedAccountant, catalog: Catalog, deals: list[Deal], size: int, sequential: PathRun
) -> BatchRun:
    rpc.log.clear()
    started = time.perf_counter()
    for start in range(0, len(deals), size):
        batch = deals[start : start + size]
        party_ids = await rpc.call(
            "party create", "model.party.party.create", [party_values(d) for d in batch]
        )
        parties = await rpc.call(
            "party read (address id)", "model.party.party.read", party_ids, ["addresses"]
        )
        addresses = {p["id"]: p["addresses"][0] for p in parties}
        sale_ids = await rpc.call(
            "sale create",
            "model.sale.sale.create",
            [
                sale_values(catalog, d, pid, addresses[pid])
                for d, pid in zip(batch, party_ids, strict=True)
            ],
        )
        await rpc.call("sale quote", "model.sale.sale.quote", sale_ids)
        await rpc.call("sale confirm", "model.sale.sale.confirm", sale_ids)
    seconds = time.perf_counter() - started
    rate = len(deals) / seconds
    return BatchRun(
        batch_size=size,
        deals=len(deals),
        seconds=round(seconds, 2),
        deals_per_second=round(rate, 2),
        gain_over_sequential=round(rate / sequential.deals_per_second, 2),
        per_record_ms={k: _ms(sum(v) / len(deals)) for k, v in rpc.log.samples.items()},
        sequential_per_record_ms={c.kind: c.mean_ms for c in sequential.calls},
    )


# --- invoices ----------------------------------------------------------------------------


async def invoices(
    server: Server,
    rpc: TimedAccountant,
    orders: list[SalesOrder],
    batch_post_limit: int,
    page_limit: int,
) -> InvoiceRun:
    rpc.log.clear()
    for order in orders:
        (invoice,) = await rpc.timed(
            "find invoice of sale", rpc.accountant.invoices_for_sale(int(order.id))
        )
        await rpc.timed("post invoice", rpc.accountant.post_invoice(invoice["id"]))
        await rpc.timed(
            "pay invoice (wizard)",
            rpc.accountant.pay_invoice(invoice["id"], invoice["total_amount"]),
        )
    calls = call_stats(rpc.log, len(orders))
    # More of the sales' draft invoices, posted in batched calls, so that the feed has pages.
    drafts = await rpc.accountant.call(
        "model.account.invoice.search",
        [("type", "=", "out"), ("state", "=", "draft")],
        0,
        batch_post_limit,
    )
    begun = time.perf_counter()
    for start in range(0, len(drafts), POST_CHUNK):
        await rpc.accountant.call("model.account.invoice.post", drafts[start : start + POST_CHUNK])
    batch_post = time.perf_counter() - begun
    log = CallLog()
    pages: list[float] = []
    seen = 0
    async with connector(server, log) as erp:
        cursor = ChangeCursor(modified_at=datetime(2000, 1, 1, tzinfo=UTC))
        while True:
            begun = time.perf_counter()
            page = await erp.changes(ChangeKind.INVOICE, cursor, page_limit)
            pages.append(time.perf_counter() - begun)
            seen += len(page.changes)
            if page.changes:
                cursor = page.changes[-1].position
            if not page.has_more:
                break
    return InvoiceRun(
        invoices=len(orders),
        calls=calls,
        batch_posted=len(drafts),
        batch_post_per_invoice_ms=_ms(batch_post / len(drafts)) if drafts else 0.0,
        feed_invoices=seen,
        feed_pages=len(pages),
        feed_page_limit=page_limit,
        feed_page_mean_ms=_ms(sum(pages) / len(pages)),
        feed_page_p95_ms=_ms(percentile(pages, 0.95)),
    )


# --- one backend -------------------------------------------------------------------------


def server_uri(url: str) -> str:
    """Any PostgreSQL URL (``postgresql+asyncpg://u@h:p/db`` too) as trytond's server URI."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql", parts.netloc, "/", "", ""))


def drop_database(uri: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    admin = urlunsplit(("postgresql", urlsplit(uri).netloc, "/postgres", "", ""))
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


async def run_backend(backend: str, db_uri: str | None, args: argparse.Namespace) -> BackendResult:
    rng = random.Random(backend)
    database = f"syncline_bench_{secrets.token_hex(4)}" if db_uri else "syncline"
    with tempfile.TemporaryDirectory(prefix="syncline-bench-tryton-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        setup = init_database(workdir / "tryton", database=database, db_uri=db_uri)
        setup_seconds = time.perf_counter() - started
        try:
            print(f"\n== Tryton 8.2 on {backend} (database ready in {setup_seconds:.1f} s) ==")
            with serve(setup, workdir) as server:
                async with _accountant(server) as accountant:
                    result = await _measure(backend, server, accountant, args, rng)
            if args.workers and gunicorn_available():
                with serve(setup, workdir, workers=args.workers) as server:
                    async with _accountant(server) as accountant:
                        result.concurrency += await _concurrency(server, accountant, args, rng)
            elif args.workers:
                result.notes.append("gunicorn is not installed: multi-process server not measured")
                print(result.notes[-1])
        finally:
            if db_uri:
                drop_database(db_uri, database)
    result.setup_seconds = round(setup_seconds, 1)
    return result


async def _concurrency(
    server: Server, accountant: TrytonAccountant, args: argparse.Namespace, rng: random.Random
) -> list[ConcurrencyRun]:
    """Each level in two passes, the levels up then down (1 2 4 8 8 4 2 1), so that a
    machine getting slower or faster during the sweep does not pass for a trend."""
    tag = "G" if "gunicorn" in server.label else "C"
    # Warm every worker process's caches first (two deals each, two at a time).
    await connector_pass(server, Level(2), make_deals(f"TRY{tag}W", 4, rng))
    levels = {n: Level(n) for n in args.levels}
    half = max(1, args.concurrent_deals // 2)
    for sweep, order in enumerate((args.levels, list(reversed(args.levels)))):
        for n in order:
            await connector_pass(server, levels[n], make_deals(f"TRY{tag}{n}P{sweep}", half, rng))
    runs: list[ConcurrencyRun] = []
    for n in args.levels:
        base = runs[0].deals_per_second if runs else 0.0
        runs.append(await concurrency_run(server, accountant, levels[n], base))
    print_concurrency(runs)
    return runs


async def _measure(
    backend: str,
    server: Server,
    accountant: TrytonAccountant,
    args: argparse.Namespace,
    rng: random.Random,
) -> BackendResult:
    rpc = TimedAccountant(accountant, CallLog())
    catalog = await load_catalog(accountant, server.setup)
    connector_run, baseline, orders = await sequential(server, rpc, catalog, args.deals, rng)
    print_path(connector_run, "connector: TrytonClient (REST), one deal at a time")
    print_path(baseline, "baseline: plain JSON-RPC as admin, one deal at a time (alternating)")
    ratio = round(connector_run.deals_per_second / baseline.deals_per_second, 3)
    print(f"ratio connector / baseline: {ratio:.2f}")
    levels = await _concurrency(server, accountant, args, rng)
    batching = await baseline_batched(
        rpc, catalog, make_deals("TRYX", args.deals, rng), args.batch, baseline
    )
    print_batching(batching)
    invoice_run = await invoices(
        server, rpc, orders[: args.invoices], args.feed_invoices, args.page_limit
    )
    print_invoices(invoice_run)
    return BackendResult(
        backend=backend,
        setup_seconds=0.0,
        connector=connector_run,
        baseline=baseline,
        ratio=ratio,
        concurrency=levels,
        batching=batching,
        invoices=invoice_run,
    )


# --- the full stack ----------------------------------------------------------------------


@dataclass
class StackResult:
    erp_limit: int
    syncline: Run
    baseline: Run
    ratio: float
    one_at_a_time: Run
    duplicate_orders: int


async def full_stack(args: argparse.Namespace) -> StackResult:
    """close_won.py's measurement on `syncline dev --erp tryton` (Tryton on SQLite)."""
    limit = args.stack_limit
    with tempfile.TemporaryDirectory(prefix="syncline-bench-stack-") as workdir:
        stack = DevStack(
            StackOptions(
                # The webhook path alone: what this counts (deliveries, duplicates, ERP calls)
                # is the webhook's; the CRM change stream is measured on a stack of its own.
                crm_stream="off",
                workdir=Path(workdir),
                ports=StackPorts.free(),
                ui=False,
                erp="tryton",
                erp_concurrency_limit=limit,
            )
        )
        env = await stack.start(timeout=180)

        def erp_client(governor: LocalGovernor | None = None) -> TrytonClient:
            return TrytonClient(
                stack.erp_url,  # the fault proxy in front of Tryton, as the worker uses it
                env["SYNCLINE_ERP_DATABASE"],
                env["SYNCLINE_ERP_CLIENT_SECRET"],
                company_id=int(env["SYNCLINE_ERP_COMPANY"]),
                governor=governor,
            )

        crm = SalesforceClient(
            stack.crm_url, env["SYNCLINE_CRM_CLIENT_ID"], env["SYNCLINE_CRM_CLIENT_SECRET"]
        )
        erp = erp_client()
        try:
            entries = await seed_crm_catalog(crm, erp)
            syncline_deals = await open_deals(
                crm, entries, args.stack_deals, "s", random.Random("s"), concurrency=10
            )
            single_deals = await open_deals(crm, entries, 5, "u", random.Random("u"), concurrency=5)
            baseline_deals = await open_deals(
                crm, entries, args.stack_deals, "b", random.Random("b"), concurrency=10
            )
            syncline = await _syncline_run(crm, syncline_deals, args.stack_timeout)
            baseline = await _stack_baseline(crm, erp_client(LocalGovernor(limit)), baseline_deals)
            single = await _unloaded_latency(crm, single_deals)
            counts = await count_erp_orders(erp, [*syncline_deals, *single_deals])
        finally:
            await crm.aclose()
            await erp.aclose()
            stack.stop()
    result = StackResult(
        erp_limit=limit,
        syncline=syncline,
        baseline=baseline,
        ratio=round(syncline.deals_per_second / baseline.deals_per_second, 3),
        one_at_a_time=single,
        duplicate_orders=sum(n - 1 for n in counts.values() if n > 1),
    )
    print_stack(result)
    return result


async def _stack_baseline(crm: SalesforceClient, erp: TrytonClient, deals: list[DemoDeal]) -> Run:
    try:
        run, _ = await _baseline_deals(crm, erp, deals)  # Tryton has no concurrency pool
        return run
    finally:
        await erp.aclose()


# --- printing ----------------------------------------------------------------------------


def print_calls(calls: Sequence[CallStats]) -> None:
    print(f"  {'call':<38} {'per deal':>8} {'mean ms':>8} {'p50 ms':>7} {'p95 ms':>7} {'share':>6}")
    for c in calls:
        print(
            f"  {c.kind:<38} {c.per_deal:>8.2f} {c.mean_ms:>8.1f} {c.p50_ms:>7.1f} "
            f"{c.p95_ms:>7.1f} {100 * c.share:>5.0f}%"
        )


def print_path(run: PathRun, title: str) -> None:
    print(
        f"\n{title}\n  {run.deals} deals in {run.seconds:.1f} s = "
        f"{run.deals_per_second:.2f} deals/s; per deal p50 {run.deal_p50_s:.3f} s, "
        f"p95 {run.deal_p95_s:.3f} s; {run.calls_per_deal:.1f} calls per deal, "
        f"{run.call_seconds_per_deal:.3f} s of them; CPU per deal: trytond "
        f"{run.trytond_cpu_per_deal_s:.3f} s, client {run.client_cpu_per_deal_s:.3f} s"
    )
    print_calls(run.calls)


def print_concurrency(levels: Sequence[ConcurrencyRun]) -> None:
    print(f"\nconnector on {levels[0].server}, deals at a time (ERP governor at the same limit):")
    print(
        f"  {'at once':>7} {'deals/s':>8} {'speedup':>8} {'p50 s':>6} {'p95 s':>6} "
        f"{'server CPU':>10} {'retried':>7} {'failed':>6} {'dupes':>5} {'tx retries':>10}"
        "  errors / HTTP statuses"
    )
    for r in levels:
        print(
            f"  {r.concurrency:>7} {r.deals_per_second:>8.2f} {r.speedup:>8.2f} "
            f"{r.deal_p50_s:>6.2f} {r.deal_p95_s:>6.2f} {r.server_cpu_cores:>9.2f}c "
            f"{r.retried_deals:>7} {r.failed_deals:>6} {r.duplicate_sales:>5} "
            f"{r.server_retries:>10}  {r.errors or '-'} / {r.http_statuses}"
        )
    for r in levels:
        for failure, count in r.failed_calls.items():
            print(f"  at {r.concurrency}: {count} x {failure}")


def print_batching(run: BatchRun) -> None:
    print(
        f"\nbaseline batched, {run.batch_size} sales per call: {run.deals} deals in "
        f"{run.seconds:.1f} s = {run.deals_per_second:.2f} deals/s "
        f"({run.gain_over_sequential:.1f}x the sequential baseline)"
    )
    for kind, ms in run.per_record_ms.items():
        before = run.sequential_per_record_ms.get(kind, float("nan"))
        print(f"  {kind:<38} {ms:>7.1f} ms per record (one at a time: {before:.1f} ms)")


def print_stack(result: StackResult) -> None:
    s, b, one = result.syncline, result.baseline, result.one_at_a_time
    print(f"\n== full stack: syncline dev --erp tryton (SQLite), ERP limit {result.erp_limit} ==")
    print(
        f"syncline : {s.deals} deals in {s.seconds:.1f} s = {s.deals_per_second:.2f} deals/s; "
        f"latency p50 {s.p50:.2f} s, p95 {s.p95:.2f} s"
    )
    print(
        f"baseline : {b.deals} deals in {b.seconds:.1f} s = {b.deals_per_second:.2f} deals/s; "
        f"per-deal p50 {b.p50:.2f} s, p95 {b.p95:.2f} s"
    )
    print(
        f"ratio syncline/baseline: {result.ratio:.2f}; one deal at a time ({one.deals}): "
        f"p50 {one.p50:.2f} s, p95 {one.p95:.2f} s; duplicate orders: {result.duplicate_orders}"
    )


def print_invoices(run: InvoiceRun) -> None:
    print(f"\ninvoices, accountant (JSON-RPC), {run.invoices} confirmed sales one at a time:")
    print_calls(run.calls)
    print(
        f"  posting {run.batch_posted} more, {POST_CHUNK} per call: "
        f"{run.batch_post_per_invoice_ms:.1f} ms per invoice\n"
        f"  invoice changes through TrytonClient: {run.feed_invoices} invoices in "
        f"{run.feed_pages} pages of {run.feed_page_limit}, mean {run.feed_page_mean_ms:.1f} ms, "
        f"p95 {run.feed_page_p95_ms:.1f} ms per page"
    )


# --- main --------------------------------------------------------------------------------


def _redact(uri: str) -> str:
    parts = urlsplit(uri)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{unquote(parts.username)}@" if parts.username else ""
    return urlunsplit((parts.scheme, f"{user}{host}{port}", parts.path, "", ""))


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--deals", type=int, default=30, help="deals per sequential run")
    parser.add_argument("--concurrent-deals", type=int, default=24, help="deals per level")
    parser.add_argument("--batch", type=int, default=10, help="sales per batched call")
    parser.add_argument("--invoices", type=int, default=10, help="invoices posted and paid")
    parser.add_argument("--feed-invoices", type=int, default=60, help="posted in batches")
    parser.add_argument("--page-limit", type=int, default=50)
    parser.add_argument(
        "--levels",
        type=lambda text: [int(n) for n in text.split(",")],
        default=list(LEVELS),
        help="deals at a time, comma-separated",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=2,
        help="also run the concurrency levels on gunicorn with this many workers (0: no)",
    )
    parser.add_argument("--stack-deals", type=int, default=30, help="0: no full-stack run")
    parser.add_argument("--stack-limit", type=int, default=2, help="ERP limit of the stack")
    parser.add_argument("--stack-timeout", type=float, default=300)
    parser.add_argument("--postgres-uri", help="postgresql://user@127.0.0.1:PORT/")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    pg = args.postgres_uri or os.environ.get("SYNCLINE_TEST_POSTGRES_URL")
    started = time.perf_counter()
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} on {os.cpu_count()} cores")
    results: list[BackendResult] = []
    notes: list[str] = []
    if not args.no_sqlite:
        results.append(await run_backend("SQLite", None, args))
    if pg:
        results.append(await run_backend("PostgreSQL", server_uri(pg), args))
    else:
        notes.append("PostgreSQL skipped: no --postgres-uri and no SYNCLINE_TEST_POSTGRES_URL")
        print(f"\n{notes[-1]}")
    stack = await full_stack(args) if args.stack_deals else None
    print(
        f"\ntotal {time.perf_counter() - started:.0f} s; "
        f"load average after: {os.getloadavg()[0]:.2f}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps(
                {
                    "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "cores": os.cpu_count(),
                    "seconds": round(time.perf_counter() - started),
                    "load_average_before_after": [
                        round(load_before[0], 2),
                        round(os.getloadavg()[0], 2),
                    ],
                    "postgres": _redact(server_uri(pg)) if pg else None,
                    "options": {k: v for k, v in vars(args).items() if k != "postgres_uri"}
                    | {"json": str(args.json)},
                    "backends": [asdict(r) for r in results],
                    "full_stack": asdict(stack) if stack else None,
                    "notes": notes,
                },
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    asyncio.run(main())
