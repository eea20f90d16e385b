"""``SalesforceClient``'s mirrors and renewals against the sandbox app, and the change
events its writes produce (``changeOrigin`` names Syncline)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from connectors.salesforce import SalesforceClient
from models.crm import AccountLegalMirror, Address, ProductMirror, RenewalOpportunity
from models.types import Money
from sandbox.salesforce import build_app
from sandbox.salesforce.server import close_sandbox

from .helpers import BASE_URL, CLIENT_ID, CLIENT_SECRET, SandboxApi, fetch_token, make_config
from .servers import WebhookReceiver, webhook_receiver
from .test_webhooks import SECRET, deliveries

SYNCED_AT = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    with webhook_receiver() as pair:
        yield pair


@pytest.fixture
async def cdc_app(tmp_path: Path, receiver: tuple[WebhookReceiver, str]) -> AsyncIterator[FastAPI]:
    config = make_config(
        tmp_path / "sf.db",
        webhook_url=receiver[1],
        webhook_secret=SECRET,
        cdc_entities=("Account",),
    )
    app = build_app(config)
    yield app
    await close_sandbox(app.state.sandbox)


@pytest.fixture
async def api(cdc_app: FastAPI) -> AsyncIterator[SandboxApi]:
    transport = httpx.ASGITransport(app=cdc_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        http.headers["Authorization"] = f"Bearer {await fetch_token(http)}"
        yield SandboxApi(http, cdc_app.state.sandbox)


@pytest.fixture
async def client(cdc_app: FastAPI) -> AsyncIterator[SalesforceClient]:
    sf = SalesforceClient(
        BASE_URL, CLIENT_ID, CLIENT_SECRET, transport=httpx.ASGITransport(app=cdc_app)
    )
    yield sf
    await sf.aclose()


async def test_mirror_an_account_and_recognise_the_change_event(
    api: SandboxApi, client: SalesforceClient, receiver: tuple[WebhookReceiver, str]
) -> None:
    account_id = await api.create("Account", Name="Acme", Tax_Id__c="FR 1'2")
    other_id = await api.create("Account", Name="Acme twin", Syncline_Customer_Id__c="CUST-7")
    await api.create("Account", Name="Unrelated", Tax_Id__c="DE-9")

    found = await client.find_accounts(erp_customer_id="CUST-7", tax_id="FR 1'2")
    assert [(a.id, a.tax_id, a.erp_customer_id) for a in found] == [
        (account_id, "FR 1'2", None),
        (other_id, None, "CUST-7"),
    ]
    assert await client.find_accounts() == []

    mirror = AccountLegalMirror(
        erp_customer_id="CUST-7",
        legal_name="Acme SAS",
        billing_address=Address(street="1 rue X", city="Lyon", postal_code="69001", country="FR"),
        tax_id="FR 1'2",
        synced_at=SYNCED_AT,
    )
    await client.write_account_mirror(account_id, mirror)
    await client.write_account_mirror(account_id, mirror)  # idempotent
    record = await client.get("Account", account_id)
    assert (record["Syncline_Legal_Name__c"], record["BillingCity"]) == ("Acme SAS", "Lyon")
    assert record["Syncline_Legal_Synced_At__c"] == "2026-11-23T09:30:00.000+0000"
    account = await client.get_account(account_id)
    assert (account.erp_customer_id, account.tax_id) == ("CUST-7", "FR 1'2")
    assert {a.id for a in await client.find_accounts(erp_customer_id="CUST-7")} == {
        account_id,
        other_id,
    }

    # The connector's write comes back as a change event Syncline can recognise.
    await api.sandbox.webhooks.drain(5)
    events = [
        d["payload"]
        for d in reversed(await deliveries(api, recordId=account_id))
        if d["event"] == "/data/AccountChangeEvent"
    ]
    created, mirrored, repeated = events
    origins = [e["data"]["payload"]["ChangeEventHeader"]["changeOrigin"] for e in events]
    assert origins == [
        "com/salesforce/api/rest/59.0",
        "com/salesforce/api/rest/59.0;client=syncline",
        "com/salesforce/api/rest/59.0;client=syncline",
    ]
    header = mirrored["data"]["payload"]["ChangeEventHeader"]
    assert header["changeType"] == "UPDATE" and header["recordIds"] == [account_id]
    assert {"Syncline_Legal_Name__c", "BillingCity", "Syncline_Customer_Id__c"} <= set(
        header["changedFields"]
    )
    assert mirrored["data"]["payload"]["Syncline_Legal_Name__c"] == "Acme SAS"
    received = [json.loads(r.body) for r in receiver[0].requests]
    assert mirrored in received and repeated in received and created in received


async def test_upsert_a_product_twice_keeps_one_product_and_one_price(
    api: SandboxApi, client: SalesforceClient
) -> None:
    product = ProductMirror(
        erp_item_id="ITEM-1",
        sku="SKU-1",
        name="Widget",
        price=Money(amount=Decimal("19.99"), currency="EUR"),
    )
    await client.upsert_product_mirror(product)
    await client.upsert_product_mirror(
        product.model_copy(
            update={"name": "Widget v2", "price": Money(amount=Decimal("24.50"), currency="EUR")}
        )
    )
    await client.upsert_product_mirror(product.model_copy(update={"price": None}))

    products = await api.records("SELECT Id, Name, ProductCode, IsActive FROM Product2")
    assert [(p["Name"], p["ProductCode"], p["IsActive"]) for p in products] == [
        ("Widget", "SKU-1", True)
    ]
    entries = await api.records(
        "SELECT UnitPrice, CurrencyIsoCode, IsActive, Pricebook2.IsStandard, Product2Id "
        "FROM PricebookEntry"
    )
    assert len(entries) == 1
    [entry] = entries
    assert (entry["UnitPrice"], entry["CurrencyIsoCode"], entry["IsActive"]) == (
        Decimal("24.50"),
        "EUR",
        True,
    )
    assert entry["Pricebook2"]["IsStandard"] is True
    assert entry["Product2Id"] == products[0]["Id"]

    # A second currency is a second standard price for the same product.
    await client.upsert_product_mirror(
        product.model_copy(update={"price": Money(amount=Decimal("21"), currency="USD")})
    )
    currencies = await api.records("SELECT CurrencyIsoCode FROM PricebookEntry")
    assert sorted(e["CurrencyIsoCode"] for e in currencies) == ["EUR", "USD"]


async def test_a_renewal_is_created_once(api: SandboxApi, client: SalesforceClient) -> None:
    account_id, original_id = await api.deal()
    renewal = RenewalOpportunity(
        key="renewal:SUB-1:2027-01-31",
        account_id=account_id,
        name="Acme renewal 2027",
        close_date=date(2027, 1, 31),
        amount=Money(amount=Decimal("1200.00"), currency="EUR"),
        renewal_of=original_id,
        erp_subscription_id="SUB-1",
    )
    first = await client.create_renewal_opportunity(renewal)
    await api.patch("Opportunity", first, StageName="Negotiation/Review")
    second = await client.create_renewal_opportunity(renewal)
    assert first == second

    [record] = await api.records(
        "SELECT Id, Name, StageName, CloseDate, Amount, CurrencyIsoCode, "
        "Syncline_Renewal_Of__c, Syncline_Renewal_Of__r.Name, Syncline_Subscription_Id__c, "
        "External_Id__c FROM Opportunity WHERE Syncline_Subscription_Id__c = 'SUB-1'"
    )
    assert record["Id"] == first
    assert record["StageName"] == "Negotiation/Review"  # the retry left the rep's work alone
    assert (record["CloseDate"], record["Amount"], record["CurrencyIsoCode"]) == (
        "2027-01-31",
        Decimal("1200.00"),
        "EUR",
    )
    assert record["Syncline_Renewal_Of__c"] == original_id
    assert record["Syncline_Renewal_Of__r"]["Name"] == "Acme Corp deal"
    assert record["External_Id__c"] == "renewal:SUB-1:2027-01-31"
