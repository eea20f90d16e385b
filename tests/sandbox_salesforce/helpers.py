"""Shared test helpers: sandbox configuration, tokens, exact JSON and CRM actions."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from sandbox.salesforce import SalesforceSandboxConfig
from sandbox.salesforce.service import SalesforceSandbox

CLIENT_ID = "sandbox-test-client"
CLIENT_SECRET = "sandbox-test-secret"
BASE_URL = "http://sf.sandbox.test"
DATA = "/services/data/v59.0"


def make_config(db_path: Path, **overrides: Any) -> SalesforceSandboxConfig:
    values: dict[str, Any] = {
        "db_path": db_path,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "base_url": BASE_URL,
        "min_query_batch_size": 1,
        "webhook_retry_delays": (0.05, 0.05, 0.05),
    }
    values.update(overrides)
    return SalesforceSandboxConfig(**values)


async def fetch_token(http: httpx.AsyncClient) -> str:
    response = await http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def exact(response: httpx.Response) -> Any:
    """A response body with numbers as Decimal, to check amounts digit for digit."""
    return json.loads(response.text, parse_float=Decimal)


class SandboxApi:
    """Small helpers over an authenticated client, so tests read as CRM actions."""

    def __init__(self, http: httpx.AsyncClient, sandbox: SalesforceSandbox) -> None:
        self.http = http
        self.sandbox = sandbox

    async def create(self, sobject: str, **fields: Any) -> str:
        response = await self.http.post(f"{DATA}/sobjects/{sobject}/", json=fields)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        response = await self.http.get(f"{DATA}/sobjects/{sobject}/{record_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = exact(response)
        return body

    async def patch(self, sobject: str, record_id: str, **fields: Any) -> httpx.Response:
        return await self.http.patch(f"{DATA}/sobjects/{sobject}/{record_id}", json=fields)

    async def query(self, soql: str, **headers: str) -> httpx.Response:
        return await self.http.get(f"{DATA}/query", params={"q": soql}, headers=headers)

    async def records(self, soql: str) -> list[dict[str, Any]]:
        response = await self.query(soql)
        assert response.status_code == 200, response.text
        records: list[dict[str, Any]] = exact(response)["records"]
        return records

    async def standard_pricebook(self) -> str:
        found = await self.records("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
        return str(found[0]["Id"])

    async def product(self, code: str, price: str, *, currency: str = "USD") -> tuple[str, str]:
        """An active product with an active standard price: (product id, entry id)."""
        product_id = await self.create(
            "Product2", Name=f"Product {code}", ProductCode=code, IsActive=True
        )
        entry_id = await self.create(
            "PricebookEntry",
            Pricebook2Id=await self.standard_pricebook(),
            Product2Id=product_id,
            UnitPrice=price,
            IsActive=True,
            CurrencyIsoCode=currency,
        )
        return product_id, entry_id

    async def deal(
        self,
        *lines: tuple[str, str, str],
        stage: str = "Prospecting",
        account_name: str = "Acme Corp",
    ) -> tuple[str, str]:
        """An account and an opportunity with (code, quantity, unit price) lines."""
        account_id = await self.create("Account", Name=account_name)
        opportunity_id = await self.create(
            "Opportunity",
            Name=f"{account_name} deal",
            AccountId=account_id,
            StageName=stage,
            CloseDate="2026-12-31",
        )
        for code, quantity, price in lines:
            _, entry_id = await self.product(code, price)
            await self.create(
                "OpportunityLineItem",
                OpportunityId=opportunity_id,
                PricebookEntryId=entry_id,
                Quantity=quantity,
            )
        return account_id, opportunity_id
