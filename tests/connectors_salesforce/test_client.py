"""Reads, writes and queries: exact money, Salesforce datetimes, ids as returned."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from connectors.errors import AuthError, ConnectorError, RejectedError
from connectors.salesforce import SalesforceClient, parse_datetime, soql_quote
from connectors.salesforce.wire import dumps, format_datetime
from models.crm import OpportunityOrderUpdate
from models.types import Money
from telemetry.correlation import correlation_scope

from .fake import (
    CLIENT_SECRET,
    DATA,
    FakeSalesforce,
    sf_error,
)

OPP_ID = "0065g00000AbCdEAAV"
RAW_OPPORTUNITY = (
    '{"attributes":{"type":"Opportunity","url":"/x"},"Id":"' + OPP_ID + '",'
    '"Name":"Big deal","AccountId":"0015g00000XyZaBAAV","StageName":"Closed Won",'
    '"IsClosed":true,"IsWon":true,"CloseDate":"2026-11-30","CurrencyIsoCode":"EUR",'
    '"Amount":1234567890123456.78,"Syncline_Order_Id__c":null,'
    '"LastModifiedDate":"2026-11-23T10:15:30.250+0000"}'
)
RAW_LINES = (
    '{"totalSize":2,"done":true,"records":['
    '{"attributes":{"type":"OpportunityLineItem"},"Id":"00k5g00000Line1AAA","Quantity":2.5,'
    '"UnitPrice":0.10,"TotalPrice":0.25,"Product2Id":"01t1","ProductCode":"SKU-1",'
    '"Product2":{"attributes":{"type":"Product2"},"ProductCode":"SKU-1","Name":"Widget"}},'
    '{"attributes":{"type":"OpportunityLineItem"},"Id":"00k5g00000Line2AAA","Quantity":3,'
    '"UnitPrice":1234567890123456.78,"TotalPrice":0,"Product2Id":null,"ProductCode":"OLD",'
    '"Product2":null}]}'
)


def _composite(*raw_bodies: str) -> str:
    """A Composite answer of 200 subrequests, each body kept exactly as raw JSON."""
    names = ("opportunity", "lines", "account")
    answers = ",".join(
        f'{{"body":{raw},"httpHeaders":{{}},"httpStatusCode":200,"referenceId":"{name}"}}'
        for name, raw in zip(names, raw_bodies, strict=False)
    )
    return f'{{"compositeResponse":[{answers}]}}'


def _json(raw: str, status: int = 200) -> httpx.Response:
    return httpx.Response(
        status, content=raw.encode(), headers={"Content-Type": "application/json"}
    )


async def test_get_opportunity_maps_exact_money_dates_and_lines(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on("POST", f"{DATA}/composite", _json(_composite(RAW_OPPORTUNITY, RAW_LINES)))
    opportunity = await client.get_opportunity(OPP_ID)

    assert opportunity.id == OPP_ID and opportunity.account_id == "0015g00000XyZaBAAV"
    assert (opportunity.stage, opportunity.is_closed_won) == ("Closed Won", True)
    assert opportunity.amount == Money(amount=Decimal("1234567890123456.78"), currency="EUR")
    assert opportunity.close_date == date(2026, 11, 30)
    assert opportunity.last_modified == datetime(2026, 11, 23, 10, 15, 30, 250000, tzinfo=UTC)
    first, second = opportunity.lines
    assert (first.id, first.product_code, first.product_name) == (
        "00k5g00000Line1AAA",
        "SKU-1",
        "Widget",
    )
    assert (first.quantity, first.unit_price) == (
        Decimal("2.5"),
        Money(amount=Decimal("0.10"), currency="EUR"),
    )
    assert second.unit_price.amount == Decimal("1234567890123456.78")
    assert (second.product_code, second.quantity) == ("OLD", Decimal(3))

    # One call: the opportunity, then its lines by the Id the first subrequest read.
    [call] = fake.data_requests
    read, lines = json.loads(call.content)["compositeRequest"]
    assert read["url"] == f"{DATA}/sobjects/Opportunity/{OPP_ID}"
    soql = parse_qs(urlsplit(lines["url"]).query)["q"][0]
    assert "WHERE OpportunityId = '@{opportunity.Id}'" in soql
    assert "Product2.ProductCode" in soql and "Product2.Name" in soql


async def test_get_account(fake: FakeSalesforce, client: SalesforceClient) -> None:
    fake.on_json(
        "GET",
        f"{DATA}/sobjects/Account/001A",
        {
            "Id": "001A",
            "Name": "Acme",
            "BillingStreet": "1 Main St",
            "BillingCity": "Lyon",
            "BillingState": None,
            "BillingPostalCode": "69001",
            "BillingCountry": "FR",
            "Tax_Id__c": "FR123",
            "OwnerId": "005B",
            "Segment__c": "SMB",
            "Syncline_Customer_Id__c": "C-9",
            "Syncline_Legal_Name__c": "Acme Holding SAS",
        },
    )
    account = await client.get_account("001A")
    assert (account.name, account.tax_id, account.segment, account.erp_customer_id) == (
        "Acme",
        "FR123",
        "SMB",
        "C-9",
    )
    assert account.billing_address.city == "Lyon" and account.owner_id == "005B"
    assert (account.name, account.legal_name) == ("Acme", "Acme Holding SAS")


async def test_write_order_status_patches_the_mirror_fields(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on("PATCH", f"{DATA}/sobjects/Opportunity/{OPP_ID}", httpx.Response(204))
    await client.write_order_status(
        OPP_ID,
        OpportunityOrderUpdate(
            erp_order_id="SO-1",
            order_number="SO1001",
            order_status="pendingFulfillment",
            synced_at=datetime(2026, 11, 23, 12, 0, 1, 5000, tzinfo=UTC),
        ),
    )
    request = fake.data_requests[-1]
    assert json.loads(request.content) == {
        "Syncline_Order_Id__c": "SO-1",
        "Syncline_Order_Number__c": "SO1001",
        "Syncline_Order_Status__c": "pendingFulfillment",
        "Syncline_Synced_At__c": "2026-11-23T12:00:01.005+0000",
    }
    assert request.headers["Content-Type"] == "application/json"


async def test_create_sends_decimals_exactly(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on_json(
        "POST", f"{DATA}/sobjects/Opportunity/", {"id": OPP_ID, "success": True, "errors": []}, 201
    )
    created = await client.create(
        "Opportunity",
        {
            "Name": "x",
            "Amount": Decimal("1234567890123456.78"),
            "Probability": Decimal("0.1"),
            "CloseDate": date(2026, 12, 31),
        },
    )
    assert created == OPP_ID
    body = fake.data_requests[-1].content
    assert b'"Amount":1234567890123456.78' in body
    assert b'"Probability":0.1' in body and b'"CloseDate":"2026-12-31"' in body
    assert json.loads(body, parse_float=Decimal)["Amount"] == Decimal("1234567890123456.78")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (201, {"id": "001N", "success": True, "errors": [], "created": True}, ("001N", True)),
        (200, {"id": "001E", "success": True, "errors": [], "created": False}, ("001E", False)),
    ],
)
async def test_upsert_reports_created(
    fake: FakeSalesforce,
    client: SalesforceClient,
    status: int,
    body: dict[str, object],
    expected: tuple[str, bool],
) -> None:
    fake.on_json("PATCH", f"{DATA}/sobjects/Account/External_Id__c/a b", body, status)
    assert await client.upsert("Account", "External_Id__c", "a b", {"Name": "x"}) == expected
    assert fake.data_requests[-1].url.raw_path.endswith(b"/External_Id__c/a%20b")


async def test_upsert_answered_204_looks_the_id_up(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    path = f"{DATA}/sobjects/Account/External_Id__c/k"
    fake.on("PATCH", path, httpx.Response(204))
    fake.on_json("GET", path, {"Id": "001K"})
    assert await client.upsert("Account", "External_Id__c", "k", {"Name": "x"}) == ("001K", False)


async def test_query_follows_next_records_url(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on_json(
        "GET",
        f"{DATA}/query",
        {
            "totalSize": 3,
            "done": False,
            "nextRecordsUrl": f"{DATA}/query/01gX-2",
            "records": [{"Id": "1"}, {"Id": "2"}],
        },
    )
    fake.on_json(
        "GET", f"{DATA}/query/01gX-2", {"totalSize": 3, "done": True, "records": [{"Id": "3"}]}
    )
    assert [r["Id"] for r in await client.query("SELECT Id FROM Account")] == ["1", "2", "3"]
    pages = [page async for page in client.query_pages("SELECT Id FROM Account", batch_size=200)]
    assert [[r["Id"] for r in page] for page in pages] == [["1", "2"], ["3"]]
    assert all(
        r.headers["Sforce-Query-Options"] == "batchSize=200" for r in fake.data_requests[-2:]
    )


async def test_correlation_id_is_sent_when_in_scope(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on_json("GET", f"{DATA}/sobjects/Account/001A", {"Id": "001A"})
    await client.get("Account", "001A")
    assert "X-Correlation-Id" not in fake.requests[-1].headers
    with correlation_scope("abc"):
        await client.get("Account", "001A")
    assert fake.requests[-1].headers["X-Correlation-Id"] == "abc"


async def test_secrets_never_reach_errors_or_logs(
    fake: FakeSalesforce, client: SalesforceClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[ConnectorError] = []
    fake.on("GET", f"{DATA}/sobjects/Account/001A", sf_error(400, "INVALID_FIELD"))
    with pytest.raises(RejectedError) as rejected:
        await client.get("Account", "001A")
    errors.append(rejected.value)
    fake.reject_every_session = True
    with pytest.raises(AuthError) as refused:
        await client.get("Account", "001A")
    errors.append(refused.value)
    fake.token_reply = httpx.Response(
        400, json={"error": "invalid_client", "error_description": "invalid client"}
    )
    fake.expire_sessions()
    with pytest.raises(AuthError) as bad_client:
        await client.get("Account", "001A")
    errors.append(bad_client.value)

    tokens = {r.headers["Authorization"].removeprefix("Bearer ") for r in fake.data_requests}
    secrets = {CLIENT_SECRET, *tokens}
    assert len(secrets) >= 2
    texts = [caplog.text, repr(client)]
    for error in errors:
        chain: BaseException | None = error
        while chain is not None:
            texts += [str(chain), repr(chain), *(str(a) for a in chain.args)]
            chain = chain.__cause__ or chain.__context__
    for text in texts:
        for secret in secrets:
            assert secret not in text


def test_datetime_wire_format_round_trip() -> None:
    parsed = parse_datetime("2026-11-23T10:00:00.000+0000")
    assert parsed == datetime(2026, 11, 23, 10, tzinfo=UTC) and parsed.tzinfo is UTC
    assert parse_datetime("2026-11-23T12:00:00.000+0200") == parsed
    assert parse_datetime("2026-11-23T10:00:00Z") == parsed
    assert format_datetime(parsed) == "2026-11-23T10:00:00.000+0000"
    for bad in ("2026-11-23", "2026-11-23T10:00:00"):
        with pytest.raises(ValueError):
            parse_datetime(bad)
    with pytest.raises(ValueError):
        format_datetime(datetime(2026, 1, 1))


def test_soql_quote_escapes_quotes_and_backslashes() -> None:
    assert soql_quote("O'Brien \\ x") == "'O\\'Brien \\\\ x'"


def test_dumps_refuses_what_salesforce_cannot_store() -> None:
    with pytest.raises(ValueError):
        dumps({"Amount": Decimal("NaN")})
    with pytest.raises(TypeError):
        dumps({"x": object()})


async def test_api_names_cannot_change_the_path(client: SalesforceClient) -> None:
    with pytest.raises(ValueError):
        await client.create("Account/../../x", {})
