"""The ERP as its own users see it, once per kind of ERP: orders, invoices, payments,
finance's acts, the integration's credential, and a fingerprint for the settle wait.

The tests act as finance with the same credential Syncline uses (the sandbox has one
API client; Tryton's accountant is an administrator), so acts that need the ERP API wait
while the credential is revoked. The fingerprint reads the ERP's own database file,
which needs no credential at all.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import httpx

from connectors.errors import ConnectorError
from connectors.netsuite import NetSuiteClient
from connectors.netsuite.mapping import SALES_ORDER_CANCELLED
from connectors.netsuite.mapping import sales_order_from_record as netsuite_order
from connectors.tryton import TrytonClient
from connectors.tryton.mapping import SALE_FIELDS
from connectors.tryton.mapping import sales_order_from_record as tryton_order
from models.erp import SalesOrder
from sandbox.netsuite.approval import CLOSED, PENDING_APPROVAL, REJECTION_REASON_FIELD
from sandbox.tryton.accountant import TrytonAccountant, TrytonRPCError
from sandbox.tryton.bootstrap import TrytonSetup
from tests.e2e.conftest import Stack
from tests.lifecycle.erp_settlement import netsuite_invoices
from tests.lifecycle.model import InvoiceView, Line, OrderView, money
from tests.lifecycle.refused import Refused


def _view(
    order: SalesOrder,
    cancelled: bool,
    billed: bool,
    held: bool = False,
    rejected: bool = False,
    confirmed: bool = True,
) -> OrderView:
    return OrderView(
        id=order.id,
        number=order.order_number,
        status=order.status,
        cancelled=cancelled,
        total=money(order.total.amount),
        lines=tuple(Line(line.sku, line.quantity, money(line.rate.amount)) for line in order.lines),
        billed=billed,
        customer_id=order.customer_id,
        held=held,
        rejected=rejected,
        confirmed=confirmed,
    )


class ErpSide(Protocol):
    kind: str
    can_change_orders: bool
    """Whether finance (and Syncline) can cancel or re-line a confirmed order."""

    async def orders(self, opportunity_id: str) -> list[OrderView]: ...

    async def invoices(self, orders: list[OrderView]) -> list[InvoiceView]:
        """Posted invoices of these orders (drafts are not facts yet)."""
        ...

    async def post_invoice(self, order: OrderView) -> str: ...

    async def pay(self, invoice: InvoiceView, amount: Decimal) -> None: ...

    async def cancel(self, order: OrderView) -> None: ...

    async def edit(self, order: OrderView) -> None:
        """Finance adds one to the first line's quantity."""
        ...

    async def create_item(self, sku: str, price: Decimal) -> None: ...

    async def add_order(self, order: OrderView, opportunity_id: str) -> str:
        """Finance enters another order for the same opportunity (a copy of ``order``)."""
        ...

    async def revoke(self) -> str: ...

    async def restore(self) -> None: ...

    def fingerprint(self) -> Any: ...


class NetSuiteSide:
    kind = "netsuite"
    can_change_orders = True

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        erp = stack.erp.erp
        assert isinstance(erp, NetSuiteClient)
        self.client = erp
        self.admin_url = stack.dev.erp_url

    async def orders(self, opportunity_id: str) -> list[OrderView]:
        # Every generation of the opportunity's order: a deal won again after its order
        # was cancelled keys the new one ``<opportunity>-2`` (``mapping.order_key``).
        rows = await self.client.suiteql(
            "SELECT id FROM transaction WHERE type = 'SalesOrd' "
            f"AND (externalid = '{opportunity_id}' OR externalid LIKE '{opportunity_id}-%') "
            "ORDER BY id"
        )
        orders = []
        for row in rows:
            record = await self.client.get_record("salesOrder", str(row["id"]))
            status = str(record["status"]["id"])
            order = netsuite_order(record, self.client.base_currency)
            # Closed with the approver's reason: rejected at approval (``sandbox.approval``).
            rejected = status == CLOSED and REJECTION_REASON_FIELD in record
            held = status == PENDING_APPROVAL
            orders.append(
                _view(order, status == SALES_ORDER_CANCELLED, status == "G", held, rejected)
            )
        return orders

    async def invoices(self, orders: list[OrderView]) -> list[InvoiceView]:
        return await netsuite_invoices(self.client, orders)

    async def post_invoice(self, order: OrderView) -> str:
        return await self.stack.erp.post_invoice(order.id)

    async def pay(self, invoice: InvoiceView, amount: Decimal) -> None:
        await self.stack.erp.pay(invoice.id, amount)

    async def cancel(self, order: OrderView) -> None:
        await self.client.update_record("salesOrder", order.id, {"status": {"id": "C"}})

    async def edit(self, order: OrderView) -> None:
        current = await self.client._sales_order(order.id)
        first, *rest = current.lines
        lines = [first.model_copy(update={"quantity": first.quantity + 1}), *rest]
        await self.client.amend_sales_order(order.id, lines)

    async def create_item(self, sku: str, price: Decimal) -> None:
        await self.stack.erp.add_item(sku, f"Item {sku}", price)

    async def add_order(self, order: OrderView, opportunity_id: str) -> str:
        raise Refused("NetSuite keys a sales order by its opportunity: one order each")

    async def revoke(self) -> str:
        """An administrator revokes the certificate the worker logs in with: its tokens
        end at once and no new one is issued until it is restored."""
        certificate = self.stack.env["SYNCLINE_ERP_CERTIFICATE_ID"]
        async with httpx.AsyncClient(base_url=self.admin_url, timeout=30) as http:
            answer = await http.post(f"/admin/oauth2/certificates/{certificate}/revoke")
            answer.raise_for_status()
            return f"ERP certificate {certificate} revoked"

    async def restore(self) -> None:
        certificate = self.stack.env["SYNCLINE_ERP_CERTIFICATE_ID"]
        async with httpx.AsyncClient(base_url=self.admin_url, timeout=30) as http:
            answer = await http.post(f"/admin/oauth2/certificates/{certificate}/restore")
            answer.raise_for_status()

    def fingerprint(self) -> Any:
        return _fingerprint(
            self.stack.dev.workdir / "sandbox-erp.db",
            {t: "lastmodifieddate" for t in ("txn", "customer", "item", "subscription")},
        )


def _ever_confirmed(sale: dict[str, Any]) -> bool:
    """Whether Tryton ever confirmed the sale. Tryton keeps no trail of states, but here
    a cancelled sale never was: without a queue worker, confirming processes the sale
    before the button answers, and a processing sale can no longer be cancelled (see
    ``connectors/tryton/orders.py``). With a queue worker this would not hold."""
    return sale["state"] in ("confirmed", "processing", "done")


class TrytonSide:
    """Tryton confirms a sale straight into processing (its invoice drafted): neither
    finance nor Syncline can cancel or re-line it, so those acts are not drawn here."""

    kind = "tryton"
    can_change_orders = False

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        erp = stack.erp.erp
        assert isinstance(erp, TrytonClient)
        self.client = erp
        accountant = getattr(stack.erp, "accountant", None)
        assert isinstance(accountant, TrytonAccountant)
        self.accountant = accountant
        self.setup = TrytonSetup.load(stack.dev.tryton_dir)
        self._key_record: int | None = None

    async def orders(self, opportunity_id: str) -> list[OrderView]:
        sales = await self.client.rest.search(
            "sale.sale", [("reference", "=", opportunity_id)], SALE_FIELDS, order=[("id", "ASC")]
        )
        orders = []
        for sale in sales:
            invoices = await self.accountant.invoices_for_sale(int(sale["id"]))
            billed = any(i["state"] in ("posted", "paid") for i in invoices)
            order = tryton_order(sale, self.client.base_currency)
            cancelled = sale["state"] == "cancelled"
            orders.append(_view(order, cancelled, billed, confirmed=_ever_confirmed(sale)))
        return orders

    async def invoices(self, orders: list[OrderView]) -> list[InvoiceView]:
        found = []
        for order in orders:
            for invoice in await self.accountant.invoices_for_sale(int(order.id)):
                if invoice["state"] not in ("posted", "paid"):
                    continue
                total = money(invoice["total_amount"])
                found.append(
                    InvoiceView(
                        id=str(invoice["id"]),
                        order_id=order.id,
                        total=total,
                        paid=total - money(invoice["amount_to_pay"]),
                    )
                )
        return found

    async def post_invoice(self, order: OrderView) -> str:
        drafts = [
            i
            for i in await self.accountant.invoices_for_sale(int(order.id))
            if i["state"] in ("draft", "validated")
        ]
        if not drafts:
            raise Refused(f"sale {order.number} has no invoice to post")
        try:
            await self.accountant.post_invoice(int(drafts[0]["id"]))
        except TrytonRPCError as error:
            raise Refused(str(error)) from None
        return str(drafts[0]["id"])

    async def pay(self, invoice: InvoiceView, amount: Decimal) -> None:
        try:
            await self.accountant.pay_invoice(int(invoice.id), amount)
        except TrytonRPCError as error:
            raise Refused(str(error)) from None

    async def cancel(self, order: OrderView) -> None:
        raise Refused("Tryton does not cancel a sale that is processing")

    async def edit(self, order: OrderView) -> None:
        raise Refused("Tryton does not re-line a sale that is processing")

    async def create_item(self, sku: str, price: Decimal) -> None:
        await self.stack.erp.add_item(sku, f"Item {sku}", price)

    async def add_order(self, order: OrderView, opportunity_id: str) -> str:
        """Tryton's ``reference`` is not unique: finance copies the sale, keeps the
        opportunity as its reference, quotes and confirms it."""
        try:
            [sale_id] = await self.accountant.call(
                "model.sale.sale.copy", [int(order.id)], {"reference": opportunity_id}
            )
            await self.accountant.call("model.sale.sale.quote", [sale_id])
            await self.accountant.call("model.sale.sale.confirm", [sale_id])
        except TrytonRPCError as error:
            raise Refused(str(error)) from None
        return str(sale_id)

    async def revoke(self) -> str:
        """An administrator cancels the REST application key Syncline uses."""
        [application] = await self.accountant.call(
            "model.res.user.application.search",
            [("key", "=", self.setup.application_key), ("state", "=", "validated")],
        )
        await self.accountant.call("model.res.user.application.cancel", [application])
        return "Tryton REST key cancelled"

    async def restore(self) -> None:
        """Tryton never validates a cancelled key again: the administrator grants the
        same key anew."""
        keys = await self.accountant.call(
            "model.res.user.application.search", [("key", "=", self.setup.application_key)]
        )
        [user] = await self.accountant.call("model.res.user.application.read", keys[:1], ["user"])
        await self.accountant.call(
            "model.res.user.application.create",
            [{"user": user["user"], "application": "rest", "key": self.setup.application_key}],
        )

    def fingerprint(self) -> Any:
        path = self.setup.data_dir / f"{self.setup.database}.sqlite"
        columns = "coalesce(write_date, create_date)"
        tables = ("sale_sale", "account_invoice", "party_party", "product_template")
        return _fingerprint(path, dict.fromkeys(tables, columns))


def _fingerprint(path: Path, tables: dict[str, str]) -> Any:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as connection:
        return [
            connection.execute(f"SELECT count(*), max({stamp}), max(id) FROM {table}").fetchone()
            for table, stamp in tables.items()
        ]


def erp_side(stack: Stack) -> ErpSide:
    return NetSuiteSide(stack) if stack.erp.kind == "netsuite" else TrytonSide(stack)


async def refusing(act: Any) -> Refused | None:
    """``act`` awaited; the refusal when the ERP said no."""
    try:
        await act
    except (ConnectorError, Refused) as error:
        return error if isinstance(error, Refused) else Refused(error.message)
    return None
