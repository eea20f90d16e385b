"""What the end-to-end tests do to and check in the ERP, once per kind of ERP.

Syncline reaches either ERP through the same ``ErpClient``; the tests also act as the
ERP's own users (finance adds an item, an accountant posts an invoice) and look at
what the ERP holds, which each ERP does its own way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

import httpx

from connectors.netsuite import NetSuiteClient
from connectors.protocols import ErpClient
from connectors.tryton import TrytonClient
from sandbox.tryton.accountant import TrytonAccountant


@dataclass(frozen=True)
class ErpOrder:
    id: str
    number: str
    total: Decimal


class ErpProbe(Protocol):
    kind: str

    @property
    def erp(self) -> ErpClient:
        """The ERP as Syncline reaches it."""
        ...

    async def orders_for(self, opportunity_id: str) -> list[ErpOrder]:
        """Live orders carrying the opportunity id."""
        ...

    async def all_orders(self) -> list[ErpOrder]: ...

    async def orders_by_deal(self, opportunity_ids: Sequence[str]) -> dict[str, list[ErpOrder]]:
        """Live orders of each of these opportunities that has any, in a few calls (the
        storm asks this of a thousand deals at once, over and over)."""
        ...

    async def faults(self) -> list[dict[str, Any]]:
        """The fault rules in front of the ERP as they stand: ``times`` is what is left."""
        ...

    async def set_faults(self, rules: Sequence[dict[str, Any]]) -> None:
        """Replace the fault rules in front of the ERP (none: no faults)."""
        ...

    def order_write_fault(self, rule: dict[str, Any]) -> dict[str, Any]:
        """``rule`` narrowed to the request that creates a sales order."""
        ...

    async def set_latency(self, milliseconds: int) -> None: ...

    async def add_item(self, sku: str, name: str, price: Decimal) -> None:
        """Finance adds an item to the catalog."""
        ...

    async def post_invoice(self, order_id: str) -> str:
        """An accountant bills the whole order; the invoice id."""
        ...

    async def pay(self, invoice_id: str, amount: Decimal) -> None: ...

    async def order_status(self, order_id: str) -> str:
        """The ERP's own name for the order's state."""
        ...

    async def end_subscription_on(self, order_id: str, end: date) -> bool:
        """Finance moves the term end of the order's subscription; False when this ERP
        keeps no subscriptions."""
        ...

    async def aclose(self) -> None: ...


class NetSuiteProbe:
    kind = "netsuite"

    def __init__(self, erp: NetSuiteClient, admin_url: str) -> None:
        self.erp = erp
        self.admin_url = admin_url

    async def _orders(self, where: str) -> list[ErpOrder]:
        rows = await self.erp.suiteql(
            # Status C is NetSuite's "Cancelled": live orders only, as Tryton's probe.
            "SELECT id, tranid, foreigntotal, externalid FROM transaction "
            f"WHERE type = 'SalesOrd' AND status <> 'C'{where}"
        )
        return [ErpOrder(r["id"], r["tranid"], Decimal(str(r["foreigntotal"]))) for r in rows]

    async def orders_for(self, opportunity_id: str) -> list[ErpOrder]:
        return await self._orders(f" AND externalid = '{opportunity_id}'")

    async def all_orders(self) -> list[ErpOrder]:
        return await self._orders("")

    async def orders_by_deal(self, opportunity_ids: Sequence[str]) -> dict[str, list[ErpOrder]]:
        wanted = set(opportunity_ids)
        found: dict[str, list[ErpOrder]] = {}
        # Every live order with an external id, then the wanted ones: one paged query,
        # where an IN list per chunk of ids would be a query per 200 deals.
        for r in await self.erp.suiteql(
            "SELECT id, tranid, foreigntotal, externalid FROM transaction "
            "WHERE type = 'SalesOrd' AND status <> 'C' AND externalid IS NOT NULL"
        ):
            if str(r["externalid"]) in wanted:
                order = ErpOrder(r["id"], r["tranid"], Decimal(str(r["foreigntotal"])))
                found.setdefault(str(r["externalid"]), []).append(order)
        return found

    async def faults(self) -> list[dict[str, Any]]:
        return await _fault_rules(self.admin_url)

    async def set_faults(self, rules: Sequence[dict[str, Any]]) -> None:
        await _set_fault_rules(self.admin_url, rules)

    def order_write_fault(self, rule: dict[str, Any]) -> dict[str, Any]:
        # The order is created by a POST on a first try and by a PUT after the look-up
        # on a retry: the rule takes every request on the sales order record, so the
        # create of either kind, and the look-ups and read-backs around it, meet it.
        return {**rule, "method": None, "path_prefix": "/services/rest/record/v1/salesOrder"}

    async def set_latency(self, milliseconds: int) -> None:
        async with httpx.AsyncClient(base_url=self.admin_url) as http:
            (await http.post("/admin/config", json={"latency_ms": milliseconds})).raise_for_status()

    async def add_item(self, sku: str, name: str, price: Decimal) -> None:
        await self.erp.create_record(
            "inventoryItem", {"itemId": sku, "displayName": name, "basePrice": price}
        )

    async def post_invoice(self, order_id: str) -> str:
        return await self.erp.create_record("invoice", {"createdFrom": {"id": order_id}})

    async def pay(self, invoice_id: str, amount: Decimal) -> None:
        await self.erp.create_record(
            "customerPayment", {"createdFrom": {"id": invoice_id}, "payment": amount}
        )

    async def order_status(self, order_id: str) -> str:
        record = await self.erp.get_record("salesOrder", order_id)
        return str(record["status"]["refName"])

    async def end_subscription_on(self, order_id: str, end: date) -> bool:
        (row,) = await self.erp.suiteql(
            f"SELECT id FROM subscription WHERE salesorder = {order_id}"
        )
        await self.erp.update_record("subscription", str(row["id"]), {"endDate": end.isoformat()})
        return True

    async def aclose(self) -> None:
        await self.erp.aclose()


class TrytonProbe:
    kind = "tryton"

    def __init__(
        self, erp: TrytonClient, accountant: TrytonAccountant, proxy_url: str, database: str
    ) -> None:
        self.erp = erp
        self.accountant = accountant
        self.proxy_url = proxy_url
        self.database = database

    async def _orders(self, domain: list[Any]) -> list[ErpOrder]:
        sales = await self.erp.rest.search(
            "sale.sale",
            [("state", "!=", "cancelled"), *domain],
            ["number", "total_amount"],
        )
        return [
            ErpOrder(str(s["id"]), str(s["number"] or s["id"]), s["total_amount"]) for s in sales
        ]

    async def orders_for(self, opportunity_id: str) -> list[ErpOrder]:
        return await self._orders([("reference", "=", opportunity_id)])

    async def all_orders(self) -> list[ErpOrder]:
        return await self._orders([])

    async def orders_by_deal(self, opportunity_ids: Sequence[str]) -> dict[str, list[ErpOrder]]:
        ids = list(dict.fromkeys(opportunity_ids))
        found: dict[str, list[ErpOrder]] = {}
        # The domain travels in the URL: a couple of hundred references per search.
        for start in range(0, len(ids), 200):
            for s in await self.erp.rest.search(
                "sale.sale",
                [("reference", "in", ids[start : start + 200]), ("state", "!=", "cancelled")],
                ["number", "total_amount", "reference"],
            ):
                order = ErpOrder(str(s["id"]), str(s["number"] or s["id"]), s["total_amount"])
                found.setdefault(str(s["reference"]), []).append(order)
        return found

    async def faults(self) -> list[dict[str, Any]]:
        return await _fault_rules(self.proxy_url)

    async def set_faults(self, rules: Sequence[dict[str, Any]]) -> None:
        await _set_fault_rules(self.proxy_url, rules)

    def order_write_fault(self, rule: dict[str, Any]) -> dict[str, Any]:
        # The sale's create: the first POST under the model (quote and confirm follow).
        return {**rule, "method": "POST", "path_prefix": f"/{self.database}/rest/model/sale.sale"}

    async def set_latency(self, milliseconds: int) -> None:
        rules = [{"mode": "latency", "latency_ms": milliseconds}] if milliseconds else []
        async with httpx.AsyncClient(base_url=self.proxy_url) as http:
            (await http.post("/admin/faults", json=rules)).raise_for_status()

    async def add_item(self, sku: str, name: str, price: Decimal) -> None:
        # A copy of an existing service keeps its unit and accounts, as finance would.
        [template] = await self.accountant.call(
            "model.product.template.search", [("code", "=", "SL-TRAINING-DAY")]
        )
        await self.accountant.call(
            "model.product.template.copy",
            [template],
            {"code": sku, "name": name, "list_price": price},
        )

    async def post_invoice(self, order_id: str) -> str:
        [invoice] = await self.accountant.invoices_for_sale(int(order_id))
        await self.accountant.post_invoice(invoice["id"])
        return str(invoice["id"])

    async def pay(self, invoice_id: str, amount: Decimal) -> None:
        await self.accountant.pay_invoice(int(invoice_id), amount)

    async def order_status(self, order_id: str) -> str:
        sale = await self.erp.rest.read("sale.sale", order_id, ["state"])
        return str(sale["state"])

    async def end_subscription_on(self, order_id: str, end: date) -> bool:
        return False  # Tryton's subscriptions are a module this setup does not install

    async def aclose(self) -> None:
        await self.erp.aclose()
        await self.accountant.__aexit__(None, None, None)


async def _fault_rules(admin_url: str) -> list[dict[str, Any]]:
    """The rules of a sandbox's fault injector, or the fault proxy's (the same API)."""
    async with httpx.AsyncClient(base_url=admin_url, timeout=10) as http:
        answer = await http.get("/admin/faults")
        answer.raise_for_status()
        rules: list[dict[str, Any]] = answer.json()
        return rules


async def _set_fault_rules(admin_url: str, rules: Sequence[dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=admin_url, timeout=10) as http:
        (await http.post("/admin/faults", json=list(rules))).raise_for_status()
