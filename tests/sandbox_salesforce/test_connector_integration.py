"""``SalesforceClient`` against the sandbox app: the two halves agree on the wire."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from connectors.errors import NotFoundError, RejectedError
from connectors.salesforce import SalesforceClient
from models.crm import OpportunityOrderUpdate
from models.types import Money

from .helpers import SandboxApi


async def test_read_a_deal_and_write_the_order_back(
    api: SandboxApi, client: SalesforceClient
) -> None:
    account_id, opportunity_id = await api.deal(("SKU-1", "3", "19.99"), ("SKU-2", "1", "0.01"))
    await api.patch(
        "Account",
        account_id,
        Tax_Id__c="FR-1",
        BillingCity="Lyon",
        Syncline_Customer_Id__c="CUST-7",
    )

    opportunity = await client.get_opportunity(opportunity_id)
    assert (opportunity.id, opportunity.account_id) == (opportunity_id, account_id)
    assert opportunity.amount == Money(amount=Decimal("59.98"), currency="USD")
    assert [
        (line.product_code, line.quantity, line.unit_price.amount) for line in opportunity.lines
    ] == [("SKU-1", Decimal("3.00"), Decimal("19.99")), ("SKU-2", Decimal("1.00"), Decimal("0.01"))]
    assert opportunity.lines[0].product_name == "Product SKU-1"
    assert opportunity.last_modified is not None and opportunity.last_modified.tzinfo is UTC

    account = await client.get_account(account_id)
    assert (account.tax_id, account.billing_address.city, account.erp_customer_id) == (
        "FR-1",
        "Lyon",
        "CUST-7",
    )

    synced_at = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
    update = OpportunityOrderUpdate(
        erp_order_id="SO-77",
        order_number="SO1077",
        order_status="pendingFulfillment",
        synced_at=synced_at,
    )
    await client.write_order_status(opportunity_id, update)
    await client.write_order_status(opportunity_id, update)  # idempotent
    record = await client.get("Opportunity", opportunity_id)
    assert record["Syncline_Order_Number__c"] == "SO1077"
    assert record["Syncline_Synced_At__c"] == "2026-11-23T09:30:00.000+0000"
    assert (await client.get_opportunity(opportunity_id)).erp_order_id == "SO-77"


async def test_generic_helpers_and_errors(api: SandboxApi, client: SalesforceClient) -> None:
    account_id, created = await client.upsert(
        "Account", "External_Id__c", "ext/1 ü", {"Name": "Upserted"}
    )
    assert created is True
    assert await client.upsert("Account", "External_Id__c", "ext/1 ü", {"Name": "Again"}) == (
        account_id,
        False,
    )
    opportunity_id = await client.create(
        "Opportunity",
        {
            "Name": "Exact",
            "AccountId": account_id,
            "StageName": "Prospecting",
            "CloseDate": "2026-12-31",
            "Amount": Decimal("1234567890123456.78"),
        },
    )
    assert (await client.get("Opportunity", opportunity_id))["Amount"] == Decimal(
        "1234567890123456.78"
    )
    await client.update("Opportunity", opportunity_id, {"Amount": Decimal("0.10")})
    assert (await client.get_opportunity(opportunity_id)).amount == Money(
        amount=Decimal("0.10"), currency="USD"
    )

    with pytest.raises(RejectedError) as rejected:
        await client.update("Opportunity", opportunity_id, {"StageName": "Won-ish"})
    assert (rejected.value.code, rejected.value.fields) == (
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        ("StageName",),
    )
    with pytest.raises(NotFoundError):
        await client.get_opportunity("006000000000000AAA")
    await client.delete("Opportunity", opportunity_id)
    with pytest.raises(NotFoundError):
        await client.get("Opportunity", opportunity_id)


async def test_query_pages_and_session_refresh(api: SandboxApi, client: SalesforceClient) -> None:
    for index in range(5):
        await client.create("Product2", {"Name": f"P{index}", "ProductCode": f"C{index}"})
    pages = [
        page
        async for page in client.query_pages(
            "SELECT ProductCode FROM Product2 ORDER BY ProductCode", batch_size=2
        )
    ]
    assert [[r["ProductCode"] for r in page] for page in pages] == [
        ["C0", "C1"],
        ["C2", "C3"],
        ["C4"],
    ]

    await api.http.post("/admin/tokens/revoke")  # every session dies; the client re-logs in
    assert len(await client.query("SELECT Id FROM Product2")) == 5
