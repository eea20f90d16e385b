"""Finance's settlement and approval acts in the NetSuite-shaped ERP, and how the tests
read their outcome back: approve or reject a held order, bill an order in part, void an
invoice, issue a credit memo (from an invoice, or standalone and applied), take one
payment over several invoices, refund a credit memo.

Approval is a person's act in NetSuite's UI: the sandbox's ``/admin/finance`` routes.
The void is the invoice's Void button (the sandbox's authenticated finance path); the
rest are records created through the REST record API with the integration's
credential, as ``erp.py``'s other acts (so they wait while the credential is revoked).
Tryton has no approval step and its credit notes and refunds differ (see
``erp.TrytonSide``): this is NetSuite's.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from connectors.errors import ConnectorError
from connectors.netsuite import NetSuiteClient
from connectors.netsuite.settlement import LINK_TABLE
from models import exact_json
from sandbox.netsuite.invoice_void import FINANCE_PATH
from tests.lifecycle.books import MemoView, RefundView
from tests.lifecycle.model import InvoiceView, OrderView, money
from tests.lifecycle.refused import Refused

REJECTION_REASON = "Credit check failed: over the customer's limit"


def _body(body: dict[str, Any]) -> Any:
    """Decimals as JSON numbers, digit for digit, as the connector sends them."""
    return exact_json.loads(exact_json.dumps(body))


async def netsuite_invoices(client: NetSuiteClient, orders: list[OrderView]) -> list[InvoiceView]:
    """The orders' invoices with what is applied to each: cash and credits apart."""
    if not orders:
        return []
    rows = await client.suiteql(
        "SELECT id, status, foreigntotal, createdfrom FROM transaction "
        f"WHERE type = 'CustInvc' AND createdfrom IN ({', '.join(o.id for o in orders)}) "
        "ORDER BY id"
    )
    if not rows:
        return []
    ids = ", ".join(str(r["id"]) for r in rows)
    collected: dict[str, Decimal] = {}
    credited: dict[str, Decimal] = {}
    for link in await client.suiteql(
        "SELECT previousdoc, nexttype, foreignamount FROM "
        f"{LINK_TABLE} WHERE linktype = 'Payment' AND previousdoc IN ({ids})"
    ):
        sums = credited if link["nexttype"] == "CustCred" else collected
        doc = str(link["previousdoc"])
        sums[doc] = sums.get(doc, Decimal(0)) + abs(money(link["foreignamount"]))
    return [
        InvoiceView(
            id=str(r["id"]),
            order_id=str(r["createdfrom"]),
            total=money(r["foreigntotal"]),
            paid=collected.get(str(r["id"]), Decimal(0)),
            credited=credited.get(str(r["id"]), Decimal(0)),
            voided=r["status"] == "V",
        )
        for r in rows
    ]


class NetSuiteFinance:
    def __init__(self, client: NetSuiteClient, admin_url: str) -> None:
        self.client = client
        self.admin_url = admin_url

    async def _admin(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.admin_url, timeout=30) as http:
            return await http.post(path, json=body or {})

    async def set_approval(self, on: bool) -> None:
        answer = await self._admin("/admin/approval", {"mode": "all" if on else "off"})
        answer.raise_for_status()

    async def decide(self, order: OrderView, approve: bool) -> Refused | None:
        path = f"/admin/finance/salesOrder/{order.id}/{'approve' if approve else 'reject'}"
        answer = await self._admin(path, None if approve else {"reason": REJECTION_REASON})
        if answer.status_code >= 400:
            return Refused(f"HTTP {answer.status_code}: {answer.text[:200]}")
        return None

    async def _create(self, record_type: str, body: dict[str, Any]) -> str | Refused:
        try:
            return await self.client.create_record(record_type, _body(body))
        except ConnectorError as error:
            return Refused(error.message)

    async def invoice_part(self, order: OrderView) -> str | Refused:
        """Bill the order's first line only (when it has several), else half its
        quantity (rounded down; a quantity of one is billed whole)."""
        record = await self.client.get_record("salesOrder", order.id)
        first = record["item"]["items"][0]
        quantity = Decimal(str(first["quantity"]))
        if len(record["item"]["items"]) == 1 and quantity >= 2:
            quantity = Decimal(int(quantity / 2))
        line = {"item": {"id": first["item"]["id"]}, "quantity": quantity, "rate": first["rate"]}
        return await self._create(
            "invoice", {"createdFrom": {"id": order.id}, "item": {"items": [line]}}
        )

    async def void(self, invoice: InvoiceView) -> Refused | None:
        try:
            await self.client._request("POST", f"{FINANCE_PATH}/invoice/{invoice.id}/void")
        except ConnectorError as error:
            return Refused(error.message)
        return None

    async def _item_id(self) -> str:
        [row] = await self.client.suiteql("SELECT id FROM item WHERE itemid = 'SL-TRAINING-DAY'")
        return str(row["id"])

    async def credit(
        self,
        invoice: InvoiceView,
        customer_id: str,
        amount: Decimal,
        applied: Decimal,
        from_it: bool,
    ) -> str | Refused:
        """A credit memo of ``amount`` (one line), ``applied`` of it to ``invoice``;
        created from the invoice, or standalone for its customer."""
        line = {"item": {"id": await self._item_id()}, "quantity": 1, "rate": amount}
        body: dict[str, Any] = {"item": {"items": [line]}}
        if from_it:
            body["createdFrom"] = {"id": invoice.id}
        else:
            body["entity"] = {"id": customer_id}
        if applied > 0:
            body["apply"] = {
                "items": [{"doc": {"id": invoice.id}, "apply": True, "amount": applied}]
            }
        return await self._create("creditMemo", body)

    async def pay_many(self, customer_id: str, amounts: dict[str, Decimal]) -> str | Refused:
        """One customer payment applied to several invoices."""
        items = [{"doc": {"id": i}, "apply": True, "amount": a} for i, a in amounts.items()]
        body = {
            "customer": {"id": customer_id},
            "payment": sum(amounts.values()),
            "apply": {"items": items},
        }
        return await self._create("customerPayment", body)

    async def refund(self, memo_id: str, customer_id: str, amount: Decimal) -> str | Refused:
        body = {
            "customer": {"id": customer_id},
            "apply": {"items": [{"doc": {"id": memo_id}, "amount": amount}]},
        }
        return await self._create("customerRefund", body)

    # -- reading back ------------------------------------------------------------------

    async def memos(self, customers: set[str]) -> tuple[list[MemoView], list[RefundView]]:
        """The customers' credit memos and the refunds paying them out."""
        if not customers:
            return [], []
        rows = await self.client.suiteql(
            "SELECT id, foreigntotal, amountremaining, createdfrom FROM transaction "
            f"WHERE type = 'CustCred' AND entity IN ({', '.join(customers)}) ORDER BY id"
        )
        memos = [
            MemoView(
                id=str(r["id"]),
                invoice_id=str(r["createdfrom"]) if r.get("createdfrom") else None,
                total=money(r["foreigntotal"]),
                left=money(r["amountremaining"]),
            )
            for r in rows
        ]
        if not memos:
            return [], []
        links = await self.client.suiteql(
            f"SELECT previousdoc, nextdoc, foreignamount FROM {LINK_TABLE} "
            f"WHERE linktype = 'Payment' AND nexttype = 'CustRfnd' "
            f"AND previousdoc IN ({', '.join(m.id for m in memos)})"
        )
        refunds = [
            RefundView(str(r["nextdoc"]), str(r["previousdoc"]), abs(money(r["foreignamount"])))
            for r in links
        ]
        return memos, refunds
