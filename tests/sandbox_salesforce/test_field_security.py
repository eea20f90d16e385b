"""Field-level security: a hidden field is gone for the API user, a read-only one refuses
writes, and both show in describe as Salesforce shows them; the connector sees the same."""

from __future__ import annotations

from typing import Any

import httpx

from connectors.errors import RejectedError
from connectors.salesforce import SalesforceClient

from .helpers import DATA, SandboxApi


async def _set(http: httpx.AsyncClient, field: str, access: str) -> dict[str, Any]:
    response = await http.put(
        "/admin/field-security", json={"object": "Opportunity", "field": field, "access": access}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _fields(describe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in describe["fields"]}


async def test_a_hidden_field_does_not_exist_for_the_api_user(api: SandboxApi) -> None:
    _, opportunity_id = await api.deal()
    body = await _set(api.http, "Syncline_Order_Status__c", "none")
    assert body["rules"] == [
        {"object": "Opportunity", "field": "Syncline_Order_Status__c", "access": "none"}
    ]

    described = (await api.http.get(f"{DATA}/sobjects/Opportunity/describe")).json()
    assert "Syncline_Order_Status__c" not in _fields(described)
    assert "Syncline_Order_Number__c" in _fields(described)

    record = await api.get("Opportunity", opportunity_id)
    assert "Syncline_Order_Status__c" not in record and "Syncline_Order_Number__c" in record

    query = await api.query("SELECT Id, Syncline_Order_Status__c FROM Opportunity")
    assert query.status_code == 400
    assert query.json()[0]["errorCode"] == "INVALID_FIELD"
    where = await api.query("SELECT Id FROM Opportunity WHERE Syncline_Order_Status__c = 'x'")
    assert where.status_code == 400

    patch = await api.patch("Opportunity", opportunity_id, Syncline_Order_Status__c="Billed")
    assert patch.status_code == 400
    assert patch.json()[0]["errorCode"] == "INVALID_FIELD"

    await api.http.delete("/admin/field-security")
    patch = await api.patch("Opportunity", opportunity_id, Syncline_Order_Status__c="Billed")
    assert patch.status_code == 204


async def test_a_read_only_field_is_not_updateable(api: SandboxApi) -> None:
    _, opportunity_id = await api.deal()
    await _set(api.http, "Syncline_Order_Number__c", "read")

    described = (await api.http.get(f"{DATA}/sobjects/Opportunity/describe")).json()
    field = _fields(described)["Syncline_Order_Number__c"]
    assert (field["createable"], field["updateable"]) == (False, False)
    assert (await api.get("Opportunity", opportunity_id))["Syncline_Order_Number__c"] is None

    patch = await api.patch("Opportunity", opportunity_id, Syncline_Order_Number__c="SO-1")
    assert patch.status_code == 400
    error = patch.json()[0]
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error["fields"] == ["Syncline_Order_Number__c"]

    await _set(api.http, "Syncline_Order_Number__c", "edit")
    assert (await api.http.get("/admin/field-security")).json() == {"rules": []}


async def test_the_connector_describes_what_the_user_sees(
    api: SandboxApi, client: SalesforceClient
) -> None:
    objects = {o["name"]: o for o in (await client.describe_global())["sobjects"]}
    assert objects["Opportunity"]["updateable"] is True
    await _set(api.http, "Syncline_Order_Status__c", "none")
    described = await client.describe("Opportunity")
    assert "Syncline_Order_Status__c" not in _fields(described)
    assert _fields(described)["Amount"]["type"] == "currency"

    _, opportunity_id = await api.deal()
    try:
        await client.update("Opportunity", opportunity_id, {"Syncline_Order_Status__c": "x"})
    except RejectedError as error:
        assert error.code == "INVALID_FIELD"
    else:
        raise AssertionError("a hidden field was written")


async def test_unknown_fields_are_refused_by_the_admin_route(anon_http: httpx.AsyncClient) -> None:
    response = await anon_http.put(
        "/admin/field-security",
        json={"object": "Opportunity", "field": "Nope__c", "access": "none"},
    )
    assert response.status_code == 404
    response = await anon_http.put(
        "/admin/field-security",
        json={"object": "Opportunity", "field": "Amount", "access": "maybe"},
    )
    assert response.status_code == 422
