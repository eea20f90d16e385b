"""The demo's finance step (``syncline demo --approval-share S``), NetSuite sandbox only.

A share of the demo's customers get a credit limit their order passes, entered in the
ERP before the deal closes (as finance would have for a customer on credit watch); the
sandbox is put in its "over credit limit" approval mode, so the ERP holds those orders
for approval. While the demo waits, the finance step acts as the ERP's users do, through
the sandbox's finance routes: it approves each held order, and the warehouse ships every
approved order in full. The approval mode is set back as it was at the end.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from connectors.netsuite import NetSuiteClient
from connectors.protocols import ErpClient

HELD = "Pending Approval"
# A limit every demo order passes (its lines are priced in whole currency units).
CREDIT_LIMIT = 1


@dataclass
class FinanceStep:
    admin: httpx.AsyncClient
    erp: NetSuiteClient
    opportunity_ids: frozenset[str]
    previous_mode: str = "off"
    approved: set[str] = field(default_factory=set)
    shipped: set[str] = field(default_factory=set)

    @classmethod
    async def start(
        cls,
        erp_url: str,
        erp: ErpClient,
        accounts: Mapping[str, str],
        opportunity_ids: Sequence[str],
        share: float,
        rng: random.Random,
    ) -> FinanceStep:
        """Give ``share`` of the ``accounts`` (CRM id -> name) a credit limit and hold
        orders over it."""
        if not isinstance(erp, NetSuiteClient):
            raise SystemExit("--approval-share needs the NetSuite sandbox (syncline dev)")
        admin = httpx.AsyncClient(base_url=erp_url, timeout=30)
        previous = (await admin.get("/admin/approval")).json()["mode"]
        step = cls(admin, erp, frozenset(opportunity_ids), previous)
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

    async def act(self) -> None:
        """Approve what the ERP holds and ship what it approved, once each."""
        rows = await self.erp.suiteql(
            "SELECT id, externalid, status FROM transaction WHERE type = 'SalesOrd' "
            "AND status IN ('A', 'B') AND externalid IS NOT NULL"
        )
        for row in rows:
            order_id = str(row["id"])
            if str(row["externalid"]) not in self.opportunity_ids:
                continue
            if row["status"] == "A" and order_id not in self.approved:
                response = await self.admin.post(f"/admin/finance/salesOrder/{order_id}/approve")
                response.raise_for_status()
                self.approved.add(order_id)
            elif row["status"] == "B" and order_id not in self.shipped:
                response = await self.admin.post(f"/admin/finance/salesOrder/{order_id}/fulfil")
                response.raise_for_status()
                self.shipped.add(order_id)

    async def aclose(self) -> None:
        await self.admin.post("/admin/approval", json={"mode": self.previous_mode})
        await self.admin.aclose()
