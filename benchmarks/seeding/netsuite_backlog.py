"""A backlog of ERP changes written straight into the sandbox's SQLite, in seconds.

The change-feed benchmark needs 100,000 changes behind the feed's cursor; through the
record API that is minutes of requests, each stamped *now*. Here the rows and JSON
bodies the record API would store are built directly, stamped over a past window, and
inserted with ``executemany`` in one transaction.

Built directly because the API's own validation costs about 70 µs a record, most of the
time of a large seed; but kept honest: the first order of each shape (from the CRM or
not, cancelled, invoiced, partly or fully paid) and every ``verify_every``-th is replayed
through the functions the record API calls (``normalize_sales_order`` to create and to
cancel, ``normalize_invoice``, ``normalize_payment``, and the side effects that
``records`` applies in the same transaction: an invoice bills its order, a payment
lowers its invoice), and seeding fails if one body or column differs. The tests replay
every record.

What a backlog of ``changes`` holds (each record is one change, at its last
modification): sales orders on one-time items only (no subscription starts), three
quarters with CRM-style external ids (``006…``: no deal of Syncline runs for them), a
quarter entered in the ERP (none), and a quarter of those never invoiced cancelled;
invoices created from 80 % of the orders, a third unpaid, a third partly paid, a third
paid in full (a customer payment row each, which the feed does not read). The customers
and the catalog are made through ``records.create`` and stamped a day before the window,
so a feed whose customer and item cursors start at the window reads none of them.

Stamps are to the second, as NetSuite's: orders spread over the window, a fifth of them
in the same second as the order before (bulk imports), and a quarter of the invoices
made by a nightly billing run, hundreds in one second, so keyset pages break inside a
second.

    python benchmarks/seeding/netsuite_backlog.py --db .syncline/netsuite.db --changes 100000
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import random
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from models import exact_json
from sandbox.catalog import DEFAULT_CATALOG
from sandbox.netsuite import records
from sandbox.netsuite.applying import LINK_TYPE
from sandbox.netsuite.query import format_timestamp
from sandbox.netsuite.store import Store, get_setting, set_setting
from sandbox.netsuite.validation import (
    DEFAULT_SUBSIDIARY,
    INVOICE_STATUSES,
    LINE_SOURCED_FIELDS,
    PAYMENT_STATUSES,
    SALES_ORDER_STATUSES,
    TERM_MONTHS_FIELD,
    currency_ref,
    money,
    normalize_invoice,
    normalize_payment,
    normalize_sales_order,
)

# The sandbox seeds its catalog once per database unless this setting is there.
CATALOG_SEEDED_SETTING = "catalog_seeded"
# Invoices per order, whatever the number of changes (orders + invoices).
INVOICED_SHARE = Decimal("0.8")
_CURRENCIES = ("USD", "USD", "USD", "EUR", "GBP")
_NIGHTLY_RUN_HOUR = 2  # UTC: the billing run invoices everything due in one go
_DUE_DAYS = 30  # the invoice's default due date, as normalize_invoice sets it
_TXN_COLUMNS = (
    "id",
    "rectype",
    "type",
    "tranid",
    "entity",
    "externalid",
    "status",
    "foreigntotal",
    "amountremaining",
    "currency",
    "trandate",
    "createdfrom",
    "memo",
    "datecreated",
    "lastmodifieddate",
    "body",
)
_INSERT_TXN = (
    f"INSERT INTO txn ({', '.join(_TXN_COLUMNS)}) VALUES ({', '.join('?' for _ in _TXN_COLUMNS)})"
)
_SO, _INV, _PYMT = (records.RECORD_TYPES[n] for n in ("salesorder", "invoice", "customerpayment"))
_json_string = json.encoder.encode_basestring_ascii  # as exact_json writes a string


class BacklogSpec(BaseModel):
    changes: int = Field(100_000, ge=1, description="orders + invoices the feed will read")
    end: datetime | None = Field(None, description="the newest stamp; default now")
    window: timedelta = Field(timedelta(days=30), description="how far back stamps go")
    customers: int | None = Field(None, ge=1, description="default: one per 50 changes")
    tag: str = Field("BL", pattern=r"^[A-Z]{1,4}$", description="in every external id")
    seed: int = 20261124
    cancelled_share: float = Field(0.25, ge=0, le=1, description="of orders not invoiced")
    billing_run_share: float = Field(0.25, ge=0, le=1, description="invoices made nightly")
    erp_born_share: float = Field(
        0.25, ge=0, le=1, description="orders entered in the ERP (no CRM external id)"
    )
    verify_every: int = Field(
        1_000, ge=0, description="replay every n-th order through the API's validation (0: none)"
    )


class BacklogSummary(BaseModel):
    orders: int
    erp_born_orders: int
    """Orders without an external id: entered in the ERP, no CRM opportunity."""
    invoices: int
    payments: int
    cancelled_orders: int
    unpaid_invoices: int
    partly_paid_invoices: int
    paid_invoices: int
    customers: int
    verified_orders: int
    first_modified: datetime
    last_modified: datetime
    masters_modified: datetime
    """When the customers and catalog items were stamped (before the window)."""

    @property
    def changes(self) -> int:
        return self.orders + self.invoices


def seed_backlog_file(db_path: Path, spec: BacklogSpec) -> BacklogSummary:
    """Seed the sandbox database at ``db_path`` (created with its schema if new).

    Meant for a database no sandbox serves yet: the transaction would only make a
    running one wait (busy timeout), but its clients would see a past they did not
    see being written."""
    store = Store(db_path)
    try:
        return store.write_sync(lambda conn: seed_backlog(conn, spec))
    finally:
        store.close()


def seed_backlog(conn: sqlite3.Connection, spec: BacklogSpec) -> BacklogSummary:
    """Write the backlog inside the caller's write transaction."""
    # Hundreds of thousands of new dicts and nothing cyclic among them: the cycle
    # collector would rescan the growing heap again and again, for nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _seed(conn, spec)
    finally:
        if collecting:
            gc.enable()


def _seed(conn: sqlite3.Connection, spec: BacklogSpec) -> BacklogSummary:
    end = (spec.end or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start = end - spec.window
    masters_at = start - timedelta(days=1)
    masters = _seed_masters(conn, spec, masters_at)
    chains = _plan(spec, int(start.timestamp()), int(end.timestamp()), masters)
    sequences = _number(conn, chains)
    rows: list[tuple[Any, ...]] = []
    links: list[tuple[Any, ...]] = []
    shapes: set[tuple[bool, ...]] = set()
    verified = 0
    for chain in chains:
        built = _build(chain, masters)
        # The first chain of each shape, and every verify_every-th.
        if spec.verify_every and (
            chain.shape not in shapes or chain.index % spec.verify_every == 0
        ):
            _verify(built, _replay(chain, masters))
            shapes.add(chain.shape)
            verified += 1
        rows += (txn.row() for txn in built)
        links += _links(built)
    # A larger page cache keeps the lastmodifieddate index's random inserts in memory.
    cache_size = conn.execute("PRAGMA cache_size").fetchone()[0]
    conn.execute("PRAGMA cache_size = -262144")
    try:
        conn.executemany(_INSERT_TXN, rows)
        conn.executemany(_INSERT_LINK, links)
    finally:
        conn.execute(f"PRAGMA cache_size = {int(cache_size)}")
    _save_sequences(conn, sequences)
    return _summary(chains, len(masters.customers), verified, masters_at)


_INSERT_LINK = (
    "INSERT INTO txnlink (previousdoc, previoustype, nextdoc, nexttype, linktype, "
    "foreignamount, linkdate, lastmodifieddate) VALUES (?, 'CustInvc', ?, 'CustPymt', ?, ?, ?, ?)"
)


def _links(built: list[_Txn]) -> list[tuple[Any, ...]]:
    """Each payment's applications, linked as ``applying.apply_created`` links them."""
    return [
        (
            int(line["doc"]["id"]),
            txn.id,
            LINK_TYPE,
            str(line["amount"]),
            txn.body["tranDate"],
            txn.modified,
        )
        for txn in built
        if txn.rectype == _PYMT.name
        for line in txn.body["apply"]["items"]
    ]


# --- masters: through the record API's own create ---------------------------------------


@dataclass
class _Masters:
    customers: dict[int, dict[str, Any]]
    items: dict[int, dict[str, Any]]
    closed_through: date | None
    _entities: dict[int, str] = field(default_factory=dict)

    def entity(self, customer_id: int) -> dict[str, str]:
        """The customer reference a transaction carries (``entity``, ``customer``)."""
        return {"id": str(customer_id), "refName": self.customers[customer_id]["companyName"]}

    def entity_json(self, customer_id: int) -> str:
        if customer_id not in self._entities:
            self._entities[customer_id] = exact_json.dumps(self.entity(customer_id))
        return self._entities[customer_id]

    def one_time_items(self) -> list[int]:
        """Active items without a subscription term: their orders start no subscription."""
        found = [
            item_id
            for item_id, body in sorted(self.items.items())
            if not body.get("isInactive") and body.get(TERM_MONTHS_FIELD) is None
        ]
        if not found:
            raise ValueError("the catalog has no one-time item to sell")
        return found


def _seed_masters(conn: sqlite3.Connection, spec: BacklogSpec, at: datetime) -> _Masters:
    records.seed_catalog(conn, DEFAULT_CATALOG, at)
    if get_setting(conn, CATALOG_SEEDED_SETTING) is None:
        set_setting(conn, CATALOG_SEEDED_SETTING, "1")
    customer_type = records.RECORD_TYPES["customer"]
    ids = []
    for n in range(spec.customers or max(1, spec.changes // 50)):
        payload = {
            "companyName": f"Backlog Customer {spec.tag}{n:06d}",
            "currency": {"refName": _CURRENCIES[n % len(_CURRENCIES)]},
            "externalId": _crm_id("001", spec.tag, n),
        }
        ids.append(records.create(conn, customer_type, payload, at))
    customers = {i: _body(conn, "customer", i) for i in ids}
    items = {int(r[0]): exact_json.loads(r[1]) for r in conn.execute("SELECT id, body FROM item")}
    closed = get_setting(conn, records.CLOSED_THROUGH_SETTING)
    return _Masters(customers, items, None if closed is None else date.fromisoformat(closed))


def _body(conn: sqlite3.Connection, table: str, internal_id: int) -> dict[str, Any]:
    row = conn.execute(f"SELECT body FROM {table} WHERE id = ?", (internal_id,)).fetchone()
    return dict(exact_json.loads(row[0]))  # ``table`` is a constant of this module


def _crm_id(prefix: str, tag: str, n: int) -> str:
    """An 18-character Salesforce-shaped id (``001`` account, ``006`` opportunity)."""
    return f"{prefix}{tag}{n:0{15 - len(tag)}d}"


# --- the plan: one chain per order ------------------------------------------------------


@dataclass
class _Chain:
    """One sales order and what follows it: a cancellation, or an invoice and maybe a
    payment of ``paid_share`` of it. Times are epoch seconds."""

    index: int
    external_id: str | None  # the CRM opportunity; None for an order entered in the ERP
    customer_id: int
    lines: list[tuple[int, int]]  # (item id, quantity)
    ordered_at: int
    cancelled_at: int | None = None
    invoiced_at: int | None = None
    paid_at: int | None = None
    paid_share: Decimal = Decimal(0)
    ids: dict[str, int] = field(default_factory=dict)  # record type -> internal id
    numbers: dict[str, str] = field(default_factory=dict)  # record type -> tranId

    @property
    def shape(self) -> tuple[bool, ...]:
        """From the CRM, cancelled, invoiced, partly paid, paid in full."""
        paid = self.paid_share
        return (
            self.external_id is not None,
            self.cancelled_at is not None,
            self.invoiced_at is not None,
            0 < paid < 1,
            paid == 1,
        )


def _plan(spec: BacklogSpec, start: int, end: int, masters: _Masters) -> list[_Chain]:
    rng = random.Random(spec.seed)
    invoices = int(spec.changes * INVOICED_SHARE / (1 + INVOICED_SHARE))
    orders = spec.changes - invoices
    customer_ids = sorted(masters.customers)
    item_ids = masters.one_time_items()
    chains = [
        _Chain(
            index=n,
            external_id=None if rng.random() < spec.erp_born_share else _crm_id("006", spec.tag, n),
            customer_id=rng.choice(customer_ids),
            lines=[
                (item_id, rng.randint(1, 20))
                for item_id in rng.sample(item_ids, rng.randint(1, len(item_ids)))
            ],
            ordered_at=at,
        )
        for n, at in enumerate(_order_stamps(rng, orders, start, end))
    ]
    for n, chain in enumerate(rng.sample(chains, invoices)):
        chain.invoiced_at = _billing_stamp(rng, chain.ordered_at, end, spec.billing_run_share)
        chain.paid_share = (Decimal(0), Decimal(rng.randint(10, 90)) / 100, Decimal(1))[n % 3]
        if chain.paid_share:
            chain.paid_at = _later(rng, chain.invoiced_at, 3_600, 10 * 86_400, end)
    for chain in chains:
        if chain.invoiced_at is None and rng.random() < spec.cancelled_share:
            chain.cancelled_at = _later(rng, chain.ordered_at, 60, 2 * 86_400, end)
    return chains


def _order_stamps(rng: random.Random, count: int, start: int, end: int) -> list[int]:
    stamps = sorted(rng.randint(start, end) for _ in range(count))
    for i in range(1, count):
        if rng.random() < 0.2:  # a bulk import: the same second as the order before
            stamps[i] = stamps[i - 1]
    return stamps


def _billing_stamp(rng: random.Random, ordered_at: int, end: int, run_share: float) -> int:
    """The nightly billing run after the order, or an invoice of its own within 3 days."""
    if rng.random() < run_share:
        day = datetime.fromtimestamp(ordered_at + 3_600, UTC).date() + timedelta(days=1)
        run = int(datetime(day.year, day.month, day.day, _NIGHTLY_RUN_HOUR, tzinfo=UTC).timestamp())
        if run <= end:
            return run
    return _later(rng, ordered_at, 60, 3 * 86_400, end)


def _later(rng: random.Random, at: int, shortest: int, longest: int, end: int) -> int:
    """A moment ``shortest``..``longest`` seconds after ``at``, squeezed into what is
    left of the window: clipping at ``end`` instead would pile thousands of records
    into its last second (an unrealistic spike the feed would read last)."""
    room = end - at
    if room <= shortest:
        return at + rng.randint(0, room)
    return at + rng.randint(shortest, min(longest, room))


def _number(conn: sqlite3.Connection, chains: list[_Chain]) -> dict[str, int]:
    """Internal ids and tranIds in the order the records were made, continuing the
    database's own (AUTOINCREMENT never reuses an id; ``next_sequence`` numbers).
    Returns the last number of each sequence."""
    made = [(c.ordered_at, 0, c.index, _SO.name) for c in chains]
    made += [(c.invoiced_at, 1, c.index, _INV.name) for c in chains if c.invoiced_at is not None]
    made += [(c.paid_at, 2, c.index, _PYMT.name) for c in chains if c.paid_at is not None]
    made.sort()
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'txn'").fetchone()
    highest = conn.execute("SELECT COALESCE(MAX(id), 0) FROM txn").fetchone()[0]
    next_id = max(int(row[0]) if row else 0, int(highest)) + 1
    sequences = {rt.name: _last_sequence(conn, rt.name) for rt in (_SO, _INV, _PYMT)}
    prefixes = {rt.name: rt.tranid_prefix for rt in (_SO, _INV, _PYMT)}
    for offset, (_, _, index, rectype) in enumerate(made):
        sequences[rectype] += 1
        chains[index].ids[rectype] = next_id + offset
        chains[index].numbers[rectype] = f"{prefixes[rectype]}{sequences[rectype]}"
    return sequences


def _last_sequence(conn: sqlite3.Connection, name: str) -> int:
    """The last number handed out (one before ``TRANID_START`` when none was)."""
    row = conn.execute("SELECT value FROM sequence WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else records.TRANID_START - 1


def _save_sequences(conn: sqlite3.Connection, sequences: Mapping[str, int]) -> None:
    """Leave the numbering where the record API continues it."""
    conn.executemany(
        "INSERT INTO sequence (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = excluded.value",
        sorted(sequences.items()),
    )


# --- the records, built directly --------------------------------------------------------


@dataclass
class _Txn:
    id: int
    rectype: str
    columns: dict[str, Any]
    body: dict[str, Any]
    created: str
    modified: str
    rendered: Mapping[str, str] = field(default_factory=dict)
    """Body fields already written as JSON (an order's lines serve its invoice too):
    the writing is most of what a large seed costs, and the same text either way."""

    def row(self) -> tuple[Any, ...]:
        values = {
            **self.columns,
            "id": self.id,
            "rectype": self.rectype,
            "datecreated": self.created,
            "lastmodifieddate": self.modified,
            "body": self._body_json(),
        }
        return tuple(values.get(name) for name in _TXN_COLUMNS)

    def _body_json(self) -> str:
        """``exact_json.dumps(body)``, reusing the fields already written."""
        fields = (
            _json_string(key) + ":" + (self.rendered.get(key) or exact_json.dumps(value))
            for key, value in self.body.items()
        )
        return "{" + ",".join(fields) + "}"


def _build(chain: _Chain, masters: _Masters) -> list[_Txn]:
    """The chain's records as the record API leaves them after its last call."""
    customer = masters.customers[chain.customer_id]
    currency = str(customer["currency"]["refName"])
    entity = masters.entity(chain.customer_id)
    lines = _lines(chain, masters, currency)
    total = money(sum((line["amount"] for line in lines), Decimal(0)), currency)
    shared = {
        "entity": masters.entity_json(chain.customer_id),
        "currency": _currency_json(currency),
    }
    order = _order(chain, entity, currency, lines, total)
    order.rendered = {**shared, "item": exact_json.dumps({"items": lines})}
    if chain.invoiced_at is None:
        return [order]
    _set_status(order, "G", SALES_ORDER_STATUSES, _stamp(chain.invoiced_at))
    invoice = _invoice(chain, entity, currency, lines, total)
    invoice.rendered = order.rendered
    if chain.paid_at is None:
        return [order, invoice]
    amount = money(total * chain.paid_share, currency)
    payment = _payment(chain, entity, currency, amount, total)
    payment.rendered = {**shared, "customer": shared["entity"]}
    remaining = money(total - amount, currency)
    _set_status(
        invoice,
        "B" if remaining == 0 else "A",
        INVOICE_STATUSES,
        _stamp(chain.paid_at),
        amountRemaining=remaining,
        amountPaid=money(amount, currency),
    )
    return [order, invoice, payment]


@functools.cache
def _currency_json(currency: str) -> str:
    return exact_json.dumps(currency_ref(currency))


def _lines(chain: _Chain, masters: _Masters, currency: str) -> list[dict[str, Any]]:
    lines = []
    for number, (item_id, quantity) in enumerate(chain.lines, start=1):
        item = masters.items[item_id]
        rate = Decimal(item["basePrice"])
        lines.append(
            {
                "line": number,
                "item": {"id": str(item_id), "refName": item["itemId"]},
                "quantity": Decimal(quantity),
                "rate": rate,
                "amount": money(quantity * rate, currency),
                "description": item.get("displayName") or item["itemId"],
                **{
                    column: item[source]
                    for column, source in LINE_SOURCED_FIELDS.items()
                    if item.get(source) is not None
                },
            }
        )
    return lines


def _order(
    chain: _Chain,
    entity: dict[str, str],
    currency: str,
    lines: list[dict[str, Any]],
    total: Decimal,
) -> _Txn:
    number = chain.numbers[_SO.name]
    tran_date = _day(chain.ordered_at).isoformat()
    status = "B" if chain.cancelled_at is None else "C"
    body = {
        "tranId": number,
        **({"externalId": chain.external_id} if chain.external_id else {}),
        "entity": entity,
        "currency": currency_ref(currency),
        "tranDate": tran_date,
        "status": {"id": status, "refName": SALES_ORDER_STATUSES[status]},
        "subsidiary": DEFAULT_SUBSIDIARY,  # the seeded customers are all the parent's
        "subtotal": total,
        "total": total,
        "item": {"items": lines},
    }
    columns = {
        "type": _SO.type_code,
        "tranid": number,
        "entity": chain.customer_id,
        "externalid": chain.external_id,
        "status": status,
        "foreigntotal": str(total),
        "currency": currency,
        "trandate": tran_date,
    }
    modified = chain.cancelled_at or chain.ordered_at
    return _Txn(
        chain.ids[_SO.name], _SO.name, columns, body, _stamp(chain.ordered_at), _stamp(modified)
    )


def _invoice(
    chain: _Chain,
    entity: dict[str, str],
    currency: str,
    lines: list[dict[str, Any]],
    total: Decimal,
) -> _Txn:
    assert chain.invoiced_at is not None
    number = chain.numbers[_INV.name]
    day = _day(chain.invoiced_at)
    body = {
        "tranId": number,
        "entity": entity,
        "currency": currency_ref(currency),
        "tranDate": day.isoformat(),
        "dueDate": (day + timedelta(days=_DUE_DAYS)).isoformat(),
        "createdFrom": {
            "id": str(chain.ids[_SO.name]),
            "refName": f"Sales Order #{chain.numbers[_SO.name]}",
        },
        "status": {"id": "A", "refName": INVOICE_STATUSES["A"]},
        "subtotal": total,
        "total": total,
        "amountPaid": money(Decimal(0), currency),
        "amountRemaining": total,
        "item": {"items": lines},
    }
    columns = {
        "type": _INV.type_code,
        "tranid": number,
        "entity": chain.customer_id,
        "status": "A",
        "foreigntotal": str(total),
        "amountremaining": str(total),
        "currency": currency,
        "trandate": day.isoformat(),
        "createdfrom": chain.ids[_SO.name],
    }
    stamp = _stamp(chain.invoiced_at)
    return _Txn(chain.ids[_INV.name], _INV.name, columns, body, stamp, stamp)


def _payment(
    chain: _Chain, entity: dict[str, str], currency: str, amount: Decimal, total: Decimal
) -> _Txn:
    assert chain.paid_at is not None
    number = chain.numbers[_PYMT.name]
    tran_date = _day(chain.paid_at).isoformat()
    body = {
        "tranId": number,
        "customer": entity,
        "currency": currency_ref(currency),
        "tranDate": tran_date,
        "createdFrom": {
            "id": str(chain.ids[_INV.name]),
            "refName": f"Invoice #{chain.numbers[_INV.name]}",
        },
        "status": {"id": "C", "refName": PAYMENT_STATUSES["C"]},
        "payment": amount,
        "total": amount,
        "applied": money(amount, currency),
        "unapplied": money(Decimal(0), currency),
        "apply": {
            "items": [
                {
                    "doc": {
                        "id": str(chain.ids[_INV.name]),
                        "refName": f"Invoice #{chain.numbers[_INV.name]}",
                    },
                    "apply": True,
                    "amount": amount,
                    "refNum": chain.numbers[_INV.name],
                    "type": "Invoice",
                    "total": total,
                    "due": total,
                }
            ]
        },
    }
    columns = {
        "type": _PYMT.type_code,
        "tranid": number,
        "entity": chain.customer_id,
        "status": "C",
        "foreigntotal": str(amount),
        "currency": currency,
        "trandate": tran_date,
        "createdfrom": chain.ids[_INV.name],
    }
    stamp = _stamp(chain.paid_at)
    return _Txn(chain.ids[_PYMT.name], _PYMT.name, columns, body, stamp, stamp)


def _set_status(txn: _Txn, status: str, names: Mapping[str, str], now: str, **changes: Any) -> None:
    """As ``records._set_status``: the status (and amounts) in body and columns."""
    txn.body = {**txn.body, "status": {"id": status, "refName": names[status]}, **changes}
    txn.columns["status"] = status
    if "amountRemaining" in changes:
        txn.columns["amountremaining"] = str(changes["amountRemaining"])
    txn.modified = now


# --- the check: the same chain through the record API's functions -----------------------


class _ChainLookup:
    """``validation.Lookup`` over the masters and the chain's own transactions."""

    def __init__(self, masters: _Masters) -> None:
        self._masters = masters
        self.transactions: dict[int, tuple[str, dict[str, Any]]] = {}

    def customer(self, internal_id: int) -> dict[str, Any] | None:
        return self._masters.customers.get(internal_id)

    def item(self, internal_id: int) -> dict[str, Any] | None:
        return self._masters.items.get(internal_id)

    def transaction(self, internal_id: int) -> tuple[str, dict[str, Any]] | None:
        return self.transactions.get(internal_id)

    def sku_owner(self, sku: str) -> int | None:
        items = self._masters.items.items()
        return next((i for i, body in items if body.get("itemId") == sku), None)

    def closed_through(self) -> date | None:
        return self._masters.closed_through


def _replay(chain: _Chain, masters: _Masters) -> list[_Txn]:
    """The chain as ``records.create``/``update`` would make it, call by call, with
    the validation the API runs (``sandbox.netsuite.validation``)."""
    lookup = _ChainLookup(masters)

    def create(rt: records.RecordType, payload: dict[str, Any], at: int) -> _Txn:
        normalizer = {
            _SO.name: normalize_sales_order,
            _INV.name: normalize_invoice,
            _PYMT.name: normalize_payment,
        }[rt.name]
        made = normalizer(payload, None, lookup, _day(at))
        number = chain.numbers[rt.name]
        columns = {**made.columns, "type": rt.type_code, "tranid": number}
        txn = _Txn(chain.ids[rt.name], rt.name, columns, {"tranId": number, **made.body}, "", "")
        txn.created = txn.modified = _stamp(at)
        lookup.transactions[txn.id] = (rt.name, txn.body)
        return txn

    order_payload: dict[str, Any] = {
        "entity": {"id": str(chain.customer_id)},
        "tranDate": _day(chain.ordered_at).isoformat(),
        "item": {"items": [{"item": {"id": str(i)}, "quantity": q} for i, q in chain.lines]},
    }
    if chain.external_id:
        order_payload["externalId"] = chain.external_id
    order = create(_SO, order_payload, chain.ordered_at)
    if chain.cancelled_at is not None:
        changed = normalize_sales_order(
            {"status": "C"}, order.body, lookup, _day(chain.cancelled_at)
        )
        order.body, order.modified = changed.body, _stamp(chain.cancelled_at)
        order.columns.update(changed.columns)
        return [order]
    if chain.invoiced_at is None:
        return [order]
    invoice_payload = {
        "createdFrom": {"id": str(order.id)},
        "tranDate": _day(chain.invoiced_at).isoformat(),
    }
    invoice = create(_INV, invoice_payload, chain.invoiced_at)
    _set_status(order, "G", SALES_ORDER_STATUSES, invoice.created)
    if chain.paid_at is None:
        return [order, invoice]
    currency = str(invoice.body["currency"]["refName"])
    remaining = Decimal(invoice.body["amountRemaining"])
    amount = money(remaining * chain.paid_share, currency)
    payment_payload = {
        "createdFrom": {"id": str(invoice.id)},
        "payment": amount,
        "tranDate": _day(chain.paid_at).isoformat(),
    }
    payment = create(_PYMT, payment_payload, chain.paid_at)
    # applying.apply_created
    left = money(remaining - amount, currency)
    paid = money(Decimal(invoice.body.get("amountPaid", 0)) + amount, currency)
    _set_status(
        invoice,
        "B" if left == 0 else "A",
        INVOICE_STATUSES,
        payment.created,
        amountRemaining=left,
        amountPaid=paid,
    )
    return [order, invoice, payment]


def _verify(built: list[_Txn], replayed: list[_Txn]) -> None:
    for ours, api in zip(built, replayed, strict=True):
        if ours.row() != api.row():
            raise AssertionError(
                f"backlog {ours.rectype} {ours.id} differs from the record API's:\n"
                f"  built    {ours.row()}\n  replayed {api.row()}"
            )


def _summary(
    chains: list[_Chain], customers: int, verified: int, masters_at: datetime
) -> BacklogSummary:
    invoiced = [c for c in chains if c.invoiced_at is not None]
    stamps = [c.cancelled_at or c.invoiced_at or c.ordered_at for c in chains]
    stamps += [c.paid_at or c.invoiced_at or 0 for c in invoiced]
    return BacklogSummary(
        orders=len(chains),
        erp_born_orders=sum(c.external_id is None for c in chains),
        invoices=len(invoiced),
        payments=sum(c.paid_at is not None for c in chains),
        cancelled_orders=sum(c.cancelled_at is not None for c in chains),
        unpaid_invoices=sum(c.paid_share == 0 for c in invoiced),
        partly_paid_invoices=sum(0 < c.paid_share < 1 for c in invoiced),
        paid_invoices=sum(c.paid_share == 1 for c in invoiced),
        customers=customers,
        verified_orders=verified,
        first_modified=datetime.fromtimestamp(min(stamps), UTC),
        last_modified=datetime.fromtimestamp(max(stamps), UTC),
        masters_modified=masters_at,
    )


def _stamp(at: int) -> str:
    return format_timestamp(datetime.fromtimestamp(at, UTC))


def _day(at: int) -> date:
    return datetime.fromtimestamp(at, UTC).date()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/seeding/netsuite_backlog.py")
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--days", type=float, default=30.0)
    args = parser.parse_args(argv)
    spec = BacklogSpec(changes=args.changes, window=timedelta(days=args.days))
    summary = seed_backlog_file(args.db, spec)
    print(summary.model_dump_json(indent=2))


if __name__ == "__main__":
    main()
