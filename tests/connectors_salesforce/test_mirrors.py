"""The ERP mirrors and renewals on the wire: accounts, products and prices, renewals,
and the ``Sforce-Call-Options`` header that marks Syncline's own writes."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connectors.errors import RejectedError
from connectors.salesforce import SalesforceClient
from models.crm import AccountLegalMirror, Address, ProductMirror, RenewalOpportunity
from models.types import Money

from .fake import CLIENT_ID, CLIENT_SECRET, DATA, LOGIN_URL, FakeSalesforce, sf_error

STANDARD = "01s5g00000StdPbAAA"
PRODUCT = "01t5g00000ProdAAAA"
ENTRY = "01u5g00000EntryAAA"


def _soql(request: httpx.Request) -> str:
    return parse_qs(urlsplit(str(request.url)).query)["q"][0]


def _body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def _records(*records: dict[str, Any]) -> httpx.Response:
    return httpx.Response(
        200, json={"totalSize": len(records), "done": True, "records": list(records)}
    )


def _queries(**answers: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    """Answer a query by the object it reads (``FROM <name>``)."""

    def reply(request: httpx.Request) -> httpx.Response:
        soql = _soql(request)
        for sobject, records in answers.items():
            if f"FROM {sobject} " in soql + " ":
                return _records(*records)
        raise AssertionError(f"unexpected query: {soql}")

    return reply


def _sent(fake: FakeSalesforce, method: str, path_end: str = "") -> list[httpx.Request]:
    return [r for r in fake.data_requests if r.method == method and r.url.path.endswith(path_end)]


# --- Sforce-Call-Options ----------------------------------------------------------------


async def test_writes_carry_the_client_name_and_reads_do_not(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on_json("POST", f"{DATA}/sobjects/Account/", {"id": "001A", "success": True}, 201)
    fake.on("PATCH", f"{DATA}/sobjects/Account/001A", httpx.Response(204))
    fake.on("DELETE", f"{DATA}/sobjects/Account/001A", httpx.Response(204))
    fake.on_json("GET", f"{DATA}/sobjects/Account/001A", {"Id": "001A", "Name": "A"})
    await client.create("Account", {"Name": "A"})
    await client.update("Account", "001A", {"Name": "B"})
    await client.get("Account", "001A")
    await client.delete("Account", "001A")
    options = {r.method: r.headers.get("Sforce-Call-Options") for r in fake.data_requests}
    assert options == {
        "POST": "client=syncline",
        "PATCH": "client=syncline",
        "GET": None,
        "DELETE": "client=syncline",
    }
    assert "Sforce-Call-Options" not in fake.token_requests[0].headers


async def test_the_client_name_is_configurable_and_checked(fake: FakeSalesforce) -> None:
    named = SalesforceClient(
        LOGIN_URL,
        CLIENT_ID,
        CLIENT_SECRET,
        transport=httpx.MockTransport(fake.handler),
        client_name="syncline-eu",
    )
    fake.on("PATCH", f"{DATA}/sobjects/Account/001A", httpx.Response(204))
    await named.update("Account", "001A", {"Name": "B"})
    await named.aclose()
    assert fake.data_requests[-1].headers["Sforce-Call-Options"] == "client=syncline-eu"
    for bad in ("", "a,b", "a b", "x\r\ny"):
        with pytest.raises(ValueError):
            SalesforceClient(LOGIN_URL, CLIENT_ID, CLIENT_SECRET, client_name=bad)


# --- accounts -----------------------------------------------------------------------------


async def test_find_accounts_by_either_criterion_with_escaped_literals(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    assert await client.find_accounts() == []
    assert fake.requests == []  # no criterion, no query (it would match every account)

    account = {
        "Id": "001A",
        "Name": "O'Brien Ltd",
        "BillingCity": "Cork",
        "Tax_Id__c": "IE'1\\",
        "Syncline_Customer_Id__c": "C-9",
    }
    fake.on("GET", f"{DATA}/query", _records(account))
    [found] = await client.find_accounts(erp_customer_id="C-9", tax_id="IE'1\\")
    assert (found.id, found.erp_customer_id, found.tax_id) == ("001A", "C-9", "IE'1\\")
    assert found.billing_address.city == "Cork"
    soql = _soql(fake.data_requests[-1])
    assert "FROM Account WHERE Syncline_Customer_Id__c = 'C-9' OR Tax_Id__c = 'IE\\'1\\\\'" in soql
    assert "Syncline_Customer_Id__c" in soql.split("FROM")[0]

    await client.find_accounts(tax_id="FR1")
    assert "WHERE Tax_Id__c = 'FR1' ORDER BY" in _soql(fake.data_requests[-1])


async def test_write_account_mirror_patches_the_legal_fields(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on("PATCH", f"{DATA}/sobjects/Account/001A", httpx.Response(204))
    mirror = AccountLegalMirror(
        erp_customer_id="C-9",
        legal_name="Acme SAS",
        billing_address=Address(street="1 rue X", city="Lyon", postal_code="69001", country="FR"),
        tax_id="FR123",
        synced_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
    )
    await client.write_account_mirror("001A", mirror)
    assert _body(fake.data_requests[-1]) == {
        "Syncline_Legal_Name__c": "Acme SAS",
        "BillingStreet": "1 rue X",
        "BillingCity": "Lyon",
        "BillingState": None,
        "BillingPostalCode": "69001",
        "BillingCountry": "FR",
        "Tax_Id__c": "FR123",
        "Syncline_Customer_Id__c": "C-9",
        "Syncline_Legal_Synced_At__c": "2026-11-23T09:30:00.000+0000",
    }


# --- products -----------------------------------------------------------------------------

PRODUCT_PATH = f"{DATA}/sobjects/Product2/Syncline_Item_Id__c/ITEM-1"


def _product(price: str | None = "19.99", active: bool = True) -> ProductMirror:
    return ProductMirror(
        erp_item_id="ITEM-1",
        sku="SKU-1",
        name="Widget",
        price=None if price is None else Money(amount=Decimal(price), currency="EUR"),
        is_active=active,
    )


def _upserted(created: bool) -> httpx.Response:
    body = {"id": PRODUCT, "success": True, "errors": [], "created": created}
    return httpx.Response(201 if created else 200, json=body)


async def test_a_new_product_gets_its_standard_price(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on("PATCH", PRODUCT_PATH, _upserted(True))
    fake.on("GET", f"{DATA}/query", _queries(Pricebook2=[{"Id": STANDARD}]))
    fake.on_json("POST", f"{DATA}/sobjects/PricebookEntry/", {"id": ENTRY}, 201)
    await client.upsert_product_mirror(_product())

    [upsert] = _sent(fake, "PATCH")
    assert _body(upsert) == {"Name": "Widget", "ProductCode": "SKU-1", "IsActive": True}
    [create] = _sent(fake, "POST")
    assert _body(create) == {
        "Pricebook2Id": STANDARD,
        "Product2Id": PRODUCT,
        "CurrencyIsoCode": "EUR",
        "UnitPrice": 19.99,
        "IsActive": True,
    }
    assert b'"UnitPrice":19.99' in create.content  # exact, not a float's repr
    # A new product cannot have a price yet: no look-up for one.
    assert [_soql(r) for r in _sent(fake, "GET")] == [
        "SELECT Id FROM Pricebook2 WHERE IsStandard = true LIMIT 1"
    ]


async def test_an_existing_price_is_updated_only_when_it_differs(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    entry = {"Id": ENTRY, "UnitPrice": 19.99, "IsActive": True}
    fake.on("PATCH", PRODUCT_PATH, _upserted(False))
    fake.on("GET", f"{DATA}/query", _queries(Pricebook2=[{"Id": STANDARD}], PricebookEntry=[entry]))
    fake.on("PATCH", f"{DATA}/sobjects/PricebookEntry/{ENTRY}", httpx.Response(204))

    await client.upsert_product_mirror(_product("19.990"))
    assert _sent(fake, "PATCH", ENTRY) == []
    lookup = _soql(_sent(fake, "GET")[-1])
    assert f"Pricebook2Id = '{STANDARD}' AND Product2Id = '{PRODUCT}'" in lookup
    assert "CurrencyIsoCode = 'EUR'" in lookup

    await client.upsert_product_mirror(_product("24.50", active=False))
    [patch] = _sent(fake, "PATCH", ENTRY)
    assert _body(patch) == {"UnitPrice": 24.50, "IsActive": False}
    # The standard price book was looked up once for both calls.
    assert sum("FROM Pricebook2 " in _soql(r) for r in _sent(fake, "GET")) == 1


async def test_no_price_means_only_the_product(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on("PATCH", PRODUCT_PATH, _upserted(False))
    await client.upsert_product_mirror(_product(None))
    assert [(r.method, r.url.path) for r in fake.data_requests] == [("PATCH", PRODUCT_PATH)]


async def test_a_price_inserted_concurrently_is_updated_instead(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on("PATCH", PRODUCT_PATH, _upserted(True))
    entry = {"Id": ENTRY, "UnitPrice": 1, "IsActive": True}
    fake.on("GET", f"{DATA}/query", _queries(Pricebook2=[{"Id": STANDARD}], PricebookEntry=[entry]))
    fake.on(
        "POST",
        f"{DATA}/sobjects/PricebookEntry/",
        sf_error(400, "DUPLICATE_VALUE", "This price definition already exists"),
    )
    fake.on("PATCH", f"{DATA}/sobjects/PricebookEntry/{ENTRY}", httpx.Response(204))
    await client.upsert_product_mirror(_product("19.99"))
    [patch] = _sent(fake, "PATCH", ENTRY)
    assert _body(patch) == {"UnitPrice": 19.99, "IsActive": True}


# --- renewals -----------------------------------------------------------------------------

# The key is one URL segment: its ":" are percent-encoded on the wire (``RENEWAL_RAW``);
# the fake routes on the decoded path.
RENEWAL_RAW = f"{DATA}/sobjects/Opportunity/External_Id__c/renewal%3Asub-1%3A2027"
RENEWAL_PATH = f"{DATA}/sobjects/Opportunity/External_Id__c/renewal:sub-1:2027"


def _renewal() -> RenewalOpportunity:
    return RenewalOpportunity(
        key="renewal:sub-1:2027",
        account_id="001A",
        name="Acme renewal 2027",
        close_date=date(2027, 1, 31),
        amount=Money(amount=Decimal("1200.00"), currency="EUR"),
        renewal_of="0065g00000OrigAAAA",
        erp_subscription_id="SUB-1",
    )


def _not_found() -> httpx.Response:
    return sf_error(404, "NOT_FOUND", "The requested resource does not exist")


async def test_a_renewal_is_created_once_with_its_key(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on("GET", RENEWAL_PATH, _not_found())
    fake.on_json("POST", f"{DATA}/sobjects/Opportunity/", {"id": "006NEW"}, 201)
    assert await client.create_renewal_opportunity(_renewal()) == "006NEW"
    lookup, create = fake.data_requests
    assert lookup.method == "GET" and lookup.url.raw_path.startswith(RENEWAL_RAW.encode())
    assert _body(create) == {
        "Name": "Acme renewal 2027",
        "AccountId": "001A",
        "StageName": "Prospecting",
        "CloseDate": "2027-01-31",
        "Amount": 1200.00,
        "CurrencyIsoCode": "EUR",
        "Syncline_Renewal_Of__c": "0065g00000OrigAAAA",
        "Syncline_Subscription_Id__c": "SUB-1",
        "External_Id__c": "renewal:sub-1:2027",
    }


async def test_an_existing_renewal_is_returned_untouched(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on_json("GET", RENEWAL_PATH, {"Id": "006OLD"})
    assert await client.create_renewal_opportunity(_renewal()) == "006OLD"
    assert [r.method for r in fake.data_requests] == ["GET"]


async def test_a_renewal_created_concurrently_is_found_after_the_duplicate(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on(
        "GET",
        RENEWAL_PATH,
        _not_found(),
        httpx.Response(200, json={"Id": "006RACE"}),
    )
    fake.on("POST", f"{DATA}/sobjects/Opportunity/", sf_error(400, "DUPLICATE_VALUE"))
    assert await client.create_renewal_opportunity(_renewal()) == "006RACE"


async def test_a_refused_renewal_is_a_rejection(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on("GET", RENEWAL_PATH, _not_found())
    fake.on(
        "POST",
        f"{DATA}/sobjects/Opportunity/",
        sf_error(400, "INVALID_CROSS_REFERENCE_KEY", fields=["AccountId"]),
    )
    with pytest.raises(RejectedError) as refused:
        await client.create_renewal_opportunity(_renewal())
    assert refused.value.fields == ("AccountId",)
