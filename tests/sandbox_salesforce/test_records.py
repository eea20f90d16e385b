"""REST shape of the sandbox: auth, describe, CRUD, upsert, validation errors, derived fields."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from .helpers import CLIENT_ID, CLIENT_SECRET, DATA, SandboxApi, exact

INVALID_SESSION = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
NOT_FOUND = [{"message": "The requested resource does not exist", "errorCode": "NOT_FOUND"}]


# --- OAuth and sessions -------------------------------------------------------------------


async def test_client_credentials_token_shape(anon_http: httpx.AsyncClient) -> None:
    response = await anon_http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "access_token",
        "instance_url",
        "token_type",
        "issued_at",
        "id",
        "signature",
    }
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == "http://sf.sandbox.test"
    assert body["access_token"].startswith("00D") and "!" in body["access_token"]
    assert body["issued_at"].isdigit()


async def test_password_grant_and_basic_auth(anon_http: httpx.AsyncClient) -> None:
    password = await anon_http.post(
        "/services/oauth2/token",
        data={
            "grant_type": "password",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "username": "integration@syncline.test",
            "password": "pw",
        },
    )
    assert password.status_code == 200
    basic = await anon_http.post(
        "/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=(CLIENT_ID, CLIENT_SECRET),
    )
    assert basic.status_code == 200


@pytest.mark.parametrize(
    ("form", "error"),
    [
        (
            {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "wrong"},
            "invalid_client",
        ),
        (
            {
                "grant_type": "authorization_code",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
            "unsupported_grant_type",
        ),
        (
            {"grant_type": "password", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            "invalid_grant",
        ),
    ],
)
async def test_token_errors(anon_http: httpx.AsyncClient, form: dict[str, str], error: str) -> None:
    response = await anon_http.post("/services/oauth2/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == error


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}]
)
async def test_data_api_needs_a_valid_session(
    anon_http: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await anon_http.get(f"{DATA}/sobjects/", headers=headers)
    assert response.status_code == 401
    assert response.json() == INVALID_SESSION


async def test_revoked_tokens_are_refused(api: SandboxApi) -> None:
    assert (await api.http.get(f"{DATA}/sobjects/")).status_code == 200
    await api.http.post("/admin/tokens/revoke")
    assert (await api.http.get(f"{DATA}/sobjects/")).status_code == 401


# --- discovery ----------------------------------------------------------------------------


async def test_versions_list_needs_no_session(anon_http: httpx.AsyncClient) -> None:
    response = await anon_http.get("/services/data/")
    assert response.json() == [
        {"label": "Winter '24", "url": "/services/data/v59.0", "version": "59.0"}
    ]


async def test_sobjects_list_and_describe(api: SandboxApi) -> None:
    listing = (await api.http.get(f"{DATA}/sobjects/")).json()
    prefixes = {o["name"]: o["keyPrefix"] for o in listing["sobjects"]}
    assert prefixes == {
        "Account": "001",
        "Opportunity": "006",
        "OpportunityLineItem": "00k",
        "Product2": "01t",
        "PricebookEntry": "01u",
        "Pricebook2": "01s",
    }
    describe = (await api.http.get(f"{DATA}/sobjects/Opportunity/describe/")).json()
    fields = {f["name"]: f for f in describe["fields"]}
    assert fields["External_Id__c"]["externalId"] is True
    assert fields["External_Id__c"]["custom"] is True
    assert fields["IsWon"]["updateable"] is False
    assert fields["Amount"]["type"] == "currency"
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert [v["value"] for v in fields["StageName"]["picklistValues"]][-2:] == [
        "Closed Won",
        "Closed Lost",
    ]
    account = (await api.http.get(f"{DATA}/sobjects/Account/describe")).json()
    assert {f["name"] for f in account["fields"] if f["externalId"]} == {
        "Syncline_Customer_Id__c",
        "External_Id__c",
    }


async def test_unknown_object_version_and_route_are_not_found(api: SandboxApi) -> None:
    for path in (
        f"{DATA}/sobjects/Lead/describe",
        "/services/data/v42.0/sobjects/",
        f"{DATA}/nothing/here",
    ):
        response = await api.http.get(path)
        assert (response.status_code, response.json()) == (404, NOT_FOUND)


# --- CRUD ---------------------------------------------------------------------------------


async def test_create_get_update_delete(api: SandboxApi) -> None:
    created = await api.http.post(
        f"{DATA}/sobjects/Account/",
        json={"Name": "Acme", "BillingCity": "Lyon", "Tax_Id__c": "FR123"},
    )
    assert created.status_code == 201
    body = created.json()
    assert body["success"] is True and body["errors"] == []
    account_id = body["id"]
    assert len(account_id) == 18 and account_id.startswith("001")

    record = await api.get("Account", account_id)
    assert record["attributes"] == {
        "type": "Account",
        "url": f"{DATA}/sobjects/Account/{account_id}",
    }
    assert list(record)[:2] == ["attributes", "Id"]
    assert record["Name"] == "Acme" and record["BillingCity"] == "Lyon"
    assert record["IsDeleted"] is False
    assert record["CreatedDate"].endswith("+0000") and len(record["CreatedDate"]) == 28
    assert record["OwnerId"].startswith("005")

    updated = await api.patch("Account", account_id, Name="Acme SA", Segment__c="Enterprise")
    assert updated.status_code == 204 and updated.content == b""
    again = await api.get("Account", account_id)
    assert (again["Name"], again["Segment__c"]) == ("Acme SA", "Enterprise")
    assert again["LastModifiedDate"] >= record["LastModifiedDate"]
    assert again["CreatedDate"] == record["CreatedDate"]

    fields = await api.http.get(
        f"{DATA}/sobjects/Account/{account_id[:15]}", params={"fields": "Name,Tax_Id__c"}
    )
    assert fields.json() == {
        "attributes": record["attributes"],
        "Name": "Acme SA",
        "Tax_Id__c": "FR123",
    }

    deleted = await api.http.delete(f"{DATA}/sobjects/Account/{account_id}")
    assert deleted.status_code == 204
    gone = await api.http.get(f"{DATA}/sobjects/Account/{account_id}")
    assert (gone.status_code, gone.json()) == (404, NOT_FOUND)


async def test_get_update_delete_unknown_ids_are_not_found(api: SandboxApi) -> None:
    for method in ("GET", "PATCH", "DELETE"):
        for record_id in ("001000000000000AAA", "garbage"):
            response = await api.http.request(
                method,
                f"{DATA}/sobjects/Account/{record_id}",
                json={"Name": "x"} if method == "PATCH" else None,
            )
            assert (response.status_code, response.json()) == (404, NOT_FOUND)


async def test_every_data_response_reports_api_usage(api: SandboxApi) -> None:
    first = await api.http.get(f"{DATA}/sobjects/")
    second = await api.http.get(f"{DATA}/sobjects/Nope/describe")
    used = [
        int(r.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0]) for r in (first, second)
    ]
    assert second.headers["Sforce-Limit-Info"].endswith("/15000")
    assert used[1] == used[0] + 1
    assert "Sforce-Limit-Info" not in (await api.http.get("/admin/health")).headers


# --- validation ---------------------------------------------------------------------------


async def _error(response: httpx.Response) -> tuple[int, str, list[str]]:
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    return response.status_code, body[0]["errorCode"], body[0].get("fields", [])


@pytest.mark.parametrize(
    ("fields", "code", "error_fields"),
    [
        ({"AccountId": None}, "REQUIRED_FIELD_MISSING", ["Name", "StageName", "CloseDate"]),
        (
            {"Name": "x", "StageName": "Won-ish", "CloseDate": "2026-12-01"},
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["StageName"],
        ),
        (
            {"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-12-01", "Colour__c": 1},
            "INVALID_FIELD",
            ["Colour__c"],
        ),
        (
            {"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-12-01", "IsWon": True},
            "INVALID_FIELD_FOR_INSERT_UPDATE",
            ["IsWon"],
        ),
        (
            {
                "Name": "x",
                "StageName": "Prospecting",
                "CloseDate": "2026-12-01",
                "AccountId": "not-an-id",
            },
            "MALFORMED_ID",
            ["AccountId"],
        ),
        (
            {
                "Name": "x",
                "StageName": "Prospecting",
                "CloseDate": "2026-12-01",
                "AccountId": "001000000000000AAA",
            },
            "INVALID_CROSS_REFERENCE_KEY",
            ["AccountId"],
        ),
        (
            {
                "Name": "x",
                "StageName": "Prospecting",
                "CloseDate": "2026-12-01",
                "CurrencyIsoCode": "XXX",
            },
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            ["CurrencyIsoCode"],
        ),
        (
            {"Name": "x", "StageName": "Prospecting", "CloseDate": "31/12/2026"},
            "JSON_PARSER_ERROR",
            [],
        ),
        (
            {"Name": "x" * 121, "StageName": "Prospecting", "CloseDate": "2026-12-01"},
            "STRING_TOO_LONG",
            ["Name"],
        ),
        (
            {"Name": "x", "StageName": "Prospecting", "CloseDate": "2026-12-01", "Amount": "1e30"},
            "NUMBER_OUTSIDE_VALID_RANGE",
            ["Amount"],
        ),
    ],
)
async def test_opportunity_validation_errors(
    api: SandboxApi, fields: dict[str, Any], code: str, error_fields: list[str]
) -> None:
    response = await api.http.post(f"{DATA}/sobjects/Opportunity/", json=fields)
    assert await _error(response) == (400, code, error_fields)


async def test_opportunity_account_must_be_an_account(api: SandboxApi) -> None:
    product_id = await api.create("Product2", Name="Widget")
    response = await api.http.post(
        f"{DATA}/sobjects/Opportunity/",
        json={
            "Name": "x",
            "StageName": "Prospecting",
            "CloseDate": "2026-12-01",
            "AccountId": product_id,
        },
    )
    assert await _error(response) == (400, "INVALID_CROSS_REFERENCE_KEY", ["AccountId"])


async def test_update_validation_errors(api: SandboxApi) -> None:
    _, opportunity_id = await api.deal()
    assert await _error(await api.patch("Opportunity", opportunity_id, IsClosed=True)) == (
        400,
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        ["IsClosed"],
    )
    assert await _error(await api.patch("Opportunity", opportunity_id, StageName=None)) == (
        400,
        "REQUIRED_FIELD_MISSING",
        ["StageName"],
    )
    assert await _error(await api.patch("Opportunity", opportunity_id, Id="x")) == (
        400,
        "INVALID_FIELD_FOR_INSERT_UPDATE",
        ["Id"],
    )


async def test_malformed_json_body(api: SandboxApi) -> None:
    response = await api.http.post(
        f"{DATA}/sobjects/Account/", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert (await _error(response))[:2] == (400, "JSON_PARSER_ERROR")
    response = await api.http.post(f"{DATA}/sobjects/Account/", json=["Name"])
    assert (await _error(response))[:2] == (400, "JSON_PARSER_ERROR")


async def test_field_names_are_case_insensitive(api: SandboxApi) -> None:
    account_id = await api.create("account", name="Lower", billingcity="Oslo")
    record = await api.get("Account", account_id)
    assert (record["Name"], record["BillingCity"]) == ("Lower", "Oslo")


# --- upsert by external id ----------------------------------------------------------------


async def test_upsert_creates_then_updates(api: SandboxApi) -> None:
    path = f"{DATA}/sobjects/Account/External_Id__c/ext-42"
    created = await api.http.patch(path, json={"Name": "First"})
    assert created.status_code == 201
    assert created.json() == {
        "id": created.json()["id"],
        "success": True,
        "errors": [],
        "created": True,
    }
    updated = await api.http.patch(path.replace("ext-42", "EXT-42"), json={"Name": "Second"})
    assert updated.status_code == 200
    assert updated.json() == {
        "id": created.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    record = await api.get("Account", created.json()["id"])
    assert (record["Name"], record["External_Id__c"]) == ("Second", "ext-42")
    by_external = await api.http.get(path)
    assert by_external.json()["Id"] == created.json()["id"]


async def test_upsert_errors(api: SandboxApi) -> None:
    missing = await api.http.patch(f"{DATA}/sobjects/Account/Name/x", json={"Name": "x"})
    assert missing.status_code == 404
    await api.create("Account", Name="One", Syncline_Customer_Id__c="C-1")
    await api.create("Account", Name="Two", Syncline_Customer_Id__c="C-1")
    ambiguous = await api.http.patch(
        f"{DATA}/sobjects/Account/Syncline_Customer_Id__c/C-1", json={"Name": "x"}
    )
    assert ambiguous.status_code == 300
    assert len(ambiguous.json()) == 2 and ambiguous.json()[0].startswith(f"{DATA}/sobjects/")
    mismatch = await api.http.patch(
        f"{DATA}/sobjects/Account/External_Id__c/a", json={"Name": "x", "External_Id__c": "b"}
    )
    assert (await _error(mismatch))[:2] == (400, "INVALID_FIELD")


async def test_unique_external_id_is_enforced(api: SandboxApi) -> None:
    await api.create("Product2", Name="A", Syncline_Item_Id__c="ITEM-1")
    response = await api.http.post(
        f"{DATA}/sobjects/Product2/", json={"Name": "B", "Syncline_Item_Id__c": "item-1"}
    )
    assert await _error(response) == (400, "DUPLICATE_VALUE", ["Syncline_Item_Id__c"])


# --- derived fields and line items --------------------------------------------------------


async def test_stage_drives_is_closed_and_is_won(api: SandboxApi) -> None:
    _, opportunity_id = await api.deal()
    for stage, closed, won in [
        ("Closed Lost", True, False),
        ("Closed Won", True, True),
        ("Negotiation/Review", False, False),
    ]:
        assert (await api.patch("Opportunity", opportunity_id, StageName=stage)).status_code == 204
        record = await api.get("Opportunity", opportunity_id)
        assert (record["IsClosed"], record["IsWon"]) == (closed, won)


async def test_lines_derive_totals_amount_and_product_fields(api: SandboxApi) -> None:
    _, opportunity_id = await api.deal(("SKU-A", "3", "100.10"), ("SKU-B", "0.5", "0.05"))
    opportunity = await api.get("Opportunity", opportunity_id)
    assert opportunity["Amount"] == Decimal("300.33")  # 300.30 + 0.025, rounded half up
    assert opportunity["CurrencyIsoCode"] == "USD"
    assert opportunity["Pricebook2Id"] == await api.standard_pricebook()
    lines = await api.records(
        f"SELECT Id, Quantity, UnitPrice, ListPrice, TotalPrice, ProductCode, Name, Product2Id "
        f"FROM OpportunityLineItem WHERE OpportunityId = '{opportunity_id}' ORDER BY ProductCode"
    )
    assert [(x["ProductCode"], x["Quantity"], x["UnitPrice"], x["TotalPrice"]) for x in lines] == [
        ("SKU-A", Decimal("3.00"), Decimal("100.10"), Decimal("300.30")),
        ("SKU-B", Decimal("0.50"), Decimal("0.05"), Decimal("0.03")),
    ]
    assert lines[0]["Name"] == "Product SKU-A" and lines[0]["Product2Id"].startswith("01t")

    update = await api.patch("OpportunityLineItem", lines[0]["Id"], Quantity=1, UnitPrice="99.99")
    assert update.status_code == 204
    assert (await api.get("Opportunity", opportunity_id))["Amount"] == Decimal("100.02")

    amount = await api.patch("Opportunity", opportunity_id, Amount="5")
    assert (await _error(amount))[:2] == (400, "FIELD_INTEGRITY_EXCEPTION")

    await api.http.delete(f"{DATA}/sobjects/OpportunityLineItem/{lines[1]['Id']}")
    assert (await api.get("Opportunity", opportunity_id))["Amount"] == Decimal("99.99")


async def test_line_from_product_id_and_line_errors(api: SandboxApi) -> None:
    _, opportunity_id = await api.deal()
    product_id, entry_id = await api.product("SKU-P", "10")
    by_product = await api.create(
        "OpportunityLineItem", OpportunityId=opportunity_id, Product2Id=product_id, Quantity=2
    )
    assert (await api.get("OpportunityLineItem", by_product))["PricebookEntryId"] == entry_id

    inactive_product = await api.create("Product2", Name="Old", ProductCode="OLD")
    inactive_entry = await api.create(
        "PricebookEntry",
        Pricebook2Id=await api.standard_pricebook(),
        Product2Id=inactive_product,
        UnitPrice=1,
    )
    cases: list[tuple[dict[str, Any], tuple[int, str]]] = [
        ({"PricebookEntryId": inactive_entry, "Quantity": 1}, (400, "FIELD_INTEGRITY_EXCEPTION")),
        ({"Quantity": 1}, (400, "REQUIRED_FIELD_MISSING")),
        ({"PricebookEntryId": entry_id, "Quantity": 0}, (400, "FIELD_INTEGRITY_EXCEPTION")),
        (
            {"PricebookEntryId": entry_id, "Quantity": 1, "TotalPrice": 5},
            (400, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ),
    ]
    for fields, expected in cases:
        response = await api.http.post(
            f"{DATA}/sobjects/OpportunityLineItem/",
            json={"OpportunityId": opportunity_id, **fields},
        )
        assert (await _error(response))[:2] == expected, fields


async def test_pricebook_rules(api: SandboxApi) -> None:
    product_id = await api.create("Product2", Name="Gadget", ProductCode="G-1", IsActive=True)
    custom = await api.create("Pricebook2", Name="Partners", IsActive=True)
    no_standard = await api.http.post(
        f"{DATA}/sobjects/PricebookEntry/",
        json={"Pricebook2Id": custom, "Product2Id": product_id, "UnitPrice": 5},
    )
    assert (await _error(no_standard))[:2] == (400, "STANDARD_PRICE_NOT_DEFINED")
    standard = await api.standard_pricebook()
    await api.create(
        "PricebookEntry",
        Pricebook2Id=standard,
        Product2Id=product_id,
        UnitPrice="12.34",
        IsActive=True,
    )
    duplicate = await api.http.post(
        f"{DATA}/sobjects/PricebookEntry/",
        json={"Pricebook2Id": standard, "Product2Id": product_id, "UnitPrice": 5},
    )
    assert (await _error(duplicate))[:2] == (400, "DUPLICATE_VALUE")
    entry = await api.create(
        "PricebookEntry",
        Pricebook2Id=custom,
        Product2Id=product_id,
        UseStandardPrice=True,
        IsActive=True,
    )
    record = await api.get("PricebookEntry", entry)
    assert (record["UnitPrice"], record["ProductCode"]) == (Decimal("12.34"), "G-1")
    standard_delete = await api.http.delete(f"{DATA}/sobjects/Pricebook2/{standard}")
    assert (await _error(standard_delete))[:2] == (400, "DELETE_FAILED")


async def test_deleting_an_account_cascades(api: SandboxApi) -> None:
    account_id, opportunity_id = await api.deal(("SKU-C", "1", "5"))
    assert (await api.http.delete(f"{DATA}/sobjects/Account/{account_id}")).status_code == 204
    assert (await api.http.get(f"{DATA}/sobjects/Opportunity/{opportunity_id}")).status_code == 404
    assert await api.records("SELECT Id FROM OpportunityLineItem") == []


async def test_method_not_allowed(api: SandboxApi) -> None:
    response = await api.http.put(f"{DATA}/sobjects/Account/001000000000000AAA", json={})
    assert (await _error(response))[:2] == (405, "METHOD_NOT_ALLOWED")


async def test_exact_amounts_round_trip(api: SandboxApi) -> None:
    account_id = await api.create("Account", Name="Big")
    response = await api.http.post(
        f"{DATA}/sobjects/Opportunity/",
        content=b'{"Name":"Big","AccountId":"' + account_id.encode() + b'","StageName":'
        b'"Prospecting","CloseDate":"2026-12-01","Amount":1234567890123456.78}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 201
    raw = (await api.http.get(f"{DATA}/sobjects/Opportunity/{response.json()['id']}")).text
    assert '"Amount":1234567890123456.78' in raw
    assert exact_amount(raw) == Decimal("1234567890123456.78")


def exact_amount(raw: str) -> Decimal:
    import json

    value: Decimal = json.loads(raw, parse_float=Decimal)["Amount"]
    return value


async def test_admin_reset_wipes_records_but_keeps_sessions(api: SandboxApi) -> None:
    await api.create("Account", Name="Temp")
    pricebook = await api.standard_pricebook()
    assert (await api.http.post("/admin/reset")).status_code == 200
    assert await api.records("SELECT Id FROM Account") == []
    assert await api.standard_pricebook() == pricebook
    assert (await api.http.get("/admin/health")).json() == {"status": "ok"}


def test_exact_helper_parses_decimals() -> None:
    assert exact(httpx.Response(200, text='{"a": 1.10}')) == {"a": Decimal("1.10")}
