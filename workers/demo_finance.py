"""The demo's finance step (``syncline demo --approval-share S`` and ``--finance``),
NetSuite sandbox only.

With an approval share, a share of the demo's customers get a credit limit their order
passes, entered in the ERP before the deal closes (as finance would have for a customer
on credit watch); the sandbox is put in its "over credit limit" approval mode, so the
ERP holds those orders for approval. While the demo waits, the finance step acts as the
ERP's users do, through the sandbox's routes: it approves each held order, and the
warehouse ships every approved order in full. With ``--finance`` it also bills each
order once Syncline has accepted it (an invoice from the sales order, the record API's
``createdFrom``), for ``workers.demo_books`` to settle. The approval mode is set back as
it was at the end.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import httpx

from connectors.netsuite import NetSuiteClient
from connectors.protocols import ErpClient

HELD = "Pending Approval"
# A limit every demo order passes (its lines are priced in whole currency units).
CREDIT_LIMIT = 1
# Sales order statuses: Pending Approval, Pending Fulfillment, Pending Billing.
_PENDING_APPROVAL, _PENDING_FULFILMENT, _PENDING_BILLING = "A", "B", "F"


@dataclass(frozen=True)
class BilledOrder:
    """An order finance billed, and the invoice it made (as the ERP shows them)."""

    opportunity_id: str
    order_id: str
    invoice_id: str
    customer_id: str
    currency: str
    order_total: Decimal
    """What the order books."""
    total: Decimal
    """What the invoice bills."""


@dataclass
class FinanceStep:
    admin: httpx.AsyncClient
    erp: NetSuiteClient
    opportunity_ids: frozenset[str]
    bills: bool = False
    """Whether finance bills the orders (``--finance``)."""
    previous_mode: str | None = None
    """The approval mode to set back; None when the step never changed it."""
    approved: set[str] = field(default_factory=set)
    shipped: set[str] = field(default_factory=set)
    billed: dict[str, BilledOrder] = field(default_factory=dict)
    """Per order id: billed once, never again (a voided invoice reopens its order)."""

    @classmethod
    async def start(
        cls,
        erp_url: str,
        erp: ErpClient,
        accounts: Mapping[str, str],
        opportunity_ids: Sequence[str],
        share: float,
        rng: random.Random,
        *,
        bills: bool = False,
    ) -> FinanceStep:
        """Give ``share`` of the ``accounts`` (CRM id -> name) a credit limit and hold
        orders over it (none when ``share`` is 0)."""
        if not isinstance(erp, NetSuiteClient):
            raise SystemExit(
                "--approval-share and --finance need the NetSuite sandbox (syncline dev)"
            )
        admin = httpx.AsyncClient(base_url=erp_url, timeout=30)
        step = cls(admin, erp, frozenset(opportunity_ids), bills)
        if share <= 0:
            return step
        step.previous_mode = (await admin.get("/admin/approval")).json()["mode"]
        response = await admin.post("/admin/approval", json={"mode": "over_credit_limit"})
        response.raise_for_status()
        for account in rng.sample(sorted(accounts), k=round(share * len(accounts))):
            # Keyed by the CRM account id, as Syncline finds or creates the customer: it
            # finds this one, limit and all.
            await erp.upsert_record(
                "customer",
                account,
                {"companyName": accounts[account], "creditLimit": CREDIT_LIMIT},
            )
        return step

    async def act(self, accepted: Collection[str] = ()) -> None:
        """Approve what the ERP holds, ship what it approved, and bill the orders of
        the ``accepted`` opportunities (Syncline wrote their order back), once each."""
        rows = await self.erp.suiteql(
            "SELECT id, externalid, status FROM transaction WHERE type = 'SalesOrd' "
            "AND status IN ('A', 'B', 'F') AND externalid IS NOT NULL"
        )
        for row in rows:
            order_id, opportunity_id = str(row["id"]), str(row["externalid"])
            status = str(row["status"])
            if opportunity_id not in self.opportunity_ids:
                continue
            if status == _PENDING_APPROVAL and order_id not in self.approved:
                response = await self.admin.post(f"/admin/finance/salesOrder/{order_id}/approve")
                response.raise_for_status()
                self.approved.add(order_id)
                continue  # Syncline accepts it once the feed reads the approval
            if status == _PENDING_FULFILMENT and order_id not in self.shipped:
                response = await self.admin.post(f"/admin/finance/salesOrder/{order_id}/fulfil")
                response.raise_for_status()
                self.shipped.add(order_id)
                status = _PENDING_BILLING
            if (
                self.bills
                and status == _PENDING_BILLING
                and opportunity_id in accepted
                and order_id not in self.billed
            ):
                self.billed[order_id] = await self._bill(opportunity_id, order_id)

    async def _bill(self, opportunity_id: str, order_id: str) -> BilledOrder:
        """The order's Bill button: an invoice of everything on the order."""
        invoice_id = await self.erp.create_record("invoice", {"createdFrom": {"id": order_id}})
        invoice = await self.erp.get_record("invoice", invoice_id)
        order = await self.erp.get_record("salesOrder", order_id)
        return BilledOrder(
            opportunity_id=opportunity_id,
            order_id=order_id,
            invoice_id=invoice_id,
            customer_id=str(invoice["entity"]["id"]),
            currency=str(invoice["currency"]["refName"]),
            order_total=Decimal(str(order["total"])),
            total=Decimal(str(invoice["total"])),
        )

    async def aclose(self) -> None:
        if self.previous_mode is not None:
            await self.admin.post("/admin/approval", json={"mode": self.previous_mode})
        await self.admin.aclose()
