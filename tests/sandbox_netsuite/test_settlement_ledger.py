"""Generated sequences of what finance does in NetSuite (invoice, credit, pay several
invoices at once, refund, void) with the change feed polling in between: whatever the
order, the ledger's billed, credited and collected amounts per invoice, and its
refunds, equal the ERP's; billings v2 and collections v2 add up to them.

The sandbox runs in process (its real app and rules, over ASGI); the connector reads
it as the feed does and the publisher records what it reads, read again on every poll
(a re-read adds nothing). Deleting a payment is left out: the ledger keeps a fact
the ERP took back, which reconciliation reports (an ERP vs ledger mismatch).
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any, cast

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from temporalio.client import Client

from activities.change_publisher import ChangePublisher
from connectors.netsuite import NetSuiteClient
from models import exact_json
from models.billing import ChangeCursor
from models.changes import ChangeKind, InvoiceChange
from models.events import EventType, SourceSystem
from reporting.facts import load_facts
from reporting.settlement import (
    BILLINGS_V2_READS,
    COLLECTIONS_V2_READS,
    billings_v2,
    collections_v2,
)
from sandbox.netsuite import build_app
from sandbox.netsuite.invoice_void import FINANCE_PATH
from store import Store

from .helpers import RECORD, create_customer, get_token, item_ids, make_config, netsuite_client

BASE = "http://netsuite.test"
NS = SourceSystem.NETSUITE
EPOCH = ChangeCursor(modified_at=datetime(2000, 1, 1, tzinfo=UTC))
CENT = Decimal("0.01")
SHARES = st.sampled_from([Decimal("0.25"), Decimal("0.5"), Decimal("1"), Decimal("0.333")])


@dataclass
class Invoice:
    total: Decimal
    credited: Decimal = Decimal(0)
    collected: Decimal = Decimal(0)
    voided: bool = False

    @property
    def remaining(self) -> Decimal:
        return Decimal(0) if self.voided else self.total - self.credited - self.collected


@dataclass
class Books:
    """What finance did, as the ERP must now show it."""

    invoices: dict[str, Invoice] = field(default_factory=dict)
    memos: dict[str, Decimal] = field(default_factory=dict)
    """Credit memo id -> credit not yet applied or refunded."""
    memo_totals: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)

    def pick(self, index: int, *, open_only: bool = True) -> str | None:
        ids = [i for i, inv in self.invoices.items() if inv.remaining > 0 or not open_only]
        return ids[index % len(ids)] if ids else None


def part(amount: Decimal, share: Decimal) -> Decimal:
    return (amount * share).quantize(CENT, rounding=ROUND_DOWN)


def _id(response: httpx.Response) -> str:
    assert response.status_code == 204, response.text
    return response.headers["location"].rsplit("/", 1)[-1]


class Finance:
    """A NetSuite user at work, and the books the test keeps of it."""

    def __init__(self, http: httpx.AsyncClient, customer: str, item: str) -> None:
        self.http, self.customer, self.item, self.books = http, customer, item, Books()

    async def invoice(self, quantity: int, rate: Decimal) -> None:
        body = {
            "entity": {"id": self.customer},
            "item": {"items": [{"item": {"id": self.item}, "quantity": quantity, "rate": rate}]},
        }
        order = _id(await self.http.post(f"{RECORD}/salesOrder", json=_json(body)))
        invoice = _id(
            await self.http.post(f"{RECORD}/invoice", json={"createdFrom": {"id": order}})
        )
        self.books.invoices[invoice] = Invoice(total=quantity * rate)

    async def pay(self, picks: list[tuple[int, Decimal]], overpay: bool) -> None:
        amounts: dict[str, Decimal] = {}
        for index, share in picks:
            invoice = self.books.pick(index)
            if invoice is not None and invoice not in amounts:
                amount = part(self.books.invoices[invoice].remaining, share)
                if amount > 0:
                    amounts[invoice] = amount
        if not amounts:
            return
        if overpay:
            first = next(iter(amounts))
            amounts[first] = self.books.invoices[first].remaining + CENT
        items = [{"doc": {"id": i}, "apply": True, "amount": a} for i, a in amounts.items()]
        body = {
            "customer": {"id": self.customer},
            "payment": sum(amounts.values()),
            "tranDate": date(2026, 11, 25).isoformat(),
            "apply": {"items": items},
        }
        response = await self.http.post(f"{RECORD}/customerPayment", json=_json(body))
        if overpay:
            assert response.status_code == 400, response.text
            return
        _id(response)
        for invoice, amount in amounts.items():
            self.books.invoices[invoice].collected += amount

    async def credit(self, index: int, amount: Decimal, apply_share: Decimal) -> None:
        invoice = self.books.pick(index, open_only=False)
        if invoice is None:
            return
        booked = self.books.invoices[invoice]
        applied = part(min(amount, booked.remaining), apply_share)
        body: dict[str, Any] = {
            "createdFrom": {"id": invoice},
            "item": {"items": [{"item": {"id": self.item}, "quantity": 1, "rate": amount}]},
        }
        if applied > 0:
            body["apply"] = {"items": [{"doc": {"id": invoice}, "amount": applied}]}
        response = await self.http.post(f"{RECORD}/creditMemo", json=_json(body))
        if booked.voided:
            assert response.status_code == 400 and "voided" in response.text
            return
        memo = _id(response)
        booked.credited += applied
        self.books.memos[memo] = amount - applied
        self.books.memo_totals += amount

    async def refund(self, index: int, share: Decimal) -> None:
        open_memos = [m for m, left in self.books.memos.items() if left > 0]
        if not open_memos:
            return
        memo = open_memos[index % len(open_memos)]
        amount = part(self.books.memos[memo], share)
        if amount <= 0:
            return
        body = {
            "customer": {"id": self.customer},
            "tranDate": date(2026, 11, 26).isoformat(),
            "apply": {"items": [{"doc": {"id": memo}, "amount": amount}]},
        }
        _id(await self.http.post(f"{RECORD}/customerRefund", json=_json(body)))
        self.books.memos[memo] -= amount
        self.books.refunded += amount

    async def void(self, index: int) -> None:
        invoice = self.books.pick(index, open_only=False)
        if invoice is None:
            return
        booked = self.books.invoices[invoice]
        response = await self.http.post(f"{FINANCE_PATH}/invoice/{invoice}/void")
        if booked.voided or booked.credited or booked.collected:
            assert response.status_code == 400, response.text
            return
        assert response.status_code == 204, response.text
        booked.voided = True


def _json(body: dict[str, Any]) -> Any:
    """Decimals as JSON numbers, digit for digit, as the connector sends them."""
    return json.loads(exact_json.dumps(body))


async def poll(erp: NetSuiteClient, publisher: ChangePublisher) -> list[InvoiceChange]:
    """Everything the three kinds hold, published again (the ledger keeps each fact
    once); the invoice snapshots read."""
    invoices: list[InvoiceChange] = []
    for kind in (ChangeKind.INVOICE, ChangeKind.CREDIT_MEMO, ChangeKind.PAYMENT):
        page = await erp.changes(kind, EPOCH, 1000)
        assert not page.has_more
        await publisher.publish(page.changes, NS, "settlement-test")
        invoices += [c for c in page.changes if isinstance(c, InvoiceChange)]
    return invoices


async def ledger_per_invoice(store: Store, ids: list[str]) -> dict[str, tuple[Decimal, ...]]:
    kinds = [
        EventType.INVOICE_POSTED,
        EventType.INVOICE_VOIDED,
        EventType.CREDIT_MEMO_APPLIED,
        EventType.PAYMENT_APPLIED,
    ]
    sums = {i: [Decimal(0)] * 3 for i in ids}
    for row in await store.events_from_sources(NS, ids, kinds):
        payload = row.payload
        if row.event_type == EventType.INVOICE_POSTED:
            sums[row.source_id][0] += Decimal(payload["total"])
        elif row.event_type == EventType.INVOICE_VOIDED:
            sums[row.source_id][0] -= Decimal(payload["amount"])
        elif row.event_type == EventType.CREDIT_MEMO_APPLIED:
            sums[row.source_id][1] += Decimal(payload["amount"])
        else:
            sums[row.source_id][2] += Decimal(payload["amount"])
    return {i: tuple(v) for i, v in sums.items()}


INVOICE = st.tuples(st.just("invoice"), st.integers(1, 3), st.sampled_from(["100.00", "33.33"]))
ACTION = st.one_of(
    INVOICE,
    st.tuples(
        st.just("pay"),
        st.lists(st.tuples(st.integers(0, 5), SHARES), min_size=1, max_size=3),
        st.sampled_from([False, False, False, True]),
    ),
    st.tuples(st.just("credit"), st.integers(0, 5), st.sampled_from(["10.00", "150.00"]), SHARES),
    st.tuples(st.just("refund"), st.integers(0, 5), SHARES),
    st.tuples(st.just("void"), st.integers(0, 5)),
    st.tuples(st.just("poll")),
)


async def _scenario(actions: list[tuple[Any, ...]], workdir: Path) -> None:
    app = build_app(make_config(workdir / "netsuite.db"))
    transport = httpx.ASGITransport(app=app)
    store = Store.from_url(f"sqlite+aiosqlite:///{workdir / 'ledger.db'}")
    await store.migrate()
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as http:
            http.headers["Authorization"] = f"Bearer {await get_token(http)}"
            finance = Finance(
                http, await create_customer(http), (await item_ids(http))["SL-ONBOARDING"]
            )
            erp = await netsuite_client(BASE, transport=transport)
            # No record here names an opportunity, so the publisher signals no workflow.
            publisher = ChangePublisher(cast(Client, None), store)
            for name, *args in actions:
                if name == "poll":
                    await poll(erp, publisher)
                else:
                    await getattr(finance, name)(
                        *[Decimal(a) if isinstance(a, str) else a for a in args]
                    )
            snapshots = await poll(erp, publisher)
            await erp.aclose()
        await _check(finance.books, snapshots, store)
    finally:
        await store.close()
        app.state.sandbox.close()


async def _check(books: Books, snapshots: list[InvoiceChange], store: Store) -> None:
    ledger = await ledger_per_invoice(store, list(books.invoices))
    for invoice_id, booked in books.invoices.items():
        billed = Decimal(0) if booked.voided else booked.total
        assert ledger[invoice_id] == (billed, booked.credited, booked.collected), invoice_id
    for snapshot in snapshots:
        booked = books.invoices[snapshot.id]
        assert snapshot.amount_due.amount == booked.remaining
        if not booked.voided:
            assert (snapshot.credited, snapshot.collected) == (booked.credited, booked.collected)
    billings = await load_facts(store, BILLINGS_V2_READS)
    collections = await load_facts(store, COLLECTIONS_V2_READS)
    end = date(2099, 1, 1)
    live = sum((i.total for i in books.invoices.values() if not i.voided), Decimal(0))
    assert sum(e.amount for e in billings_v2(billings, end)) == live - books.memo_totals
    collected = sum((i.collected for i in books.invoices.values()), Decimal(0))
    assert sum(e.amount for e in collections_v2(collections, end)) == collected - books.refunded


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    first=st.lists(INVOICE, min_size=1, max_size=3),
    actions=st.lists(ACTION, min_size=1, max_size=14),
)
def test_the_ledger_settles_every_invoice_as_the_erp_does(
    first: list[tuple[Any, ...]], actions: list[tuple[Any, ...]]
) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        asyncio.run(_scenario(first + actions, Path(workdir)))


def test_a_voided_invoice_read_only_after_its_void_bills_nothing() -> None:
    """The feed may first read an invoice already voided (NetSuite zeroes it): it is
    posted and voided at zero, never billed."""
    actions: list[tuple[Any, ...]] = [("invoice", 2, "100.00"), ("void", 0), ("poll",)]
    with tempfile.TemporaryDirectory() as workdir:
        asyncio.run(_scenario(actions, Path(workdir)))


def test_an_invoice_voided_after_it_was_read_is_taken_back() -> None:
    actions: list[tuple[Any, ...]] = [("invoice", 2, "100.00"), ("poll",), ("void", 0)]
    with tempfile.TemporaryDirectory() as workdir:
        asyncio.run(_scenario(actions, Path(workdir)))
