"""``NetSuiteClient``: the ``ErpClient`` over NetSuite's SuiteTalk REST API.

Every HTTP request, the token request included, holds one ``governor.slot()`` for
its whole duration, so Syncline never has more calls in flight than the account's
concurrency pool allows. Writes are keyed by external id (DESIGN promise 3), and
NetSuite keeps an external id unique per record type, so a second record under one
key cannot exist: a first try creates straight away (``POST`` with ``externalId``),
and a refusal is followed by the look-up that tells "it exists" from "it is wrong".
Only where a record of that key may already exist (a retry, an order cancelled
before the deal was won again) is the look-up made first; then an absent record is
written with the upsert (``PUT eid:``), NetSuite's atomic create-or-update.

Why create rather than upsert on the first try: the upsert's update half would
overwrite what the ERP owns (a customer finance keyed in under that external id, an
order it edited). Oracle's help documents the duplicate external id as a 400 but
names no stable error code for it (the sandbox answers ``DUP_RCRD``), which is why a
refusal is told apart by looking the key up, not by its code.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from datetime import UTC, date
from typing import Any
from urllib.parse import quote

import httpx

from connectors.errors import AuthError, NotFoundError, RejectedError, TransientError
from connectors.governor import ConcurrencyGovernor, UnlimitedGovernor
from connectors.http import DEFAULT_TIMEOUT, HttpConnector, build_http_client, transport_error
from connectors.netsuite import approval, fulfilment, mapping
from connectors.netsuite.auth import request_auth
from connectors.netsuite.credentials import NetSuiteCredentials
from connectors.netsuite.currency_codes import CurrencyCodes
from connectors.netsuite.errors import SYSTEM, map_error
from connectors.netsuite.listing_rows import order_row
from connectors.netsuite.settlement import SettlementReader
from models import exact_json
from models.billing import ChangeCursor
from models.changes import ChangeKind, ErpChange, ErpChangePage, OrderChange
from models.erp import (
    Customer,
    CustomerUpsert,
    OrderStatus,
    Product,
    SalesOrder,
    SalesOrderDraft,
    SalesOrderLine,
)
from models.order_rows import ErpRow

logger = logging.getLogger(__name__)

RECORD_PATH = "/services/rest/record/v1"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
GOVERNANCE_PATH = "/services/rest/system/v1/governanceLimits"
# The invoice's Void button. NetSuite's REST record API has no void verb (SuiteScript's
# ``transaction.void`` does it); the sandbox serves the button's action here.
VOID_PATH = "/app/accounting/transactions/invoice/{id}/void"
SUITEQL_PAGE_SIZE = 1000
# SKUs per SuiteQL IN list: well under Oracle's 1,000-expression limit and short URLs.
ITEM_CHUNK = 200
# A customer's default billing address, by its key (``customer.defaultbillingaddress``).
ADDRESS_QUERY = "SELECT nkey, addr1, addr2, city, state, zip, country FROM entityaddress"
# What a ``transaction`` row of a sales order is read with, by the feed and the listing.
ORDER_COLUMNS = (
    "id, tranid, externalid, entity, status, foreigntotal, currency, trandate, lastmodifieddate"
)


def record_key(id_or_eid: str) -> str:
    """``"123"`` or ``"eid:ABC"`` as a URL path segment (external ids are escaped)."""
    if id_or_eid.startswith("eid:"):
        return "eid:" + quote(id_or_eid[4:], safe="")
    return quote(id_or_eid, safe="")


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sql_ids(ids: Sequence[str]) -> str:
    """Internal ids for an IN list; anything but digits would be a bug, never SQL."""
    if not all(i.isdigit() for i in ids):
        raise ValueError(f"not internal ids: {list(ids)!r}")
    return ", ".join(ids)


def _chunks(values: Sequence[str]) -> list[Sequence[str]]:
    return [values[start : start + ITEM_CHUNK] for start in range(0, len(values), ITEM_CHUNK)]


def keyset_query(columns: str, table: str, where: str, after: ChangeCursor) -> str:
    """Rows strictly after ``after`` by (``lastmodifieddate``, id), oldest first.

    NetSuite stamps to the second, so the id breaks ties: records sharing a stamp
    across a page boundary are neither skipped nor read twice.
    """
    moment = after.modified_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    stamp = f"TO_TIMESTAMP('{moment}', 'YYYY-MM-DD HH24:MI:SS')"
    keyset = f"(lastmodifieddate > {stamp} OR (lastmodifieddate = {stamp} AND id > {after.id}))"
    condition = f"{where} AND {keyset}" if where else keyset
    return f"SELECT {columns} FROM {table} WHERE {condition} ORDER BY lastmodifieddate, id"


def reference_query(after: str | None, since: date | None, *, raw: bool = False) -> str:
    """Sales orders of opportunities after ``after``, by external id.

    NetSuite keeps external ids unique per record type, so the external id alone is a
    keyset: no order shares one with another across a page boundary. SuiteQL compares
    and sorts text in binary order, which is Python's ordinal order. An opportunity won
    again has orders ``<id>``, ``<id>-2``… (``mapping.order_key``), adjacent in that
    order; ``after`` names an opportunity, so its later orders are past too, unless
    ``raw`` says it is an external id a page ended on.
    """
    conditions = ["type = 'SalesOrd'", "externalid IS NOT NULL"]
    if after is not None:
        conditions.append(f"externalid > {_sql_string(after)}")
        if not raw:
            conditions.append(f"externalid NOT LIKE {_sql_string(after + '-%')}")
    if since is not None:
        conditions.append(f"trandate >= TO_DATE('{since.isoformat()}', 'YYYY-MM-DD')")
    return (
        f"SELECT {ORDER_COLUMNS} FROM transaction WHERE {' AND '.join(conditions)} "
        "ORDER BY externalid"
    )


class NetSuiteClient(HttpConnector):
    """Implements ``connectors.protocols.ErpClient``; also a small generic REST client."""

    system = SYSTEM

    def __init__(
        self,
        base_url: str,
        credentials: NetSuiteCredentials,
        governor: ConcurrencyGovernor | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        *,
        base_currency: str = "USD",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_connections: int = 50,
        subsidiary_id: str | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.base_currency = base_currency
        # OneWorld: the subsidiary new customers and sales orders are booked in.
        self.subsidiary_id = subsidiary_id
        self._governor: ConcurrencyGovernor = governor or UnlimitedGovernor()
        self._currency_codes = CurrencyCodes(self._currency_list)
        self._http = build_http_client(
            self.base_url,
            system=SYSTEM,
            transport=transport,
            timeout=timeout,
            max_connections=max_connections,
        )
        self._auth = request_auth(credentials, self._http, self._governor)

    def __repr__(self) -> str:  # never the credentials
        return f"NetSuiteClient(base_url={self.base_url!r})"

    # --- transport ----------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[httpx.Response, str]:
        """One authorized try; the response and the credential it carried."""
        request_headers = {"Accept": "application/json", **(headers or {})}
        content = None
        if body is not None:
            content = exact_json.dumps(body).encode("utf-8")
            request_headers["Content-Type"] = "application/json"
        request = self._http.build_request(
            method, path, content=content, params=params, headers=request_headers
        )
        credential = await self._auth.credential()
        async with self._governor.slot():
            self._auth.apply(request, credential)
            try:
                response = await self._http.send(request)
            except httpx.TransportError as exc:
                # The write may have committed: callers' find-or-create makes retry safe.
                raise transport_error(SYSTEM, exc) from exc
        logger.debug("%s %s -> %d", method, path, response.status_code)
        return response, credential

    async def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        response, credential = await self._send(
            method, path, body=body, params=params, headers=headers
        )
        if response.status_code == 401:
            # Expired or revoked: a fresh credential, one more try (a 401 did no work).
            await self._auth.renew(credential)
            response, _ = await self._send(method, path, body=body, params=params, headers=headers)
            if response.status_code == 401:
                raise AuthError(
                    "NetSuite refused the credentials even after a renewal",
                    system=SYSTEM,
                    status_code=401,
                )
        if not response.is_success:
            raise map_error(response, secrets=self._auth.secrets)
        return response

    @staticmethod
    def _json(response: httpx.Response) -> Any:
        try:
            return exact_json.loads(response.content)
        except ValueError:
            raise TransientError(
                "the response was not valid JSON", system=SYSTEM, status_code=response.status_code
            ) from None

    @staticmethod
    def _id_from_location(response: httpx.Response) -> str:
        location = str(response.headers.get("location", ""))
        internal_id = location.rstrip("/").rsplit("/", 1)[-1]
        if not internal_id:
            raise TransientError(
                "the write succeeded but returned no Location",
                system=SYSTEM,
                status_code=response.status_code,
            )
        return internal_id

    # --- generic records and SuiteQL ------------------------------------------------------

    async def get_record(self, record_type: str, id_or_eid: str) -> dict[str, Any]:
        """A record by internal id (``"123"``) or external id (``"eid:ABC"``)."""
        response = await self._request(
            "GET", f"{RECORD_PATH}/{record_type}/{record_key(id_or_eid)}"
        )
        record: dict[str, Any] = self._json(response)
        return record

    async def find_record(self, record_type: str, id_or_eid: str) -> dict[str, Any] | None:
        try:
            return await self.get_record(record_type, id_or_eid)
        except NotFoundError:
            return None

    async def create_record(self, record_type: str, body: Mapping[str, Any]) -> str:
        """``POST``; the new record's internal id (from ``Location``)."""
        response = await self._request("POST", f"{RECORD_PATH}/{record_type}", body=body)
        return self._id_from_location(response)

    async def update_record(
        self, record_type: str, id_or_eid: str, body: Mapping[str, Any]
    ) -> None:
        await self._request(
            "PATCH", f"{RECORD_PATH}/{record_type}/{record_key(id_or_eid)}", body=body
        )

    async def upsert_record(
        self, record_type: str, external_id: str, body: Mapping[str, Any]
    ) -> str:
        """``PUT …/eid:{external_id}``: create or update atomically; the internal id."""
        response = await self._request(
            "PUT", f"{RECORD_PATH}/{record_type}/{record_key('eid:' + external_id)}", body=body
        )
        return self._id_from_location(response)

    async def delete_record(self, record_type: str, id_or_eid: str) -> None:
        await self._request("DELETE", f"{RECORD_PATH}/{record_type}/{record_key(id_or_eid)}")

    async def void_invoice(self, invoice_id: str) -> None:
        """A finance user's Void on an invoice (the demo's finance step uses it; Syncline
        itself never voids). On a real account this takes a RESTlet calling
        ``transaction.void``, which Syncline does not ship: the sandbox serves the
        button's action. ``RejectedError`` when NetSuite refuses (already voided, a
        payment or credit applied, a closed period)."""
        await self._request("POST", VOID_PATH.format(id=quote(invoice_id, safe="")))

    async def metadata_catalog(self, record_type: str | None = None) -> dict[str, Any]:
        """The metadata catalog: the record types this role may use (``items``), or one
        record type's fields as JSON Schema (``properties``; custom fields carry
        ``x-ns-custom-field``), as the account is customised."""
        path = f"{RECORD_PATH}/metadata-catalog"
        if record_type is None:
            response = await self._request("GET", path)
        else:
            response = await self._request(
                "GET",
                f"{path}/{quote(record_type, safe='')}",
                headers={"Accept": "application/schema+json"},
            )
        body = self._json(response)
        if not isinstance(body, dict):
            raise TransientError("unexpected metadata catalog shape", system=SYSTEM)
        return body

    async def governance_limits(self) -> dict[str, Any]:
        """``governanceLimits``: the account's concurrency limit and this integration's
        share of it. NetSuite answers it to administrators only."""
        body = self._json(await self._request("GET", GOVERNANCE_PATH))
        if not isinstance(body, dict):
            raise TransientError("unexpected governanceLimits shape", system=SYSTEM)
        return body

    async def suiteql_page(
        self, query: str, *, limit: int, offset: int = 0
    ) -> tuple[list[dict[str, Any]], bool]:
        """One page of rows, and whether more follow; currencies named by ISO code."""
        rows, has_more = await self._suiteql_rows(query, limit=limit, offset=offset)
        await self._currency_codes.name(rows)
        return rows, has_more

    async def _suiteql_rows(
        self, query: str, *, limit: int, offset: int
    ) -> tuple[list[dict[str, Any]], bool]:
        response = await self._request(
            "POST",
            SUITEQL_PATH,
            body={"q": query},
            params={"limit": limit, "offset": offset},
            headers={"Prefer": "transient"},
        )
        page = self._json(response)
        rows = [{k: v for k, v in item.items() if k != "links"} for item in page.get("items", [])]
        return rows, bool(page.get("hasMore"))

    async def _currency_list(self, query: str) -> list[dict[str, Any]]:
        """The account's currencies (a few dozen: one page), read as they are."""
        rows, _ = await self._suiteql_rows(query, limit=SUITEQL_PAGE_SIZE, offset=0)
        return rows

    async def suiteql_pages(
        self, query: str, *, page_size: int = SUITEQL_PAGE_SIZE
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """One list of rows per page, following ``hasMore``."""
        offset = 0
        while True:
            rows, has_more = await self.suiteql_page(query, limit=page_size, offset=offset)
            yield rows
            if not has_more or not rows:
                return
            offset += len(rows)

    async def suiteql(
        self, query: str, *, page_size: int = SUITEQL_PAGE_SIZE
    ) -> list[dict[str, Any]]:
        """Every row of the query, across all pages."""
        rows: list[dict[str, Any]] = []
        async for page in self.suiteql_pages(query, page_size=page_size):
            rows.extend(page)
        return rows

    # --- ErpClient ------------------------------------------------------------------------

    async def upsert_customer(self, customer: CustomerUpsert) -> Customer:
        """Create the customer under its external id, or find the one already there.

        An existing customer comes back unchanged: once created, the ERP owns the legal
        customer (DESIGN promise 1) and Syncline does not overwrite it. One call for a
        new customer (``POST``; its id from ``Location``); a refused create is followed
        by the look-up, so a retry after a lost response, or two runs racing, end with
        the one record NetSuite's unique external id allows.
        """
        body = mapping.customer_body(customer, self.subsidiary_id)
        try:
            internal_id = await self.create_record("customer", body)
        except RejectedError:
            record = await self.find_record("customer", "eid:" + customer.external_id)
            if record is None:
                raise  # refused on its merits, not because it exists
            return mapping.customer_from_record(record)
        return Customer(
            id=internal_id,
            external_id=customer.external_id,
            company_name=customer.company_name,
            billing_address=customer.billing_address,
            tax_id=customer.tax_id,
            currency=customer.currency,
        )

    async def find_items(self, skus: Sequence[str]) -> dict[str, Product]:
        wanted = list(dict.fromkeys(s for s in skus if s))
        found: dict[str, Product] = {}
        for start in range(0, len(wanted), ITEM_CHUNK):
            chunk = wanted[start : start + ITEM_CHUNK]
            query = (
                "SELECT id, itemid, displayname, baseprice, isinactive, custitem_term_months, "
                "custitem_revenue_type FROM item "
                f"WHERE itemid IN ({', '.join(_sql_string(s) for s in chunk)}) "
                "AND isinactive = 'F'"
            )
            for row in await self.suiteql(query):
                product = mapping.product_from_row(row, self.base_currency)
                found[product.sku] = product
        return found

    async def find_sales_order(self, external_id: str) -> SalesOrder | None:
        record = await self.find_record("salesOrder", "eid:" + external_id)
        return (
            None if record is None else mapping.sales_order_from_record(record, self.base_currency)
        )

    async def create_sales_order(
        self, draft: SalesOrderDraft, *, may_exist: bool = True
    ) -> SalesOrder:
        """Find the opportunity's live order or create it; safe to repeat.

        ``draft.external_id`` is the opportunity id. Its cancelled orders are passed
        over: a deal won again after its order was cancelled gets a new order, under
        the next key (``mapping.order_key``), found again by a retry.

        ``may_exist=False`` (the caller's first try at an opportunity it never placed):
        the create goes out at once and the order is read back for its number, two
        calls; a refused create falls back to the look-ups, so an order that did exist
        is found, never duplicated nor overwritten.

        ``RejectedError`` when NetSuite refuses the order on its merits (unknown item,
        closed period, ...), with the error code and field paths.
        """
        if not may_exist:
            first = draft.model_copy(
                update={"external_id": mapping.order_key(draft.external_id, 1)}
            )
            try:
                internal_id = await self.create_record(
                    "salesOrder", mapping.sales_order_body(first, self.subsidiary_id)
                )
            except RejectedError as refusal:
                return await self._find_or_create_order(draft, refusal)
            return await self._sales_order(internal_id)
        return await self._find_or_create_order(draft, None)

    async def _find_or_create_order(
        self, draft: SalesOrderDraft, refusal: RejectedError | None
    ) -> SalesOrder:
        """The look-ups, generation by generation, then the upsert of the first free
        key. After a refused first create (``refusal``), finding no order at all means
        the refusal was on the order's merits: it is raised as NetSuite gave it."""
        generation = 1
        while True:
            key = mapping.order_key(draft.external_id, generation)
            existing = await self.find_sales_order(key)
            if existing is None:
                break
            if existing.state is not OrderStatus.CANCELLED:
                return await self._with_approval_decision(existing)
            generation += 1
        if refusal is not None and generation == 1:
            raise refusal
        internal_id = await self.upsert_record(
            "salesOrder",
            key,
            mapping.sales_order_body(
                draft.model_copy(update={"external_id": key}), self.subsidiary_id
            ),
        )
        return await self._sales_order(internal_id)

    async def _with_approval_decision(self, order: SalesOrder) -> SalesOrder:
        """A found order that is Closed may have been rejected at approval: NetSuite
        shows both as "Closed", and only the system notes tell them apart. A run that
        finds it (a replay after the first run parked, a retry) must not book it."""
        if order.state is not OrderStatus.CLOSED:
            return order
        rejected, reason = await approval.rejection(order.id, self.suiteql)
        if not rejected:
            return order
        return order.model_copy(update={"state": OrderStatus.REJECTED, "rejection_reason": reason})

    async def count_sales_orders(self, external_ids: Sequence[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        ids = list(dict.fromkeys(external_ids))
        for start in range(0, len(ids), ITEM_CHUNK):
            chunk = ", ".join(_sql_string(i) for i in ids[start : start + ITEM_CHUNK])
            for row in await self.suiteql(
                "SELECT id, externalid, status FROM transaction "
                f"WHERE type = 'SalesOrd' AND externalid IN ({chunk})"
            ):
                if row.get("status") != mapping.SALES_ORDER_CANCELLED:
                    key = str(row["externalid"])
                    counts[key] = counts.get(key, 0) + 1
        return counts

    # --- change feed ----------------------------------------------------------------------

    @property
    def change_kinds(self) -> frozenset[ChangeKind]:
        """NetSuite reports every kind (subscriptions through SuiteBilling)."""
        return frozenset(ChangeKind)

    async def changes(self, kind: ChangeKind, after: ChangeCursor, limit: int) -> ErpChangePage:
        """Records of ``kind`` changed strictly after ``after``, oldest first, by
        (``lastmodifieddate``, id): one SuiteQL page, plus look-ups for what the row
        does not carry (order lines, a customer's address, an order's external id)."""
        readers: dict[
            ChangeKind, Callable[[ChangeCursor, int], Awaitable[tuple[list[ErpChange], bool]]]
        ] = {
            ChangeKind.ORDER: self._order_changes,
            ChangeKind.FULFILMENT: self._fulfilment_changes,
            ChangeKind.INVOICE: self._invoice_changes,
            ChangeKind.CUSTOMER: self._customer_changes,
            ChangeKind.ITEM: self._item_changes,
            ChangeKind.SUBSCRIPTION: self._subscription_changes,
            ChangeKind.CREDIT_MEMO: self._settlement.credit_memo_changes,
            ChangeKind.PAYMENT: self._settlement.payment_changes,
        }
        changes, has_more = await readers[kind](after, limit)
        return ErpChangePage(kind=kind, changes=changes, has_more=has_more)

    async def _invoice_changes(
        self, after: ChangeCursor, limit: int
    ) -> tuple[list[ErpChange], bool]:
        """Invoices by ``lastmodifieddate`` then id (keyset), with their orders' external
        ids and the credits and cash applied to each (``SettlementReader.settled``).
        NetSuite stamps a payment's or credit's application on the invoice it settles,
        so what is due arrives as invoice changes too."""
        query = keyset_query(
            "id, tranid, createdfrom, entity, status, foreigntotal, amountremaining, "
            "currency, trandate, lastmodifieddate",
            "transaction",
            "type = 'CustInvc'",
            after,
        )
        rows, has_more = await self.suiteql_page(query, limit=limit)
        external_ids = await self.order_external_ids(
            [str(r["createdfrom"]) for r in rows if r.get("createdfrom")]
        )
        invoices = await self._settlement.settled(
            [mapping.invoice_from_row(row, external_ids, self.base_currency) for row in rows]
        )
        changes: list[ErpChange] = [mapping.invoice_change(invoice) for invoice in invoices]
        return changes, has_more

    async def settling_records(self, invoice_ids: Sequence[str]) -> list[ErpChange]:
        """Credit memos, payments and refunds applied to these invoices (links first)."""
        return await self._settlement.settling(invoice_ids)

    @property
    def _settlement(self) -> SettlementReader:
        async def page(query: str, limit: int) -> tuple[list[dict[str, Any]], bool]:
            return await self.suiteql_page(query, limit=limit)

        return SettlementReader(
            self.suiteql,
            page,
            self.order_external_ids,
            self.transaction_lines,
            self.base_currency,
        )

    async def order_external_ids(self, order_ids: Sequence[str]) -> dict[str, str]:
        """The external id (the CRM opportunity) of each order that has one."""
        wanted = sorted(set(order_ids))
        external_ids: dict[str, str] = {}
        for chunk in _chunks(wanted):
            for row in await self.suiteql(
                f"SELECT id, externalid FROM transaction WHERE id IN ({_sql_ids(chunk)})"
            ):
                if row.get("externalid"):
                    external_ids[str(row["id"])] = str(row["externalid"])
        return external_ids

    async def _order_changes(self, after: ChangeCursor, limit: int) -> tuple[list[ErpChange], bool]:
        query = keyset_query(ORDER_COLUMNS, "transaction", "type = 'SalesOrd'", after)
        rows, has_more = await self.suiteql_page(query, limit=limit)
        currencies = {str(r["id"]): mapping.order_currency(r, self.base_currency) for r in rows}
        lines = await self.transaction_lines(currencies)
        orders = [
            mapping.order_change_from_row(row, lines.get(str(row["id"]), []), self.base_currency)
            for row in rows
        ]
        changes: list[ErpChange] = list(await approval.decide(orders, self.suiteql))
        return changes, has_more

    async def _fulfilment_changes(
        self, after: ChangeCursor, limit: int
    ) -> tuple[list[ErpChange], bool]:
        query = keyset_query(
            fulfilment.FULFILMENT_COLUMNS, "transaction", fulfilment.FULFILMENT_WHERE, after
        )
        rows, has_more = await self.suiteql_page(query, limit=limit)
        changes = await fulfilment.fulfilments_of_rows(rows, self.suiteql, self._skus)
        return list(changes), has_more

    async def orders_by_reference(
        self, after: str | None, limit: int, since: date | None = None
    ) -> list[OrderChange]:
        """Sales orders of any status with an external id greater than ``after``, by
        external id (see ``reference_query``), without their lines."""
        rows = await self._reference_rows(after, limit, since)
        orders = [mapping.order_change_from_row(row, [], self.base_currency) for row in rows]
        rejected = await self._rejected_among(rows)
        return [
            o.model_copy(update={"status": OrderStatus.REJECTED}) if o.id in rejected else o
            for o in orders
        ]

    async def order_rows_by_reference(
        self, after: str | None, limit: int, since: date | None = None
    ) -> list[ErpRow]:
        """``orders_by_reference`` as listing rows (``models.order_rows``)."""
        rows = await self._reference_rows(after, limit, since)
        rejected = await self._rejected_among(rows)
        return [order_row(row, self.base_currency, str(row["id"]) in rejected) for row in rows]

    async def _rejected_among(self, rows: list[dict[str, Any]]) -> set[str]:
        """The closed orders of a listing page that closed from Pending Approval: rejected
        at approval, as the change feed reads them (``approval.decide``). Only closed
        orders are looked up (few: NetSuite bills an order rather than closing it)."""
        closed = [
            mapping.order_change_from_row(row, [], self.base_currency)
            for row in rows
            if mapping.order_status(row)[0] is OrderStatus.CLOSED
        ]
        if not closed:
            return set()
        decided = await approval.decide(closed, self.suiteql)
        return {order.id for order in decided if order.status is OrderStatus.REJECTED}

    async def _reference_rows(
        self, after: str | None, limit: int, since: date | None
    ) -> list[dict[str, Any]]:
        """One SuiteQL request per 1,000 orders, each a fresh keyset query rather than an
        offset into one."""
        if limit < 1:
            raise ValueError("limit must be at least 1")
        orders: list[dict[str, Any]] = []
        cursor, raw = after, False
        while len(orders) < limit:
            size = min(limit - len(orders), SUITEQL_PAGE_SIZE)
            query = reference_query(cursor, since, raw=raw)
            rows, has_more = await self.suiteql_page(query, limit=size)
            orders += rows
            if not has_more or len(rows) < size:
                return orders
            cursor, raw = str(rows[-1]["externalid"]), True
        # A full page ends on an opportunity whose later orders (won again) may lie
        # past it: the page takes them too, so no opportunity is split across pages.
        last = mapping.order_opportunity(orders[-1]) if orders else None
        if last and mapping.has_generations(last):
            seen = {str(row["id"]) for row in orders}
            rows = await self.suiteql(
                f"SELECT {ORDER_COLUMNS} FROM transaction WHERE type = 'SalesOrd' "
                f"AND externalid LIKE {_sql_string(last + '-%')} ORDER BY externalid"
            )
            orders += [
                row
                for row in rows
                if str(row["id"]) not in seen
                and mapping.opportunity_of(str(row["externalid"])) == last
            ]
        return orders

    async def transaction_lines(
        self, currencies: Mapping[str, str]
    ) -> dict[str, list[SalesOrderLine]]:
        """The item lines of these transactions (id -> currency; orders, credit memos),
        from ``transactionline``: one query per chunk, never one request per record."""
        rows: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(currencies)):
            rows += await self.suiteql(
                "SELECT transaction, linesequencenumber, item, quantity, rate, foreignamount, "
                "memo, custcol_revenue_type, custcol_term_months FROM transactionline "
                f"WHERE transaction IN ({_sql_ids(chunk)}) "
                "AND mainline = 'F' AND taxline = 'F' ORDER BY transaction, linesequencenumber"
            )
        skus = await self._skus([str(r["item"]) for r in rows if r.get("item")])
        lines: dict[str, list[SalesOrderLine]] = {}
        for row in rows:
            order_id = str(row["transaction"])
            line = mapping.order_line_from_row(row, skus, currencies[order_id])
            lines.setdefault(order_id, []).append(line)
        return lines

    async def _skus(self, item_ids: Sequence[str]) -> dict[str, str]:
        skus: dict[str, str] = {}
        for chunk in _chunks(sorted(set(item_ids))):
            for row in await self.suiteql(
                f"SELECT id, itemid FROM item WHERE id IN ({_sql_ids(chunk)})"
            ):
                skus[str(row["id"])] = str(row["itemid"])
        return skus

    async def _customer_changes(
        self, after: ChangeCursor, limit: int
    ) -> tuple[list[ErpChange], bool]:
        query = keyset_query(
            "id, externalid, companyname, custentity_tax_id, currency, isinactive, "
            "defaultbillingaddress, lastmodifieddate",
            "customer",
            "",
            after,
        )
        rows, has_more = await self.suiteql_page(query, limit=limit)
        addresses = await self._addresses(
            [str(r["defaultbillingaddress"]) for r in rows if r.get("defaultbillingaddress")]
        )
        changes: list[ErpChange] = [
            mapping.customer_change(row, addresses.get(str(row.get("defaultbillingaddress"))))
            for row in rows
        ]
        return changes, has_more

    async def _addresses(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The customers' default billing addresses by key: one query for a page of
        customers, where reading each customer record would be one call each.

        SuiteQL's customer row has no address fields; ``defaultbillingaddress`` is the
        key (``nkey``) of an ``entityaddress`` row (NetSuite's Records Catalog names
        the join; its docs do not say whether ``country`` is always the ISO code, as
        the sandbox answers it)."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(sorted(set(keys))):
            # Numbers in the sandbox; a published schema catalogue types nkey as text.
            listed = ", ".join(k if k.isdigit() else _sql_string(k) for k in chunk)
            for row in await self.suiteql(f"{ADDRESS_QUERY} WHERE nkey IN ({listed})"):
                found[str(row["nkey"])] = row
        return found

    async def _item_changes(self, after: ChangeCursor, limit: int) -> tuple[list[ErpChange], bool]:
        query = keyset_query(
            "id, itemid, displayname, baseprice, isinactive, lastmodifieddate", "item", "", after
        )
        rows, has_more = await self.suiteql_page(query, limit=limit)
        changes: list[ErpChange] = [
            mapping.item_change_from_row(row, self.base_currency) for row in rows
        ]
        return changes, has_more

    async def _subscription_changes(
        self, after: ChangeCursor, limit: int
    ) -> tuple[list[ErpChange], bool]:
        query = keyset_query(
            "id, customer, salesorder, name, startdate, enddate, status, recurringamount, "
            "currency, lastmodifieddate",
            "subscription",
            "",
            after,
        )
        rows, has_more = await self.suiteql_page(query, limit=limit)
        external_ids = await self.order_external_ids(
            [str(r["salesorder"]) for r in rows if r.get("salesorder")]
        )
        changes: list[ErpChange] = [
            mapping.subscription_change_from_row(row, external_ids, self.base_currency)
            for row in rows
        ]
        return changes, has_more

    # --- order changes ----------------------------------------------------------------------

    async def _sales_order(self, order_id: str) -> SalesOrder:
        record = await self.get_record("salesOrder", order_id)
        return mapping.sales_order_from_record(record, self.base_currency)

    async def cancel_sales_order(self, order_id: str) -> SalesOrder:
        """Set the order's status to Cancelled; an already cancelled order comes back as
        is, so a retry after a lost response is a no-op.

        ``RejectedError`` when NetSuite refuses: the order has been billed (an invoice
        was created from it), fulfilled or closed. NetSuite ends the order's
        subscription with it.
        """
        record = await self.get_record("salesOrder", order_id)
        if mapping.is_cancelled(record):
            return mapping.sales_order_from_record(record, self.base_currency)
        await self.update_record(
            "salesOrder", order_id, {"status": {"id": mapping.SALES_ORDER_CANCELLED}}
        )
        return await self._sales_order(order_id)

    async def amend_sales_order(self, order_id: str, lines: Sequence[SalesOrderLine]) -> SalesOrder:
        """Replace every line of the order (sending the ``item`` sublist replaces it);
        the order as NetSuite re-read it. Lines already as wanted are not rewritten, so
        a retry does not bump the order's modification time again.

        ``RejectedError`` when NetSuite refuses (the order has been billed, is cancelled
        or closed, an item is unknown) or a line is priced in another currency.
        """
        current = await self._sales_order(order_id)
        if mapping.same_lines(current.lines, lines):
            return current
        try:
            sublist = mapping.order_lines_body(lines, current.currency)
        except ValueError as exc:
            raise RejectedError(
                str(exc), system=SYSTEM, code="INVALID_FLD_VALUE", fields=("item",)
            ) from None
        await self.update_record("salesOrder", order_id, {"item": sublist})
        return await self._sales_order(order_id)
