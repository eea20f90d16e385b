"""The fields Syncline's mirrors and renewals write, as describe shows them and as they behave."""

from __future__ import annotations

from typing import Any

from .helpers import DATA, SandboxApi


async def _fields(api: SandboxApi, sobject: str) -> dict[str, dict[str, Any]]:
    response = await api.http.get(f"{DATA}/sobjects/{sobject}/describe")
    assert response.status_code == 200
    return {f["name"]: f for f in response.json()["fields"]}


async def test_describe_shows_the_new_fields(api: SandboxApi) -> None:
    account = await _fields(api, "Account")
    legal_name = account["Syncline_Legal_Name__c"]
    assert (legal_name["type"], legal_name["length"]) == ("string", 255)
    assert account["Syncline_Legal_Synced_At__c"]["type"] == "datetime"
    opportunity = await _fields(api, "Opportunity")
    renewal_of = opportunity["Syncline_Renewal_Of__c"]
    assert (renewal_of["type"], renewal_of["referenceTo"], renewal_of["relationshipName"]) == (
        "reference",
        ["Opportunity"],
        "Syncline_Renewal_Of__r",
    )
    assert opportunity["Syncline_Subscription_Id__c"]["length"] == 64


async def test_standard_price_book_takes_entries(api: SandboxApi) -> None:
    [pricebook] = await api.records("SELECT Id, IsStandard, IsActive FROM Pricebook2")
    assert (pricebook["IsStandard"], pricebook["IsActive"]) == (True, True)
    _, entry_id = await api.product("SKU-1", "5")
    assert (await api.get("PricebookEntry", entry_id))["Pricebook2Id"] == pricebook["Id"]


async def test_the_renewal_link_is_checked_and_cleared_with_its_target(api: SandboxApi) -> None:
    _, original_id = await api.deal()
    renewal_id = await api.create(
        "Opportunity",
        Name="Renewal",
        StageName="Prospecting",
        CloseDate="2027-01-31",
        Syncline_Renewal_Of__c=original_id,
    )
    bad = await api.patch("Opportunity", renewal_id, Syncline_Renewal_Of__c="006000000000000AAA")
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "INVALID_CROSS_REFERENCE_KEY"

    assert (await api.http.delete(f"{DATA}/sobjects/Opportunity/{original_id}")).status_code == 204
    assert (await api.get("Opportunity", renewal_id))["Syncline_Renewal_Of__c"] is None
