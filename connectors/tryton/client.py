"""``TrytonClient``: the ``ErpClient`` over Tryton's REST API.

The calls themselves are ``TrytonRest``'s (``transport``); this is what Syncline asks
of the ERP, with the sales orders in ``orders`` and the change listings in ``changes``.

Writes are find-or-create by business key: the party by its unique ``code`` (the CRM
account id), the sale by ``reference`` (the opportunity id). ``reference`` is not unique
in Tryton, so ``create_sales_order`` converges instead of trusting a look-up (see
``TrytonOrders.create``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, Self

import httpx

from connectors.errors import RejectedError
from connectors.governor import ConcurrencyGovernor
from connectors.http import DEFAULT_TIMEOUT
from connectors.tryton import mapping
from connectors.tryton.changes import CHANGE_KINDS, TrytonChanges
from connectors.tryton.errors import SYSTEM
from connectors.tryton.orders import TrytonOrders
from connectors.tryton.transport import IN_CHUNK, TrytonRest
from models.billing import ChangeCursor
from models.changes import ChangeKind, ErpChange, ErpChangePage, OrderChange
from models.erp import (
    Customer,
    CustomerUpsert,
    Product,
    SalesOrder,
    SalesOrderDraft,
    SalesOrderLine,
)
from models.order_rows import ErpRow


class TrytonClient:
    """Implements ``connectors.protocols.ErpClient``.

    ``rest`` is the REST client underneath, for reading and writing records Syncline
    has no business method for (probes, tests, benchmarks).
    """

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
        self.base_currency = base_currency
        self.rest = TrytonRest(
            base_url,
            database,
            application_key,
            company_id=company_id,
            governor=governor,
            transport=transport,
            timeout=timeout,
            max_connections=max_connections,
        )
        self._orders = TrytonOrders(self.rest, base_currency)
        self._changes = TrytonChanges(self.rest, base_currency)

    def __repr__(self) -> str:  # never the key
        return f"TrytonClient(base_url={self.rest.base_url!r}, database={self.rest.database!r})"

    async def aclose(self) -> None:
        await self.rest.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- customers and catalog ----------------------------------------------------------

    async def _party(self, code: str) -> dict[str, Any] | None:
        found = await self.rest.search("party.party", [("code", "=", code)], mapping.PARTY_FIELDS)
        return found[0] if found else None

    async def upsert_customer(self, customer: CustomerUpsert) -> Customer:
        """Create the party under ``code`` (the CRM account id), or find the one there.

        An existing party comes back unchanged: the ERP owns the legal customer. The
        create goes first (one call for a new customer: it answers with the new
        record's fields); Tryton's unique ``code`` refuses a second party, and the
        refused attempt (a retry, or the loser of a race) finds the existing one.
        """
        try:
            party = await self.rest.create(
                "party.party", mapping.party_values(customer), mapping.PARTY_FIELDS
            )
        except RejectedError:
            found = await self._party(customer.external_id)
            if found is None:
                raise  # refused on its merits, not because it exists
            party = found
        return mapping.customer_from_party(party)

    async def find_items(self, skus: Sequence[str]) -> dict[str, Product]:
        """Active products by code. Salability is Tryton's to judge: an item that cannot
        be sold is refused when the sale is quoted, with Tryton's own message."""
        wanted = list(dict.fromkeys(s for s in skus if s))
        found: dict[str, Product] = {}
        for start in range(0, len(wanted), IN_CHUNK):
            chunk = wanted[start : start + IN_CHUNK]
            records = await self.rest.search(
                "product.product", [("code", "in", chunk)], mapping.PRODUCT_FIELDS
            )
            for record in records:
                product = mapping.product_from_record(record, self.base_currency)
                found[product.sku] = product
                self._orders.remember_unit(record)
        return found

    # --- sales orders (see ``orders``) --------------------------------------------------

    async def find_sales_order(self, external_id: str) -> SalesOrder | None:
        return await self._orders.find(external_id)

    async def create_sales_order(
        self, draft: SalesOrderDraft, *, may_exist: bool = True
    ) -> SalesOrder:
        """Find or create the sale, then quote and confirm it (``TrytonOrders.create``)."""
        return await self._orders.create(draft, may_exist=may_exist)

    async def count_sales_orders(self, external_ids: Sequence[str]) -> dict[str, int]:
        return await self._orders.count(external_ids)

    async def cancel_sales_order(self, order_id: str) -> SalesOrder:
        """Cancel the sale while Tryton still can (``TrytonOrders.cancel``)."""
        return await self._orders.cancel(order_id)

    async def amend_sales_order(self, order_id: str, lines: Sequence[SalesOrderLine]) -> SalesOrder:
        """Replace the sale's lines and confirm it again (``TrytonOrders.amend``)."""
        return await self._orders.amend(order_id, lines)

    # --- change listings (see ``changes``) ----------------------------------------------

    @property
    def change_kinds(self) -> frozenset[ChangeKind]:
        """Orders, fulfilments (customer shipments done), invoices (credit notes among
        them), payments (refunds among them), customers and items.
        Tryton keeps subscriptions in its ``sale_subscription`` module, which this
        installation does not activate (nor does Syncline read it yet): no
        subscription changes."""
        return CHANGE_KINDS

    async def changes(self, kind: ChangeKind, after: ChangeCursor, limit: int) -> ErpChangePage:
        """Records of ``kind`` changed strictly after ``after`` (``TrytonChanges.changes``)."""
        return await self._changes.changes(kind, after, limit)

    async def settling_records(self, invoice_ids: Sequence[str]) -> list[ErpChange]:
        """The payment lines of these invoices (``TrytonChanges.settling_records``)."""
        return await self._changes.settling_records(invoice_ids)

    async def orders_by_reference(
        self, after: str | None, limit: int, since: date | None = None
    ) -> list[OrderChange]:
        """Accepted sales by reference (``TrytonChanges.orders_by_reference``)."""
        return await self._changes.orders_by_reference(after, limit, since)

    async def order_rows_by_reference(
        self, after: str | None, limit: int, since: date | None = None
    ) -> list[ErpRow]:
        """Accepted sales by reference as listing rows (``models.order_rows``)."""
        return await self._changes.order_rows_by_reference(after, limit, since)
