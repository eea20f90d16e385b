"""Making deals in the sandbox CRM, shared by the workflow and end-to-end tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from connectors.protocols import ErpClient
from connectors.salesforce import SalesforceClient
from models.crm import Address
from models.erp import CustomerUpsert, SalesOrder, SalesOrderDraft, SalesOrderLine
from models.types import Money


async def open_deal(
    crm: SalesforceClient,
    entries: dict[str, str],
    skus: list[str] | None = None,
    *,
    name: str = "Test deal",
    unit_price: str = "1250.50",
    quantity: int = 2,
    account_id: str | None = None,
) -> str:
    """An open opportunity with one line per SKU, on a new account (or ``account_id``);
    returns its id."""
    account = account_id or await crm.create(
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


async def erp_order_outside_syncline(
    erp: ErpClient,
    opportunity_id: str,
    tran_date: date,
    *,
    amount: str = "5000.00",
    currency: str = "USD",
) -> SalesOrder:
    """An order finance entered in the ERP by hand, naming an opportunity (for drift)."""
    customer = await erp.upsert_customer(
        CustomerUpsert(
            external_id=f"acct-{opportunity_id}",
            company_name=f"Manual {opportunity_id}",
            billing_address=Address(
                street="1 Orphan Way", city="Austin", postal_code="78701", country="US"
            ),
            currency=currency,
        )
    )
    items = await erp.find_items(["SL-ONBOARDING"])
    return await erp.create_sales_order(
        SalesOrderDraft(
            external_id=opportunity_id,
            customer_id=customer.id,
            currency=currency,
            tran_date=tran_date,
            lines=[
                SalesOrderLine(
                    item_id=items["SL-ONBOARDING"].id,
                    sku="SL-ONBOARDING",
                    quantity=Decimal(1),
                    rate=Money(amount=Decimal(amount), currency=currency),
                )
            ],
        )
    )
