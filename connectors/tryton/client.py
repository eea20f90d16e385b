"""``TrytonClient``: the ``ErpClient`` over Tryton's REST API.

Why REST and not JSON-RPC: the REST API authenticates with a user application key
(revocable in Tryton, no password or session for Syncline to hold), answers with HTTP
status codes that map straight onto the error taxonomy (JSON-RPC answers every error
with 200), and runs each call in one Tryton transaction like JSON-RPC does.

Every request holds one ``governor.slot()`` and names the company in
``X-Tryton-Context``. Writes are find-or-create by business key: the party by its
unique ``code`` (the CRM account id), the sale by ``reference`` (the opportunity id).
``reference`` is not unique in Tryton, so ``create_sales_order`` converges instead of
trusting a look-up (see there).

Sale states, and what confirming does in this setup: ``confirm`` queues Tryton's
``process`` (invoice and shipment creation, then ``processing``). Without a queue worker
(``[queue] worker`` unset, as in the sandbox) Tryton runs that task right after the
confirm commits, before answering, so the button answers "confirmed" while the sale is
already "processing" with a draft invoice (invoice method "on order"). With a worker,
``sale_process_after`` keeps a confirmed sale confirmed for that grace period. A sale
also stays confirmed when processing fails (Tryton records the error, e.g. a product
without a revenue account). Only while confirmed (or earlier) may a sale go back to
draft, which is what ``cancel_sales_order`` and ``amend_sales_order`` need.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import httpx

from connectors.errors import NotFoundError, RejectedError, TransientError
from connectors.governor import ConcurrencyGovernor, UnlimitedGovernor
from connectors.http import DEFAULT_TIMEOUT, HttpConnector, build_http_client, transport_error
from connectors.tryton import keyset, mapping
from connectors.tryton.errors import SYSTEM, map_error
from models import tryton_json as codec
from models.billing import ChangeCursor, InvoiceChangePage, InvoiceSnapshot
from models.changes import ChangeKind, ErpChange, ErpChangePage, OrderChange
from models.erp import (
    Customer,
    CustomerUpsert,
    Product,
    SalesOrder,
    SalesOrderDraft,
    SalesOrderLine,
)

logger = logging.getLogger(__name__)

# SKUs per search: short URLs, and well inside any database's IN-list limits.
ITEM_CHUNK = 200

# Sale states Tryton can still send back to draft (to cancel or to change the lines).
REOPENABLE = frozenset({"draft", "quotation", "confirmed"})


@dataclass(frozen=True)
class _Feed:
    """One kind of change: which records, what to read of them, how they are stamped."""

    model: str
    domain: tuple[Any, ...]
    fields: tuple[str, ...]
    stamps: keyset.Stamps
    convert: Callable[[dict[str, Any], str, datetime], ErpChange]
    archived_too: bool = False
    """Archived records too: archiving a customer or an item is news for the CRM."""
    accepted_only: bool = False
    """Drop cancelled sales that were never confirmed (see ``_ever_confirmed``)."""


# Tryton's switch for archived records. A domain clause on ``active`` would not do:
# Tryton adds ``active = True`` to every nested list of a domain that lacks one, so the
# keyset's OR clauses would still drop them (a product archived with its template).
_ARCHIVED_TOO = {"active_test": False}

_FEEDS: dict[ChangeKind, _Feed] = {
    ChangeKind.ORDER: _Feed(
        "sale.sale",
        (("state", "in", list(mapping.ACCEPTED_SALE_STATES)),),
        mapping.ORDER_FIELDS,
        # Confirming writes the sale, and so does every later state or invoice_state.
        keyset.Stamps(always_written=True),
        mapping.order_change_from_record,
        accepted_only=True,
    ),
    ChangeKind.INVOICE: _Feed(
        "account.invoice",
        (
            ("type", "=", "out"),
            ("state", "in", ["posted", "paid", "cancelled"]),
            ("number", "!=", None),
        ),
        mapping.INVOICE_FIELDS,
        keyset.Stamps(always_written=True),  # posting writes the invoice
        mapping.invoice_change_from_record,
    ),
    ChangeKind.CUSTOMER: _Feed(
        "party.party",
        (),
        mapping.PARTY_CHANGE_FIELDS,
        # The party form saves addresses and identifiers through the party, which
        # stamps it; an address edited on its own is seen with the party's next change.
        keyset.Stamps(),
        mapping.customer_change_from_party,
        archived_too=True,
    ),
    ChangeKind.ITEM: _Feed(
        "product.product",
        (),
        mapping.ITEM_FIELDS,
        # Name, list price and salability live on the template; code and archiving
        # on the variant: either table's stamp is the item's.
        keyset.Stamps(tables=("", "template.")),
        mapping.item_change_from_record,
        archived_too=True,
    ),
}


class TrytonClient(HttpConnector):
    """Implements ``connectors.protocols.ErpClient``; also a small generic REST client."""

    system = SYSTEM

    def __init__(
        self,
        base_url: str,
        database: str,
        application_key: str,
        *,
        company_id: int | None = None,
        governor: ConcurrencyGovernor | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        base_currency: str = "USD",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_connections: int = 20,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.database = database
        self.base_currency = base_currency
        self._key = application_key
        self._company_id = company_id
        # Configuration that does not change under a running deal, kept per client:
        # each saves an ERP call per order, and ERP calls are the scarce resource.
        self._currency_ids: dict[str, int] = {}
        self._sale_units: dict[str, int] = {}
        self._governor: ConcurrencyGovernor = governor or UnlimitedGovernor()
        self._http = build_http_client(
            f"{self.base_url}/{quote(database, safe='')}/rest",
            system=SYSTEM,
            transport=transport,
            timeout=timeout,
            max_connections=max_connections,
        )

    def __repr__(self) -> str:  # never the key
        return f"TrytonClient(base_url={self.base_url!r}, database={self.database!r})"

    # --- transport ----------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Sequence[tuple[str, str]] = (),
        context: Mapping[str, Any] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        if context:
            headers["X-Tryton-Context"] = codec.query_value(dict(context))
        content = None
        if body is not None:
            content = codec.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        async with self._governor.slot():
            try:
                response = await self._http.request(
                    method, path, content=content, params=list(params), headers=headers
                )
            except httpx.TransportError as exc:
                # The write may have committed: callers' find-or-create makes retry safe.
                raise transport_error(SYSTEM, exc) from exc
        logger.debug("%s %s -> %d", method, path, response.status_code)
        if not response.is_success:
            raise map_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return codec.loads(response.content)
        except ValueError:
            raise TransientError(
                "the response was not valid JSON", system=SYSTEM, status_code=response.status_code
            ) from None

    async def _context(self) -> dict[str, Any]:
        return {"company": await self.company_id()}

    async def company_id(self) -> int:
        """The configured company, or the one company the Syncline user works in."""
        if self._company_id is None:
            companies = await self._send(
                "GET", "/model/company.company", params=[("f", "id"), ("s", "2")]
            )
            if len(companies) != 1:
                raise RejectedError(
                    "the Syncline user sees "
                    + ("no company" if not companies else "several companies")
                    + "; set SYNCLINE_ERP_COMPANY",
                    system=SYSTEM,
                )
            self._company_id = int(companies[0]["id"])
        return self._company_id

    # --- generic records ----------------------------------------------------------------

    async def search(
        self,
        model: str,
        domain: Sequence[Any],
        fields: Sequence[str],
        *,
        order: Sequence[tuple[str, str]] | None = None,
        limit: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        params = [("d", codec.query_value(list(domain)))] + [("f", f) for f in fields]
        if order is not None:
            params.append(("o", codec.query_value([list(o) for o in order])))
        if limit is not None:
            params.append(("s", str(limit)))
        records: list[dict[str, Any]] = await self._send(
            "GET",
            f"/model/{model}",
            params=params,
            context={**await self._context(), **(context or {})},
        )
        return records

    async def read(self, model: str, record_id: int | str, fields: Sequence[str]) -> dict[str, Any]:
        record: dict[str, Any] = await self._send(
            "GET",
            f"/model/{model}/{int(record_id)}",
            params=[("f", f) for f in fields],
            context=await self._context(),
        )
        return record

    async def create(
        self, model: str, values: Mapping[str, Any], fields: Sequence[str] = ("id",)
    ) -> dict[str, Any]:
        record: dict[str, Any] = await self._send(
            "POST",
            f"/model/{model}",
            body=dict(values),
            params=[("f", f) for f in fields],
            context=await self._context(),
        )
        return record

    async def write(self, model: str, record_id: int | str, values: Mapping[str, Any]) -> None:
        await self._send(
            "PUT",
            f"/model/{model}/{int(record_id)}",
            body=dict(values),
            params=[("f", "id")],
            context=await self._context(),
        )

    async def button(
        self, model: str, record_id: int | str, name: str, fields: Sequence[str] = ("id",)
    ) -> dict[str, Any] | None:
        """Run a workflow button (``quote``, ``confirm``, ``post`` ...) on one record."""
        result: dict[str, Any] | None = await self._send(
            "POST",
            f"/model/{model}/{int(record_id)}/{name}",
            body={},
            params=[("f", f) for f in fields],
            context=await self._context(),
        )
        return result

    # --- ErpClient: customers and catalog ---------------------------------------------------

    async def _party(self, code: str) -> dict[str, Any] | None:
        found = await self.search("party.party", [("code", "=", code)], mapping.PARTY_FIELDS)
        return found[0] if found else None

    async def upsert_customer(self, customer: CustomerUpsert) -> Customer:
        """Find the party by ``code`` (the CRM account id) or create it.

        An existing party comes back unchanged: the ERP owns the legal customer. Two
        attempts racing to create it meet Tryton's unique ``code``: the loser's create is
        refused, and it finds the winner's party instead.
        """
        party = await self._party(customer.external_id)
        if party is None:
            try:
                # The create answers with the new record's fields: no read-back.
                party = await self.create(
                    "party.party", mapping.party_values(customer), mapping.PARTY_FIELDS
                )
            except RejectedError:
                party = await self._party(customer.external_id)
                if party is None:
                    raise
        return mapping.customer_from_party(party)

    async def find_items(self, skus: Sequence[str]) -> dict[str, Product]:
        """Active products by code. Salability is Tryton's to judge: an item that cannot
        be sold is refused when the sale is quoted, with Tryton's own message."""
        wanted = list(dict.fromkeys(s for s in skus if s))
        found: dict[str, Product] = {}
        for start in range(0, len(wanted), ITEM_CHUNK):
            chunk = wanted[start : start + ITEM_CHUNK]
            records = await self.search(
                "product.product", [("code", "in", chunk)], mapping.PRODUCT_FIELDS
            )
            for record in records:
                product = mapping.product_from_record(record, self.base_currency)
                found[product.sku] = product
                self._remember_unit(record)
        return found

    # --- ErpClient: sales orders -----------------------------------------------------------

    async def _sales(self, reference: str) -> list[dict[str, Any]]:
        return await self.search(
            "sale.sale",
            [("reference", "=", reference), ("state", "!=", "cancelled")],
            mapping.SALE_FIELDS,
            order=[("id", "ASC")],
        )

    async def find_sales_order(self, external_id: str) -> SalesOrder | None:
        sales = await self._sales(external_id)
        if not sales:
            return None
        return mapping.sales_order_from_record(_furthest(sales), self.base_currency)

    async def create_sales_order(self, draft: SalesOrderDraft) -> SalesOrder:
        """Find or create the sale for ``draft.external_id``, then quote and confirm it.

        Tryton's ``reference`` is not unique, so two attempts (a retry racing a stalled
        earlier one) may both create a draft. Every attempt therefore converges on the
        same survivor — the sale furthest along, the oldest among equals — and cancels
        the other drafts and quotations. A confirmed sale is never touched, and every
        step is safe to repeat, so a retry after any failure resumes where it stopped.
        """
        sales = await self._sales(draft.external_id)
        if not sales:
            try:
                await self.create("sale.sale", await self._sale_values(draft))
            except RejectedError:
                # Someone may fix a unit or currency before the operator retries.
                self._currency_ids.clear()
                self._sale_units.clear()
                raise
            sales = await self._sales(draft.external_id)
        survivor = _furthest(sales)
        for duplicate in sales:
            if duplicate["id"] != survivor["id"]:
                await self._cancel_duplicate(duplicate, survivor)
        return await self._confirm(survivor)

    async def _sale_values(self, draft: SalesOrderDraft) -> dict[str, Any]:
        party = await self.read("party.party", draft.customer_id, ["addresses"])
        addresses = party.get("addresses") or []
        currency_id = await self._currency_id(draft.currency)
        units = await self._units([line.item_id for line in draft.lines])
        values: dict[str, Any] = {
            "company": await self.company_id(),
            "party": int(draft.customer_id),
            "currency": currency_id,
            "reference": draft.external_id,
            "sale_date": draft.tran_date,
            "description": (draft.memo or "")[:250],
            "lines": [["create", [_line_values(line, units) for line in draft.lines]]],
        }
        if addresses:
            # Without an address the sale stays a draft and ``quote`` says why.
            values["invoice_address"] = addresses[0]
            values["shipment_address"] = addresses[0]
        return values

    async def _currency_id(self, code: str) -> int:
        if code not in self._currency_ids:
            found = await self.search("currency.currency", [("code", "=", code)], ["id"])
            if not found:
                raise RejectedError(f"Tryton has no currency {code}", system=SYSTEM)
            self._currency_ids[code] = int(found[0]["id"])
        return self._currency_ids[code]

    async def _units(self, item_ids: Sequence[str]) -> dict[str, int]:
        """The sale unit of each product (known from ``find_items`` when it ran here)."""
        missing = sorted({int(i) for i in item_ids if i not in self._sale_units})
        if missing:
            for record in await self.search(
                "product.product", [("id", "in", missing)], ["sale_uom"]
            ):
                self._remember_unit(record)
        gone = sorted(set(item_ids) - self._sale_units.keys())
        if gone:
            raise RejectedError(
                f"Tryton has no sellable product with id {', '.join(gone)}", system=SYSTEM
            )
        return {i: self._sale_units[i] for i in item_ids}

    def _remember_unit(self, product: dict[str, Any]) -> None:
        unit = mapping.ref_id(product.get("sale_uom"))
        if unit is not None:
            self._sale_units[str(product["id"])] = int(unit)

    async def _cancel_duplicate(self, duplicate: dict[str, Any], survivor: dict[str, Any]) -> None:
        logger.warning(
            "sale %s duplicates sale %s for reference %s: cancelling it",
            duplicate["id"],
            survivor["id"],
            survivor.get("reference"),
        )
        try:
            await self.button("sale.sale", duplicate["id"], "cancel")
        except (RejectedError, NotFoundError) as exc:
            # The other attempt moved it on meanwhile: look again on the next try.
            raise TransientError(
                f"duplicate sale {duplicate['id']} changed while being cancelled: {exc}",
                system=SYSTEM,
            ) from exc

    async def _confirm(self, sale: dict[str, Any]) -> SalesOrder:
        sale_id = sale["id"]
        for state, button in (("draft", "quote"), ("quotation", "confirm")):
            if sale["state"] != state:
                continue
            try:
                # The button answers with the sale's fields as it leaves them: no read.
                answered = await self.button("sale.sale", sale_id, button, mapping.SALE_FIELDS)
            except (RejectedError, NotFoundError):
                current = await self._still_ours(sale_id)
                if current is None or current["state"] != state:
                    raise TransientError(
                        f"sale {sale_id} changed while being confirmed", system=SYSTEM
                    ) from None
                raise  # Tryton refuses the sale itself: a person must look
            sale = answered or await self.read("sale.sale", sale_id, mapping.SALE_FIELDS)
        return mapping.sales_order_from_record(sale, self.base_currency)

    async def _still_ours(self, sale_id: int) -> dict[str, Any] | None:
        try:
            sale = await self.read("sale.sale", sale_id, ["state"])
        except NotFoundError:
            return None
        return None if sale["state"] == "cancelled" else sale

    async def count_sales_orders(self, external_ids: Sequence[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        ids = list(dict.fromkeys(external_ids))
        for start in range(0, len(ids), ITEM_CHUNK):
            for sale in await self.search(
                "sale.sale",
                [
                    ("reference", "in", ids[start : start + ITEM_CHUNK]),
                    ("state", "!=", "cancelled"),
                ],
                ["reference"],
            ):
                counts[sale["reference"]] = counts.get(sale["reference"], 0) + 1
        return counts

    # --- ErpClient: change feed ---------------------------------------------------------

    @property
    def change_kinds(self) -> frozenset[ChangeKind]:
        """Orders, invoices, customers and items. Tryton keeps subscriptions in its
        ``sale_subscription`` module, which this installation does not activate (nor
        does Syncline read it yet): no subscription changes."""
        return frozenset(_FEEDS)

    async def changes(self, kind: ChangeKind, after: ChangeCursor, limit: int) -> ErpChangePage:
        """Records of ``kind`` changed strictly after ``after``, oldest first.

        The order is (modification time, id), where the modification time is Tryton's
        ``write_date``, or ``create_date`` for a record never edited (see ``keyset``).
        Tryton stamps ``write_date`` with its transaction's start, so a long transaction
        can commit a change older than the newest one already read; the change feed
        re-reads an overlap window for that reason.
        """
        feed = _FEEDS.get(kind)
        if feed is None:
            raise RejectedError(
                f"Tryton reports no {kind.value} changes (see change_kinds)", system=SYSTEM
            )
        records, has_more = await self._keyset(feed, after, limit)
        changes = [
            feed.convert(record, self.base_currency, feed.stamps.modified_at(record))
            for record in records
        ]
        return ErpChangePage(kind=kind, changes=changes, has_more=has_more)

    async def _keyset(
        self, feed: _Feed, after: ChangeCursor, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        fields = keyset.merge_fields(feed.fields, feed.stamps.fields)
        context = _ARCHIVED_TOO if feed.archived_too else None

        async def search(
            domain: list[Any], order: list[tuple[str, str]], size: int
        ) -> list[dict[str, Any]]:
            return await self.search(
                feed.model,
                [*feed.domain, *domain],
                fields,
                order=order,
                limit=size,
                context=context,
            )

        cursor: keyset.Key = (after.modified_at, after.id)
        while True:
            records, has_more = await keyset.page(search, feed.stamps, cursor, limit)
            kept = await self._ever_confirmed(records) if feed.accepted_only else records
            # An empty page would give the caller no position to go on from: read on.
            if kept or not has_more:
                return kept, has_more
            cursor = feed.stamps.key(records[-1])

    async def _ever_confirmed(self, sales: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The sales minus those cancelled before they were ever confirmed.

        ``create_sales_order`` cancels the duplicate drafts a race leaves behind, under
        the same reference as the live sale: reporting them as cancelled orders would
        tell the opportunity its order was cancelled. A cancelled sale keeps no trace
        of having been confirmed except Tryton's log of its transitions.
        """
        cancelled = [f"sale.sale,{s['id']}" for s in sales if s.get("state") == "cancelled"]
        if not cancelled:
            return sales
        logs = await self.search(
            "ir.model.log",
            [
                ("resource", "in", cancelled),
                ("event", "=", "transition"),
                ("target", "=", "state:confirmed"),
            ],
            ["resource"],
        )
        confirmed = {int(str(log["resource"]).rsplit(",", 1)[1]) for log in logs}
        return [s for s in sales if s.get("state") != "cancelled" or int(s["id"]) in confirmed]

    # --- ErpClient: orders by reference -------------------------------------------------

    async def orders_by_reference(
        self, after: str | None, limit: int, since: date | None = None
    ) -> list[OrderChange]:
        """Accepted sales (cancelled ones too) with a ``reference`` (the CRM opportunity)
        greater than ``after``, ``sale_date`` on or after ``since``, by reference then id;
        without their lines. Which sales count is the order feed's: confirmed or later,
        minus those cancelled before they were ever confirmed (``_ever_confirmed``).

        ``reference`` is not unique (a cancelled sale and the one that replaced it share
        one), so the keyset is the reference and a page never splits one: the sales of
        the last reference on a page all come with it, even past ``limit``.

        Order is the database's. SQLite compares text bytewise, which is ordinal order.
        PostgreSQL compares and sorts by the column's collation, the database default
        unless the database or column is C-collated: with a linguistic collation
        (``en_US.UTF-8`` puts ``a`` before ``Z``) pages still chain, since ``>`` and
        ORDER BY agree, but the stream is not ordinal, and a merge-join against an
        ordinal stream must detect that and stop rather than report false drift.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        orders: list[OrderChange] = []
        cursor = after
        while len(orders) < limit:
            size = limit - len(orders)
            sales = await self._sales_by_reference(cursor, since, size)
            if len(sales) == size:
                sales += await self._rest_of_reference(sales[-1], since)
            for sale in await self._ever_confirmed(sales):
                moment = mapping.modified_at(sale)
                orders.append(mapping.order_change_from_record(sale, self.base_currency, moment))
            if len(sales) < size:
                break
            cursor = str(sales[-1]["reference"])
        return orders

    async def _sales_by_reference(
        self, after: str | None, since: date | None, limit: int
    ) -> list[dict[str, Any]]:
        # Every string sorts after '': "> ''" also drops sales without a reference
        # (NULL compares as neither greater nor smaller).
        return await self.search(
            "sale.sale",
            [*_listed_sales(since), ("reference", ">", after if after is not None else "")],
            mapping.ORDER_LISTING_FIELDS,
            order=[("reference", "ASC"), ("id", "ASC")],
            limit=limit,
        )

    async def _rest_of_reference(
        self, last: dict[str, Any], since: date | None
    ) -> list[dict[str, Any]]:
        """The sales after ``last`` that share its reference, so no page splits one."""
        return await self.search(
            "sale.sale",
            [
                *_listed_sales(since),
                ("reference", "=", last["reference"]),
                ("id", ">", int(last["id"])),
            ],
            mapping.ORDER_LISTING_FIELDS,
            order=[("id", "ASC")],
        )

    async def invoice_changes(self, after: ChangeCursor, limit: int) -> InvoiceChangePage:
        """Customer invoices that were posted, by ``write_date`` then id (keyset): the
        ``INVOICE`` kind of ``changes``."""
        page = await self.changes(ChangeKind.INVOICE, after, limit)
        invoices = [c for c in page.changes if isinstance(c, InvoiceSnapshot)]
        return InvoiceChangePage(invoices=invoices, has_more=page.has_more)

    # --- ErpClient: cancel and amend ---------------------------------------------------

    async def cancel_sales_order(self, order_id: str) -> SalesOrder:
        """Cancel the sale while Tryton still can; a cancelled sale is returned as is.

        Tryton cancels drafts and quotations only; a confirmed sale goes back to draft
        first (Tryton allows confirmed -> draft). Once processing (invoiced or shipped)
        or done, Tryton no longer cancels a sale: an accountant credits its invoices.
        Each step is safe to repeat: a retry resumes from the state it finds.
        """
        sale = await self.read("sale.sale", order_id, mapping.SALE_FIELDS)
        if sale["state"] == "cancelled":
            return self._order(sale)
        if sale["state"] not in REOPENABLE:
            raise _locked(sale, "cancel")
        if sale["state"] == "confirmed":
            sale = await self._click(sale, "draft", "cancel")
        return self._order(await self._click(sale, "cancel", "cancel"))

    async def amend_sales_order(self, order_id: str, lines: Sequence[SalesOrderLine]) -> SalesOrder:
        """Replace the sale's lines, then quote and confirm it again.

        Only while the sale can go back to draft (draft, quotation, confirmed). The
        lines are replaced in one write (delete and create in one Tryton transaction),
        so a retry after any failure replaces them again and resumes; a sale Tryton
        refuses to quote stays a draft with the new lines and Tryton's message. A
        confirmed (or later) sale that already has these lines is returned as is: the
        retry of an amendment whose answer was lost.
        """
        sale = await self.read("sale.sale", order_id, mapping.SALE_FIELDS)
        if sale["state"] not in {"draft", "quotation", "cancelled"} and _same_lines(sale, lines):
            return self._order(sale)
        if sale["state"] not in REOPENABLE:
            raise _locked(sale, "amend")
        _check_lines(sale, lines)
        # Known before the sale is reopened: an unknown product leaves it untouched.
        units = await self._units([line.item_id for line in lines])
        if sale["state"] != "draft":
            sale = await self._click(sale, "draft", "amend")
        old = [int(line["id"]) for line in sale.get("lines") or []]
        await self.write(
            "sale.sale",
            sale["id"],
            {"lines": [["delete", old], ["create", [_line_values(line, units) for line in lines]]]},
        )
        return await self._confirm(sale)

    async def _click(self, sale: dict[str, Any], button: str, purpose: str) -> dict[str, Any]:
        """Run ``button`` on the sale; a refusal is explained from the state it is in."""
        try:
            answered = await self.button("sale.sale", sale["id"], button, mapping.SALE_FIELDS)
        except RejectedError as exc:
            current = await self.read("sale.sale", sale["id"], mapping.SALE_FIELDS)
            if current["state"] == sale["state"]:
                raise RejectedError(
                    f"Tryton refused to {purpose} sale {_number(sale)}: {exc.message}",
                    system=SYSTEM,
                    status_code=exc.status_code,
                    code=exc.code,
                ) from exc
            if current["state"] not in REOPENABLE:
                raise _locked(current, purpose) from exc
            raise TransientError(
                f"Tryton sale {_number(current)} went from {sale['state']} to "
                f"{current['state']} meanwhile; try again",
                system=SYSTEM,
            ) from exc
        return answered or await self.read("sale.sale", sale["id"], mapping.SALE_FIELDS)

    def _order(self, sale: dict[str, Any]) -> SalesOrder:
        return mapping.sales_order_from_record(sale, self.base_currency)


def _listed_sales(since: date | None) -> list[Any]:
    """The sales a listing by reference reads: those the order feed reads."""
    domain: list[Any] = [*_FEEDS[ChangeKind.ORDER].domain]
    if since is not None:
        domain.append(("sale_date", ">=", since))
    return domain


def _furthest(sales: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The sale every racing attempt agrees to keep."""
    return max(sales, key=lambda s: (mapping.SALE_PROGRESS.get(s["state"], 0), -int(s["id"])))


def _number(sale: dict[str, Any]) -> str:
    # Tryton numbers a sale when it is quoted; before that the id is all there is.
    return str(sale.get("number") or sale["id"])


_WHY_LOCKED = {
    "processing": "is processing (invoiced or shipped)",
    "done": "is done (invoiced, paid and shipped)",
}
_REMEDY = {
    "cancel": "cancel it in Tryton with a credit note for its invoice",
    "amend": "amend it in Tryton with a credit note and a new sale for the change",
}


def _locked(sale: dict[str, Any], purpose: str) -> RejectedError:
    """The refusal an operator reads when Tryton can no longer reopen the sale."""
    state = str(sale.get("state"))
    if state == "cancelled":
        message = f"Tryton sale {_number(sale)} is cancelled: there is nothing to {purpose}"
    else:
        why = _WHY_LOCKED.get(state, f"is {state}")
        message = (
            f"Tryton sale {_number(sale)} {why}, so Syncline can no longer {purpose} it; "
            f"{_REMEDY[purpose]}"
        )
    return RejectedError(message, system=SYSTEM, code=f"sale_{state}")


def _check_lines(sale: dict[str, Any], lines: Sequence[SalesOrderLine]) -> None:
    """Refuse what Tryton would only refuse after the sale went back to draft."""
    if not lines:
        raise RejectedError(
            f"an amendment of Tryton sale {_number(sale)} has no lines; cancel the order instead",
            system=SYSTEM,
        )
    currency = (sale.get("currency") or {}).get("code")
    foreign = sorted({line.rate.currency for line in lines} - {currency})
    if currency and foreign:
        raise RejectedError(
            f"Tryton sale {_number(sale)} is in {currency}; the amendment has prices in "
            f"{', '.join(foreign)}",
            system=SYSTEM,
        )


def _same_lines(sale: dict[str, Any], lines: Sequence[SalesOrderLine]) -> bool:
    """Whether the sale's product lines are ``lines`` (product, quantity, unit price)."""

    def key(product: Any, quantity: Any, price: Any) -> tuple[str, Decimal, Decimal]:
        return str(mapping.ref_id(product)), Decimal(str(quantity)), Decimal(str(price))

    current = sorted(
        key(line.get("product"), line.get("quantity"), line.get("unit_price"))
        for line in sale.get("lines") or []
        if line.get("type", "line") == "line"
    )
    wanted = sorted(key(line.item_id, line.quantity, line.rate.amount) for line in lines)
    return current == wanted


def _line_values(line: SalesOrderLine, units: Mapping[str, int]) -> dict[str, Any]:
    return {
        "type": "line",
        "product": int(line.item_id),
        "quantity": float(line.quantity),
        # RPC runs no on-change: unit and price must be given.
        "unit": units[line.item_id],
        "unit_price": line.rate.amount,
        "description": line.description or line.sku,
    }
