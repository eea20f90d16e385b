"""sObject Collections: many records a call, all or none, through the connector too."""

from __future__ import annotations

import pytest

from connectors.errors import RejectedError
from connectors.salesforce import SalesforceClient

from .helpers import SandboxApi

COLLECTION = "/services/data/v59.0/composite/sobjects"


async def test_a_collection_creates_each_record_and_answers_in_order(api: SandboxApi) -> None:
    answer = await api.http.post(
        COLLECTION,
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "First"},
                {"attributes": {"type": "Account"}},  # no Name: refused alone
                {"attributes": {"type": "Account"}, "Name": "Third"},
            ],
        },
    )
    assert answer.status_code == 200
    first, second, third = answer.json()
    assert first["success"] and third["success"]
    assert not second["success"] and second["errors"][0]["statusCode"]
    names = await api.records("SELECT Name FROM Account ORDER BY Name")
    assert [r["Name"] for r in names] == ["First", "Third"]


async def test_all_or_none_rolls_back_the_whole_call(api: SandboxApi) -> None:
    answer = await api.http.post(
        COLLECTION,
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "Name": "Kept?"},
                {"attributes": {"type": "Account"}},
            ],
        },
    )
    assert [a["success"] for a in answer.json()] == [False, False]
    assert await api.records("SELECT Id FROM Account") == []


async def test_more_than_200_records_a_call_are_refused(api: SandboxApi) -> None:
    records = [{"attributes": {"type": "Account"}, "Name": f"A{n}"} for n in range(201)]
    answer = await api.http.post(COLLECTION, json={"records": records})
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


async def test_the_connector_batches_thousands_of_lines(
    api: SandboxApi, client: SalesforceClient
) -> None:
    _, opportunity_id = await api.deal(("SKU-1", "1", "10.00"))
    _, entry_id = await api.product("SKU-1", "10.00")
    ids = await client.create_many(
        "OpportunityLineItem",
        [
            {"OpportunityId": opportunity_id, "PricebookEntryId": entry_id, "Quantity": 1}
            for _ in range(2_500)
        ],
    )
    assert len(set(ids)) == 2_500
    opportunity = await client.get_opportunity(opportunity_id)
    assert len(opportunity.lines) == 2_501
    with pytest.raises(RejectedError, match="refused"):
        await client.create_many("Account", [{"Name": "ok"}, {}])
