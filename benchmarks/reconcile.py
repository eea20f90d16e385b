"""reconcile: the reconciliation engine on a million orders a side, and ten million keys
by hashed ranges, against datacompy on pandas in the same run.

Data (seeded ``random.Random``), into two SQLite files per size: the CRM's won
opportunities (18-character Salesforce-style ids, amount as decimal text, currency,
close date, last modified) and the ERP's orders (external id = the opportunity id, order
id, order number, total, currency, status, modified at), each keyed on the join key and
carrying ``row_hash``: the first 4 bytes of BLAKE2b of ``key|amount|currency|live``
(``cancelled`` for a cancelled order), the same on both sides, so rows that agree hash
equal. A share of the keys drifts, in six classes taken in turn: no ERP order (missing
order), an ERP order and no won opportunity (orphan), another amount, another currency,
the ERP order cancelled (status drift), and a second live ERP order (duplicate: the
ERP table's key is (external id, order id)). The drifted keys and their classes are the
ground truth every contender is checked against.

Each contender runs in a process of its own (this script again, ``--contender``), on a
copy of the project's packages taken when the run starts (others work in the tree while
a run goes; the commit is in the results), and reports its wall time, its peak RSS
(``VmHWM``) and its CPU time:

* ``syncline``: the product's orders pass itself (``reconciliation.orders_pass``), over
  listing readers on the two files (``SqlCrm``, ``SqlErp``: keyset pages of 5,000 by
  key, SQLAlchemy async on aiosqlite, the rows of ``models.order_rows``) and a ledger
  that agrees with the ERP (``AgreeingLedger``: events made from the listed orders, as
  the store would return them). The pass reads the next page of each side while the
  current one is merged (``merge_join``), counts the bookings, reads the ledger per
  batch and compares by ``classify_rows``: a key whose rows agree is decided on them,
  every other key gets ``Opportunity`` and ``OrderChange`` models and goes through
  ``classify_order``. The collector tuned as the compare activity tunes it
  (``collector_for_comparison``). Findings by class must equal the truth;
* ``untuned``: ``syncline`` with the collector's defaults;
* ``rows``: ``classify_rows`` driven directly on the driver's rows (pages on (key,
  order id)), the ledger as rows made from the ERP's (see ``ledger_of``), no metrics:
  the comparison without the pass around it;
* ``models``: the path before ``classify_rows``: a model built for every row, every
  key through ``classify_order``, collector's defaults;
* ``merge``, ``read``, ``raw``: where the time goes. ``merge``: read, build the models
  and ``merge_join``, no classification; ``read``: read and build the models only;
  ``raw``: read and ``merge_join`` the driver's rows, no models;
* ``datacompy``: ``datacompy.PandasCompare`` on DataFrames read from the same files
  (``pandas.read_sql_query``), joined on the key, comparing amount (as float64),
  currency and live/cancelled; the differing keys (rows on one side only, rows that
  mismatch) must equal the truth's keys;
* ``ranges``: ``compare_ranges`` over two ``SqlRangeSource``, every key of a
  differing leaf classified as above; at the large size, and at the small one to show
  memory staying flat.

    python benchmarks/reconcile.py --workdir /tmp/reconcile --repeat 3 \\
        --json benchmarks/results/reconcile.json               # full: 1M and 10M keys
    python benchmarks/reconcile.py --keys 100000 --range-keys 1000000   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import hashlib
import importlib
import importlib.metadata
import inspect
import json
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from models.changes import OrderChange
    from models.crm import Opportunity
    from reconciliation.context import Policy
    from reconciliation.merge import Joined
    from reconciliation.order_rows import LedgerRow
    from reconciliation.orders import LedgerOrder

T = TypeVar("T")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # the project's packages, for the contender processes

DATA_VERSION = 1
"""Bumped when the generated data changes: files of another version are regenerated."""

MISSING = "missing_order"
ORPHAN = "orphan_erp_order"
AMOUNT = "amount_mismatch"
CURRENCY = "currency_mismatch"
STATUS = "status_drift"
DUPLICATE = "duplicate_order"
CLASSES = (MISSING, ORPHAN, AMOUNT, CURRENCY, STATUS, DUPLICATE)
"""The seeded classes, named as ``DriftClass`` names them."""

CURRENCIES = ("USD",) * 6 + ("EUR",) * 2 + ("GBP", "CAD")
OTHER_CURRENCY = {"USD": "EUR", "EUR": "USD", "GBP": "USD", "CAD": "USD"}
FIRST_DAY = date(2025, 1, 1)
DAYS = 540
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
"""Base 62 in ASCII order, so fixed-width ids sort as the numbers they encode."""
ID_SPACE = 62**15
CHUNK = 100_000

CRM_SCHEMA = """
CREATE TABLE crm_opportunity (
    id TEXT NOT NULL PRIMARY KEY,
    amount TEXT NOT NULL,
    currency TEXT NOT NULL,
    close_date TEXT NOT NULL,
    last_modified TEXT NOT NULL,
    row_hash INTEGER NOT NULL
) WITHOUT ROWID
"""
CRM_INDEX = "CREATE INDEX crm_opportunity_hash ON crm_opportunity (id, row_hash)"
ERP_SCHEMA = """
CREATE TABLE erp_order (
    external_id TEXT NOT NULL,
    erp_order_id TEXT NOT NULL,
    order_number TEXT NOT NULL,
    total TEXT NOT NULL,
    currency TEXT NOT NULL,
    status TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    row_hash INTEGER NOT NULL,
    PRIMARY KEY (external_id, erp_order_id)
) WITHOUT ROWID
"""
ERP_INDEX = "CREATE INDEX erp_order_hash ON erp_order (external_id, row_hash)"

# The listing rows of ``models.order_rows`` (CRM_COLUMNS, ERP_COLUMNS); the columns only
# a model reads (account, name, stage; customer, the ERP's status name, date) are
# constants or copies here, as the connectors' rows carry them.
CRM_SELECT = (
    "SELECT id, amount, currency, close_date, last_modified, NULL AS erp_order_id, "
    "NULL AS account_id, id AS name, 'Closed Won' AS stage, NULL AS erp_order_status "
    "FROM crm_opportunity "
)
CRM_PAGE = CRM_SELECT + "WHERE id > :after ORDER BY id LIMIT :limit"
ERP_SELECT = (
    "SELECT external_id, erp_order_id, order_number, total, currency, status, modified_at, "
    "'' AS customer_id, status AS erp_status, NULL AS tran_date FROM erp_order "
)
ERP_PAGE = (
    ERP_SELECT + "WHERE (external_id, erp_order_id) > (:key, :order) "
    "ORDER BY external_id, erp_order_id LIMIT :limit"
)
ERP_BY_REFERENCE = (
    ERP_SELECT + "WHERE external_id > :after ORDER BY external_id, erp_order_id LIMIT :limit"
)
ERP_REST_OF_REFERENCE = (
    ERP_SELECT + "WHERE external_id = :key AND erp_order_id > :order ORDER BY erp_order_id"
)


# --- data -----------------------------------------------------------------------------


def row_hash(key: str, amount: str, currency: str, live: bool) -> int:
    """The 32-bit hash of the compared fields; ``amount`` in canonical form (two places,
    as ``money_text`` writes it), so equal amounts hash equal on both sides."""
    text = f"{key}|{amount}|{currency}|{'live' if live else 'cancelled'}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=4).digest(), "big")


def money_text(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


@functools.cache
def _triples() -> list[str]:
    """Every 3-character base-62 string, in order: made on first use (14 MiB), so the
    contenders' processes do not carry it."""
    return [a + b + c for a in ALPHABET for b in ALPHABET for c in ALPHABET]


def opportunity_id(number: int) -> str:
    """``006`` and 15 base-62 characters; ascending numbers give ascending ids."""
    triples = _triples()
    parts = []
    for _ in range(5):
        number, low = divmod(number, 238_328)  # 62 ** 3
        parts.append(triples[low])
    return "006" + "".join(reversed(parts))


@dataclass
class Dataset:
    keys: int
    drift: float
    seed: int
    crm_rows: int
    erp_rows: int
    seeded: dict[str, int]
    """Drifted keys per class."""
    generated_seconds: float
    truth: dict[str, str] = field(repr=False)
    """Key -> drift class."""
    directory: str = ""

    @property
    def records(self) -> int:
        return self.crm_rows + self.erp_rows


def dataset(directory: Path, keys: int, drift: float, seed: int) -> tuple[Dataset, bool]:
    """The dataset in ``directory``: reused when the files were made with the same
    size, drift and seed (second value True), otherwise generated."""
    meta = directory / "meta.json"
    if meta.exists():
        saved = json.loads(meta.read_text())
        if saved.get("version") == DATA_VERSION and (
            saved["keys"],
            saved["drift"],
            saved["seed"],
        ) == (
            keys,
            drift,
            seed,
        ):
            del saved["version"]
            saved["directory"] = str(directory)
            return Dataset(**saved), True
    return generate(directory, keys, drift, seed), False


def generate(directory: Path, keys: int, drift: float, seed: int) -> Dataset:
    started = time.perf_counter()
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("meta.json", "crm.sqlite", "erp.sqlite"):
        (directory / name).unlink(missing_ok=True)
    rng = random.Random(seed)
    drifted = rng.sample(range(keys), round(keys * drift))
    plan = {index: CLASSES[n % len(CLASSES)] for n, index in enumerate(drifted)}
    gap = ID_SPACE // keys
    days = [(FIRST_DAY + timedelta(days=d)).isoformat() for d in range(DAYS)]
    truth: dict[str, str] = {}
    crm_rows = erp_rows = 0
    with (
        closing(sqlite3.connect(directory / "crm.sqlite")) as crm,
        closing(sqlite3.connect(directory / "erp.sqlite")) as erp,
    ):
        for db, schema in ((crm, CRM_SCHEMA), (erp, ERP_SCHEMA)):
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            db.execute("PRAGMA cache_size = -262144")
            db.execute(schema)
        crm_chunk: list[tuple[str, str, str, str, str, int]] = []
        erp_chunk: list[tuple[str, str, str, str, str, str, str, int]] = []
        for i in range(keys):
            key = opportunity_id(i * gap + rng.getrandbits(60) % gap)
            bits = rng.getrandbits(64)
            cents = 10_000 + (bits & 0x3FFFFFF) % 50_000_000
            currency = CURRENCIES[(bits >> 26) % 10]
            day = days[(bits >> 30) % DAYS]
            second = (bits >> 40) % 86_000
            modified = f"{day}T{second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}Z"
            later = second + 300
            erp_modified = f"{day}T{later // 3600:02d}:{later // 60 % 60:02d}:{later % 60:02d}Z"
            amount = money_text(cents)
            hashed = row_hash(key, amount, currency, True)
            kind = plan.get(i)
            if kind is not None:
                truth[key] = kind
            if kind != ORPHAN:
                crm_chunk.append((key, amount, currency, day, modified, hashed))
            if kind != MISSING:
                order_id = str(10_000_000 + i)
                total, erp_currency, status = amount, currency, "open"
                if kind == AMOUNT:
                    total = money_text(cents + 1 + (bits >> 54) % 1000)
                elif kind == CURRENCY:
                    erp_currency = OTHER_CURRENCY[currency]
                elif kind == STATUS:
                    status = "cancelled"
                erp_hash = (
                    hashed
                    if (total, erp_currency, status) == (amount, currency, "open")
                    else row_hash(key, total, erp_currency, status != "cancelled")
                )
                erp_chunk.append(
                    (
                        key,
                        order_id,
                        f"SO{order_id}",
                        total,
                        erp_currency,
                        status,
                        erp_modified,
                        erp_hash,
                    )
                )
                if kind == DUPLICATE:
                    extra = str(100_000_000 + i)
                    erp_chunk.append(
                        (key, extra, f"SO{extra}", total, currency, "open", erp_modified, hashed)
                    )
            if len(crm_chunk) >= CHUNK or i == keys - 1:
                crm.executemany("INSERT INTO crm_opportunity VALUES (?, ?, ?, ?, ?, ?)", crm_chunk)
                erp.executemany("INSERT INTO erp_order VALUES (?, ?, ?, ?, ?, ?, ?, ?)", erp_chunk)
                crm_rows += len(crm_chunk)
                erp_rows += len(erp_chunk)
                crm_chunk, erp_chunk = [], []
        crm.execute(CRM_INDEX)
        erp.execute(ERP_INDEX)
        crm.commit()
        erp.commit()
    result = Dataset(
        keys=keys,
        drift=drift,
        seed=seed,
        crm_rows=crm_rows,
        erp_rows=erp_rows,
        seeded=dict(sorted(Counter(truth.values()).items())),
        generated_seconds=round(time.perf_counter() - started, 1),
        truth=truth,
        directory=str(directory),
    )
    saved = asdict(result)
    del saved["directory"]
    (directory / "meta.json").write_text(json.dumps({"version": DATA_VERSION, **saved}))
    return result


# --- contenders (each in its own process) -----------------------------------------------


@dataclass
class Run:
    contender: str
    keys: int
    records: int
    """Rows of both sides."""
    seconds: float
    records_per_second: float
    peak_rss_mib: float
    start_rss_mib: float
    """After imports, before the comparison: the interpreter and the libraries."""
    cpu_seconds: float
    findings: dict[str, int]
    matches_truth: bool | None
    mismatch: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mib() -> float:
    """This process image's peak RSS (``VmHWM``). Not ``ru_maxrss``: Linux carries that
    over ``execve`` from the forked parent, so a child would report the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def check(found: dict[str, str], truth: dict[str, str]) -> str | None:
    """None when the findings are the truth; otherwise what differs."""
    if found == truth:
        return None
    wrong = sorted(k for k in found.keys() & truth.keys() if found[k] != truth[k])
    extra = sorted(found.keys() - truth.keys())
    lost = sorted(truth.keys() - found.keys())
    return (
        f"{len(wrong)} misclassified (e.g. {[(k, found[k], truth[k]) for k in wrong[:3]]}), "
        f"{len(extra)} not seeded (e.g. {[(k, found[k]) for k in extra[:3]]}), "
        f"{len(lost)} not found (e.g. {[(k, truth[k]) for k in lost[:3]]})"
    )


def policy() -> Policy:
    from reconciliation.context import Policy

    # Far after every modification: nothing is in flight.
    return Policy(
        now=datetime(2100, 1, 1, tzinfo=UTC),
        sla=timedelta(hours=1),
        renewal_lead=timedelta(days=30),
    )


def to_opportunity(row: Sequence[Any]) -> Opportunity:
    """The product's model of a CRM row (``model_construct``: generated rows are
    trusted), as the engine builds it for a key that differs."""
    from reconciliation.order_rows import opportunity_from_row

    return opportunity_from_row(row)


def to_order(row: Sequence[Any]) -> OrderChange:
    from reconciliation.order_rows import order_from_row

    return order_from_row(row)


def ledger_of(batch: Sequence[Joined[Opportunity, OrderChange]]) -> dict[str, LedgerOrder]:
    """The ledger's view of a batch's ERP orders, agreeing with the ERP: each order
    booked at its total, cancelled ones cancelled. The ledger is a third system that
    neither side of this benchmark holds; this keeps ``classify_order`` on its full
    path (ledger lookups, the ERP/ledger comparison) without inventing ledger drift.
    The product reads it per batch from the store (``events_from_sources``); that query
    is not measured here."""
    from models.changes import OrderStatus
    from reconciliation.orders import LedgerOrder

    return {
        order.id: LedgerOrder(
            total=order.total, amendment=0, cancelled=order.status is OrderStatus.CANCELLED
        )
        for row in batch
        for order in row.right
    }


def ledger_rows(batch: Sequence[Joined[Sequence[Any], Sequence[Any]]]) -> dict[str, LedgerRow]:
    """``ledger_of`` for the driver's rows: the same bookings, as the ledger's rows."""
    from reconciliation.order_rows import LedgerRow

    return {
        order[1]: LedgerRow(order[3], order[4], order[5] == "cancelled")
        for row in batch
        for order in row.right
    }


def as_read(row: Sequence[Any]) -> Sequence[Any]:
    """The row as the driver returned it (a SQLAlchemy ``Row``, a tuple)."""
    return row


async def crm_pages(
    engine: AsyncEngine, size: int, build: Callable[[Sequence[Any]], T]
) -> AsyncIterator[list[T]]:
    import sqlalchemy as sa

    query = sa.text(CRM_PAGE)
    after = ""
    async with engine.connect() as connection:
        while True:
            rows = (await connection.execute(query, {"after": after, "limit": size})).all()
            if rows:
                yield [build(row) for row in rows]
            if len(rows) < size:
                return
            after = rows[-1][0]


async def erp_pages(
    engine: AsyncEngine, size: int, build: Callable[[Sequence[Any]], T]
) -> AsyncIterator[list[T]]:
    """Keyset pages on (external id, order id): an opportunity's orders may straddle
    a page boundary, and ``merge_join`` holds the last key back until the next page."""
    import sqlalchemy as sa

    query = sa.text(ERP_PAGE)
    after = ("", "")
    async with engine.connect() as connection:
        while True:
            params = {"key": after[0], "order": after[1], "limit": size}
            rows = (await connection.execute(query, params)).all()
            if rows:
                yield [build(row) for row in rows]
            if len(rows) < size:
                return
            after = (rows[-1][0], rows[-1][1])


def engines(data: Path) -> tuple[AsyncEngine, AsyncEngine]:
    from sqlalchemy.ext.asyncio import create_async_engine

    return (
        create_async_engine(f"sqlite+aiosqlite:///{data / 'crm.sqlite'}"),
        create_async_engine(f"sqlite+aiosqlite:///{data / 'erp.sqlite'}"),
    )


def classify_batch(
    batch: Sequence[Joined[Opportunity, OrderChange]], rules: Policy, found: dict[str, str]
) -> None:
    from reconciliation.orders import classify_order

    ledger = ledger_of(batch)
    for row in batch:
        finding = classify_order(
            row.key, row.left[0] if row.left else None, row.right, ledger, rules
        )
        if finding is not None:
            found[row.key] = str(finding.drift)


class SqlCrm:
    """The CRM's listing reader (``CrmClient.won_opportunity_rows``) over the CRM file."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.rows_read = 0

    async def won_opportunity_rows(
        self, after: str | None, limit: int, closed_since: date | None = None
    ) -> list[Sequence[Any]]:
        import sqlalchemy as sa

        async with self._engine.connect() as connection:
            params = {"after": after or "", "limit": limit}
            rows: list[Sequence[Any]] = list(
                (await connection.execute(sa.text(CRM_PAGE), params)).all()
            )
        self.rows_read += len(rows)
        return rows


class SqlErp:
    """The ERP's listing reader (``ErpClient.order_rows_by_reference``) over the ERP file:
    pages by external id, the last one's orders all in its page, as the ERPs page. It
    keeps what it listed for ``AgreeingLedger``."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.rows_read = 0
        self.listed: dict[str, Sequence[Any]] = {}

    async def order_rows_by_reference(
        self, after: str | None, limit: int, since: date | None = None
    ) -> list[Sequence[Any]]:
        import sqlalchemy as sa

        async with self._engine.connect() as connection:
            params = {"after": after or "", "limit": limit}
            rows: list[Sequence[Any]] = list(
                (await connection.execute(sa.text(ERP_BY_REFERENCE), params)).all()
            )
            if len(rows) == limit:
                rest = {"key": rows[-1][0], "order": rows[-1][1]}
                rows += (await connection.execute(sa.text(ERP_REST_OF_REFERENCE), rest)).all()
        self.rows_read += len(rows)
        self.listed.update((row[1], row) for row in rows)
        return rows


class Booked(NamedTuple):
    """What ``ledger_orders`` reads of a ``LedgerEvent``: the store's rows, without the
    ORM's objects (which the store's query makes, unmeasured here with the query)."""

    event_type: str
    source_id: str
    payload: dict[str, Any]


class AgreeingLedger:
    """``Store.events_from_sources`` for a ledger agreeing with the ERP (see
    ``ledger_of``): an ``order.accepted`` at each listed order's total, and an
    ``order.cancelled`` for a cancelled one. The product reads them from PostgreSQL; the
    query and its ORM objects are not measured here, the pass's reading of them is."""

    def __init__(self, erp: SqlErp) -> None:
        self._erp = erp

    async def events_from_sources(
        self, source_system: str, source_ids: Sequence[str], event_types: Sequence[str]
    ) -> list[Any]:
        from models.events import EventType

        events = []
        for order_id in source_ids:
            order = self._erp.listed.pop(order_id)
            payload = {"total": order[3], "currency": order[4]}
            events.append(Booked(EventType.ORDER_ACCEPTED, order_id, payload))
            if order[5] == "cancelled":
                events.append(Booked(EventType.ORDER_CANCELLED, order_id, {}))
        return events


async def product_pass(
    crm: SqlCrm, erp: SqlErp, page_size: int, found: dict[str, str]
) -> tuple[int, int]:
    """``orders_pass`` as the compare activity runs it; keys compared and rows read."""
    from models.events import SourceSystem
    from reconciliation.context import PassContext
    from reconciliation.orders_pass import orders_pass

    ctx = PassContext(
        crm=cast(Any, crm),
        erp=cast(Any, erp),
        erp_system=SourceSystem.NETSUITE,
        store=cast(Any, AgreeingLedger(erp)),
        policy=policy(),
        page_size=page_size,
    )
    compared = 0
    async for batch in orders_pass(ctx, None):
        compared += batch.compared
        for finding in batch.findings:
            found[finding.key] = str(finding.drift)
    return compared, crm.rows_read + erp.rows_read


async def streaming(mode: str, data: Dataset, page_size: int) -> Run:
    from reconciliation.collector import collector_for_comparison
    from reconciliation.merge import merge_join
    from reconciliation.order_rows import classify_rows

    crm, erp = engines(Path(data.directory))
    rules = policy()
    found: dict[str, str] = {}
    joined = rows_read = 0
    start_rss = rss_mib()
    cpu = cpu_seconds()
    started = time.perf_counter()
    if mode == "read":
        async for opportunities in crm_pages(crm, page_size, to_opportunity):
            rows_read += len(opportunities)
        async for orders in erp_pages(erp, page_size, to_order):
            rows_read += len(orders)
    elif mode in ("syncline", "untuned"):
        # The collector as the compare activity tunes it, for the product's path.
        tuning = collector_for_comparison() if mode == "syncline" else contextlib.nullcontext()
        with tuning:
            joined, rows_read = await product_pass(SqlCrm(crm), SqlErp(erp), page_size, found)
    elif mode in ("rows", "raw"):
        tuning = collector_for_comparison() if mode == "rows" else contextlib.nullcontext()
        with tuning:
            async for rows in merge_join(
                crm_pages(crm, page_size, as_read),
                erp_pages(erp, page_size, as_read),
                left_key=itemgetter(0),
                right_key=itemgetter(0),
                names=("the CRM's won opportunities", "the ERP's orders"),
            ):
                joined += len(rows)
                for raw in rows:
                    rows_read += len(raw.left) + len(raw.right)
                if mode != "raw":
                    for finding in classify_rows(rows, ledger_rows(rows), rules):
                        found[finding.key] = str(finding.drift)
    else:
        async for batch in merge_join(
            crm_pages(crm, page_size, to_opportunity),
            erp_pages(erp, page_size, to_order),
            left_key=lambda o: o.id,
            right_key=lambda o: o.crm_opportunity_id or "",
            names=("the CRM's won opportunities", "the ERP's orders"),
        ):
            joined += len(batch)
            for row in batch:
                rows_read += len(row.left) + len(row.right)
            if mode == "models":
                classify_batch(batch, rules, found)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    await crm.dispose()
    await erp.dispose()
    mismatch = None
    if rows_read != data.records:
        mismatch = f"read {rows_read} rows of {data.records}"
    elif mode != "read" and joined != data.keys:
        mismatch = f"joined {joined} keys of {data.keys}"
    elif mode in ("syncline", "untuned", "rows", "models"):
        mismatch = check(found, data.truth)
    return Run(
        contender=mode,
        keys=data.keys,
        records=data.records,
        seconds=seconds,
        records_per_second=data.records / seconds,
        peak_rss_mib=peak_rss_mib(),
        start_rss_mib=start_rss,
        cpu_seconds=cpu,
        findings=dict(sorted(Counter(found.values()).items())),
        matches_truth=mismatch is None,
        mismatch=mismatch,
        detail={"joined_keys": joined, "page_size": page_size} if mode != "read" else {},
    )


class Timed:
    """Wraps a RangeSource and adds up the seconds spent in each of its calls, by the
    method's name (whatever the protocol's methods are called)."""

    def __init__(self, source: object) -> None:
        self._source = source
        self.seconds: dict[str, float] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._source, name)
        if not inspect.iscoroutinefunction(method):
            return method

        async def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await method(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                self.seconds[name] = self.seconds.get(name, 0.0) + elapsed

        return timed


async def ranges(data: Dataset, leaf_rows: int | None, fan_out: int | None) -> Run:
    import sqlalchemy as sa

    from reconciliation.order_rows import classify_rows
    from reconciliation.ranges import RangeSource, RangeStats, compare_ranges
    from reconciliation.sql_ranges import SqlRangeSource

    crm_engine, erp_engine = engines(Path(data.directory))
    crm_table = sa.table(
        "crm_opportunity",
        *(sa.column(name) for name in ("id", "amount", "currency", "close_date")),
        sa.column("last_modified"),
        sa.column("row_hash", sa.Integer),
    )
    erp_table = sa.table(
        "erp_order",
        *(sa.column(name) for name in ("external_id", "erp_order_id", "order_number", "total")),
        *(sa.column(name) for name in ("currency", "status", "modified_at")),
        sa.column("row_hash", sa.Integer),
    )
    # The driver's rows, as the streaming path reads them: models only for keys that differ.
    crm: SqlRangeSource[Sequence[Any]] = SqlRangeSource(
        crm_engine,
        crm_table,
        key=crm_table.c.id,
        row_hash=crm_table.c.row_hash,
        columns=[crm_table.c[n] for n in ("id", "amount", "currency", "close_date")]
        + [crm_table.c.last_modified, sa.null().label("erp_order_id")]
        + [sa.null().label("account_id"), crm_table.c.id.label("name")]
        + [sa.literal("Closed Won").label("stage"), sa.null().label("erp_order_status")],
        to_row=as_read,
    )
    erp: SqlRangeSource[Sequence[Any]] = SqlRangeSource(
        erp_engine,
        erp_table,
        key=erp_table.c.external_id,
        row_hash=erp_table.c.row_hash,
        columns=[
            erp_table.c[n]
            for n in ("external_id", "erp_order_id", "order_number", "total", "currency")
        ]
        + [erp_table.c.status, erp_table.c.modified_at, sa.literal("").label("customer_id")]
        + [erp_table.c.status.label("erp_status"), sa.null().label("tran_date")],
        to_row=as_read,
    )
    rules = policy()
    found: dict[str, str] = {}
    stats = RangeStats()
    visited = 0
    timed_crm, timed_erp = Timed(crm), Timed(erp)
    # The engine's own defaults unless told otherwise.
    defaults = inspect.signature(compare_ranges).parameters
    leaf_rows = leaf_rows if leaf_rows is not None else defaults["leaf_rows"].default
    fan_out = fan_out if fan_out is not None else defaults["fan_out"].default
    classifying = 0.0
    start_rss = rss_mib()
    cpu = cpu_seconds()
    started = time.perf_counter()
    async for batch in compare_ranges(
        cast("RangeSource[Sequence[Any]]", timed_crm),
        cast("RangeSource[Sequence[Any]]", timed_erp),
        left_key=itemgetter(0),
        right_key=itemgetter(0),
        leaf_rows=leaf_rows,
        fan_out=fan_out,
        stats=stats,
    ):
        visited += len(batch)
        mark = time.perf_counter()
        for finding in classify_rows(batch, ledger_rows(batch), rules):
            found[finding.key] = str(finding.drift)
        classifying += time.perf_counter() - mark
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    await crm_engine.dispose()
    await erp_engine.dispose()
    mismatch = check(found, data.truth)
    return Run(
        contender="ranges",
        keys=data.keys,
        records=data.records,
        seconds=seconds,
        records_per_second=data.records / seconds,
        peak_rss_mib=peak_rss_mib(),
        start_rss_mib=start_rss,
        cpu_seconds=cpu,
        findings=dict(sorted(Counter(found.values()).items())),
        matches_truth=mismatch is None,
        mismatch=mismatch,
        detail={
            **asdict(stats),
            "keys_classified": visited,
            "rows_fetched_share": stats.rows_fetched / data.records,
            "leaf_rows": leaf_rows,
            "fan_out": fan_out,
            "seconds_in": {
                **{
                    f"{call} (both sides)": round(
                        timed_crm.seconds.get(call, 0.0) + timed_erp.seconds.get(call, 0.0), 2
                    )
                    for call in sorted(timed_crm.seconds.keys() | timed_erp.seconds.keys())
                },
                "classify": round(classifying, 2),
            },
        },
    )


def baseline(data: Dataset) -> Run:
    """datacompy on pandas: both sides loaded whole, then compared."""
    pd: Any = importlib.import_module("pandas")
    import datacompy

    start_rss = rss_mib()
    cpu = cpu_seconds()
    started = time.perf_counter()
    directory = Path(data.directory)
    with (
        closing(sqlite3.connect(directory / "crm.sqlite")) as crm_db,
        closing(sqlite3.connect(directory / "erp.sqlite")) as erp_db,
    ):
        crm = pd.read_sql_query("SELECT id AS key, amount, currency FROM crm_opportunity", crm_db)
        erp = pd.read_sql_query(
            "SELECT external_id AS key, total AS amount, currency, status FROM erp_order", erp_db
        )
    loaded = time.perf_counter() - started
    crm["amount"] = pd.to_numeric(crm["amount"]).astype("float64")
    crm["live"] = True  # won opportunities
    erp["amount"] = pd.to_numeric(erp["amount"]).astype("float64")
    erp["live"] = erp["status"] != "cancelled"
    erp = erp.drop(columns=["status"])
    compare = datacompy.PandasCompare(crm, erp, join_columns="key", df1_name="crm", df2_name="erp")
    crm_only = set(compare.df1_unq_rows["key"])
    erp_only = set(compare.df2_unq_rows["key"])
    mismatched = set(compare.all_mismatch()["key"])
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu
    differing = crm_only | erp_only | mismatched
    truth = set(data.truth)
    mismatch = None
    if differing != truth:
        mismatch = (
            f"{len(differing - truth)} keys not seeded (e.g. {sorted(differing - truth)[:3]}), "
            f"{len(truth - differing)} seeded keys not found (e.g. {sorted(truth - differing)[:3]})"
        )
    return Run(
        contender="datacompy",
        keys=data.keys,
        records=data.records,
        seconds=seconds,
        records_per_second=data.records / seconds,
        peak_rss_mib=peak_rss_mib(),
        start_rss_mib=start_rss,
        cpu_seconds=cpu,
        findings={
            "crm_only": len(crm_only),
            "erp_only": len(erp_only),
            "mismatched": len(mismatched),
            "keys": len(differing),
        },
        matches_truth=mismatch is None,
        mismatch=mismatch,
        detail={"load_seconds": loaded, "datacompy": importlib.metadata.version("datacompy")},
    )


def contender(args: argparse.Namespace) -> None:
    """The child process: one contender on one dataset; its Run as JSON on stdout."""
    if args.engine:
        sys.path.insert(0, str(args.engine))  # the run's snapshot of the project's code
    meta = json.loads((args.data / "meta.json").read_text())
    del meta["version"]
    data = Dataset(**meta, directory=str(args.data))
    if args.contender == "datacompy":
        run = baseline(data)
    else:
        # The product's stack: one connection per side, no other processes.
        import sqlalchemy  # noqa: F401  (imported before the start RSS is read)

        import reconciliation.orders

        if args.contender == "ranges":
            coroutine = ranges(data, args.leaf_rows, args.fan_out)
        else:
            coroutine = streaming(args.contender, data, args.page_size)
        with asyncio.Runner(loop_factory=loop_factory()) as runner:
            run = runner.run(coroutine)
        run.detail["code_from"] = str(Path(reconciliation.orders.__file__).parent.parent)
    print(json.dumps(asdict(run)))


def loop_factory() -> Any:
    try:
        import uvloop  # as the worker process runs (workers/cli.py)

        return uvloop.new_event_loop
    except ImportError:
        return None


# --- the run --------------------------------------------------------------------------

SMALL_CONTENDERS = (
    "datacompy",
    "syncline",
    "untuned",
    "rows",
    "models",
    "merge",
    "read",
    "raw",
    "ranges",
)


def launch(name: str, data: Dataset, args: argparse.Namespace) -> Run:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--contender",
        name,
        "--data",
        data.directory,
        "--page-size",
        str(args.page_size),
        "--engine",
        str(args.engine),
    ]
    for flag, value in (("--leaf-rows", args.leaf_rows), ("--fan-out", args.fan_out)):
        if value is not None:
            command += [flag, str(value)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{name} on {data.keys:,} keys failed (exit {done.returncode})")
    run = Run(**json.loads(done.stdout.strip().splitlines()[-1]))
    ok = {True: "ok", False: "MISMATCH", None: "-"}[run.matches_truth]
    print(
        f"  {name:<10} {data.keys:>12,} keys  {run.seconds:8.1f} s  "
        f"{run.records_per_second:>11,.0f} rec/s  {run.peak_rss_mib:7.0f} MiB peak  "
        f"(start {run.start_rss_mib:.0f})  cpu {run.cpu_seconds:.1f} s  {ok}",
        flush=True,
    )
    if run.mismatch:
        print(f"    {run.mismatch}", flush=True)
    return run


def median_run(runs: list[Run]) -> Run:
    """The run of median wall time; its peak RSS the largest of all."""
    ordered = sorted(runs, key=lambda r: r.seconds)
    chosen = ordered[(len(ordered) - 1) // 2]
    chosen.peak_rss_mib = max(r.peak_rss_mib for r in runs)
    chosen.matches_truth = (
        None if chosen.matches_truth is None else all(bool(r.matches_truth) for r in runs)
    )
    chosen.detail["seconds_all"] = [round(r.seconds, 2) for r in runs]
    return chosen


@dataclass
class Result:
    measured_at: str
    machine: str
    command: str
    load_average_before_after: tuple[float, float] = (0.0, 0.0)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, dict[str, Run]] = field(default_factory=dict)
    """Dataset ("small", "large") -> contender -> run."""
    engine: dict[str, Any] = field(default_factory=dict)
    """The commit the project's code was copied from, and its files changed since."""
    ratios: dict[str, float] = field(default_factory=dict)


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores, {memory:.0f} GiB, {platform.machine()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )


def prepare(name: str, directory: Path, keys: int, drift: float, seed: int) -> Dataset:
    print(f"{name}: {keys:,} keys, drift {drift:.4%} ... ", end="", flush=True)
    data, reused = dataset(directory, keys, drift, seed)
    print(
        f"{'reused' if reused else f'generated in {data.generated_seconds:.0f} s'}: "
        f"CRM {data.crm_rows:,} rows, ERP {data.erp_rows:,} rows, "
        f"{len(data.truth):,} drifted keys {data.seeded}",
        flush=True,
    )
    return data


def summary(data: Dataset) -> dict[str, Any]:
    return {
        "keys": data.keys,
        "drift": data.drift,
        "seed": data.seed,
        "crm_rows": data.crm_rows,
        "erp_rows": data.erp_rows,
        "records": data.records,
        "drifted_keys": len(data.truth),
        "seeded": data.seeded,
        "generated_seconds": data.generated_seconds,
        "bytes": sum(
            (Path(data.directory) / name).stat().st_size for name in ("crm.sqlite", "erp.sqlite")
        ),
    }


PACKAGES = (
    "models",
    "connectors",
    "activities",
    "workflows",
    "reconciliation",
    "workers",
    "sandbox",
)


def snapshot(workdir: Path) -> tuple[Path, dict[str, Any]]:
    """A copy of the project's packages for every contender of this run: others work in
    the tree while a run goes, and all its figures must come from one version."""

    def git(*command: str) -> str:
        done = subprocess.run(
            ["git", "-C", str(ROOT), *command], capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    target = workdir / "engine"
    shutil.rmtree(target, ignore_errors=True)
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    changed = git("status", "--porcelain", "--", *PACKAGES).splitlines()
    return target, {"commit": git("rev-parse", "--short", "HEAD"), "changed_files": changed}


def run(args: argparse.Namespace) -> Result:
    result = Result(
        measured_at=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=machine(),
        command=" ".join(sys.argv),
    )
    load_before = os.getloadavg()[0]
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="reconcile-"))
    try:
        args.engine, result.engine = snapshot(workdir)
        print(f"code: {result.engine['commit']}, changed since: {result.engine['changed_files']}")
        small = prepare("small", workdir / f"keys-{args.keys}", args.keys, args.drift, args.seed)
        large = (
            prepare(
                "large",
                workdir / f"keys-{args.range_keys}",
                args.range_keys,
                args.range_drift,
                args.seed,
            )
            if args.range_keys
            else None
        )
        result.datasets["small"] = summary(small)
        if large is not None:
            result.datasets["large"] = summary(large)

        print(f"\n{args.keys:,} keys, each contender in its own process, {args.repeat}x:")
        names = [name for name in SMALL_CONTENDERS if args.only is None or name in args.only]
        collected: dict[str, list[Run]] = {name: [] for name in names}
        for _ in range(args.repeat):
            for name in names:
                collected[name].append(launch(name, small, args))
        result.runs["small"] = {name: median_run(runs) for name, runs in collected.items()}

        if large is not None:
            print(f"\n{args.range_keys:,} keys:")
            large_names = ["ranges"]  # always: the large size is there for it
            if not args.skip_large_stream:
                large_names.append("syncline")
            if not args.skip_large_baseline:
                large_names.append("datacompy")
            result.runs["large"] = {name: launch(name, large, args) for name in large_names}
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    result.load_average_before_after = (round(load_before, 2), round(os.getloadavg()[0], 2))

    runs = result.runs["small"]
    syncline, base = runs["syncline"], runs["datacompy"]
    result.ratios = {
        "syncline_over_datacompy_seconds": round(syncline.seconds / base.seconds, 3),
        "syncline_over_datacompy_cpu_seconds": round(syncline.cpu_seconds / base.cpu_seconds, 3),
        "syncline_over_datacompy_peak_rss": round(syncline.peak_rss_mib / base.peak_rss_mib, 3),
        "syncline_speedup_records_per_second": round(
            syncline.records_per_second / base.records_per_second, 3
        ),
    }
    for name in ("untuned", "rows", "models", "ranges"):
        if name in runs:
            result.ratios[f"{name}_over_datacompy_seconds"] = round(
                runs[name].seconds / base.seconds, 3
            )
    if "models" in runs:
        result.ratios["models_over_syncline_seconds"] = round(
            runs["models"].seconds / syncline.seconds, 3
        )
    if "large" in result.runs:
        large_runs = result.runs["large"]
        big = large_runs["ranges"]
        if "ranges" in runs:
            result.ratios["ranges_peak_rss_large_over_small"] = round(
                big.peak_rss_mib / runs["ranges"].peak_rss_mib, 3
            )
        if "datacompy" in large_runs:
            result.ratios["large_ranges_over_datacompy_seconds"] = round(
                big.seconds / large_runs["datacompy"].seconds, 3
            )
            result.ratios["large_ranges_over_datacompy_peak_rss"] = round(
                big.peak_rss_mib / large_runs["datacompy"].peak_rss_mib, 3
            )
        if "syncline" in result.runs["large"]:
            result.ratios["syncline_peak_rss_large_over_small"] = round(
                result.runs["large"]["syncline"].peak_rss_mib / syncline.peak_rss_mib, 3
            )
    return result


def report(result: Result) -> None:
    print(f"\n{result.machine}; load average {result.load_average_before_after}")
    for size, runs in result.runs.items():
        data = result.datasets[size]
        print(
            f"\n{data['keys']:,} keys ({data['crm_rows']:,} CRM + {data['erp_rows']:,} ERP rows), "
            f"{data['drifted_keys']:,} drifted ({data['drift']:.2%})"
        )
        print(
            f"  {'contender':<10} {'wall s':>8} {'records/s':>11} {'peak RSS':>9} "
            f"{'start RSS':>9} {'CPU s':>7}  truth"
        )
        for name, r in runs.items():
            ok = {True: "equal", False: "MISMATCH", None: "-"}[r.matches_truth]
            print(
                f"  {name:<10} {r.seconds:8.2f} {r.records_per_second:11,.0f} "
                f"{r.peak_rss_mib:6.0f} MiB {r.start_rss_mib:5.0f} MiB {r.cpu_seconds:7.1f}  {ok}"
            )
        if "ranges" in runs:
            d = runs["ranges"].detail
            print(
                f"  ranges: {d['ranges_digested']:,} digested ({d['ranges_equal']:,} equal), "
                f"{d['leaves_fetched']:,} leaves, {d['rows_fetched']:,} rows fetched of "
                f"{data['records']:,} ({d['rows_fetched_share']:.3%}), "
                f"{d['keys_classified']:,} keys classified"
            )
            print(f"  ranges: seconds in {d['seconds_in']}")
        if "datacompy" in runs:
            r = runs["datacompy"]
            print(
                f"  datacompy: {r.detail['load_seconds']:.1f} s of {r.seconds:.1f} s loading "
                f"the DataFrames; found {r.findings}"
            )
    print()
    for name, value in result.ratios.items():
        print(f"{name}: {value}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--drift", type=float, default=0.001)
    parser.add_argument("--range-keys", type=int, default=10_000_000, help="0: skip")
    parser.add_argument("--range-drift", type=float, default=0.0001)
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--page-size", type=int, default=5_000)
    parser.add_argument("--leaf-rows", type=int, help="default: compare_ranges's own")
    parser.add_argument("--fan-out", type=int, help="default: compare_ranges's own")
    parser.add_argument("--repeat", type=int, default=1, help="runs per contender at --keys")
    parser.add_argument(
        "--skip-large-stream", action="store_true", help="no streaming run at --range-keys"
    )
    parser.add_argument(
        "--skip-large-baseline", action="store_true", help="no datacompy run at --range-keys"
    )
    parser.add_argument(
        "--workdir", type=Path, help="keep the SQLite files here and reuse them (default: temp)"
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        help=f"contenders at --keys, comma-separated (default: all of {','.join(SMALL_CONTENDERS)}"
        "; datacompy and syncline are always needed for the ratios)",
    )
    parser.add_argument(
        "--contender",
        choices=SMALL_CONTENDERS,
        help=argparse.SUPPRESS,
    )
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--engine", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.contender:
        contender(args)
        return
    result = run(args)
    report(result)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(result), indent=2) + "\n")
    failed = [
        f"{size}/{name}: {r.mismatch}"
        for size, runs in result.runs.items()
        for name, r in runs.items()
        if r.matches_truth is False
    ]
    if failed:
        print("\nMISMATCH against the seeded truth:\n  " + "\n  ".join(failed))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
