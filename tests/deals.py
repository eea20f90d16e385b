"""Making deals in the sandbox CRM, shared by the workflow and end-to-end tests."""

from __future__ import annotations

from datetime import date

from connectors.salesforce import SalesforceClient


async def open_deal(
    crm: SalesforceClient,
    entries: dict[str, str],
    skus: list[str] | None = None,
    *,
    name: str = "Test deal",
    unit_price: str = "1250.50",
    quantity: int = 2,
) -> str:
    """An open opportunity with one line per SKU, on a new account; returns its id."""
    account = await crm.create(
        "Account",
        {
            "Name": f"{name} account",
            "BillingStreet": "1 Market St",
            "BillingCity": "San Francisco",
            "BillingPostalCode": "94105",
            "BillingCountry": "US",
        },
    )
    opportunity = await crm.create(
        "Opportunity",
        {
            "Name": name,
            "AccountId": account,
            "StageName": "Proposal/Price Quote",
            "CloseDate": date.today().isoformat(),
        },
    )
    for sku in skus or ["SL-PLATFORM-ANNUAL"]:
        await crm.create(
            "OpportunityLineItem",
            {
                "OpportunityId": opportunity,
                "PricebookEntryId": entries[sku],
                "Quantity": quantity,
                "UnitPrice": unit_price,
            },
        )
    return opportunity


async def add_crm_product(
    crm: SalesforceClient, entries: dict[str, str], sku: str, price: str
) -> None:
    """A product the CRM sells but the ERP may not know yet."""
    pricebooks = await crm.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")
    product = await crm.create(
        "Product2", {"Name": f"Product {sku}", "ProductCode": sku, "IsActive": True}
    )
    entries[sku] = await crm.create(
        "PricebookEntry",
        {
            "Pricebook2Id": pricebooks[0]["Id"],
            "Product2Id": product,
            "UnitPrice": price,
            "IsActive": True,
        },
    )
