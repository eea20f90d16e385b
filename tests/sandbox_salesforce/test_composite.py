"""The Composite resource: several subrequests, one call, later ones naming earlier
answers; and the connector's opportunity read that uses it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from connectors.errors import NotFoundError
from connectors.salesforce import SalesforceClient

from .helpers import DATA, SandboxApi

COMPOSITE = f"{DATA}/composite"


def _used(response: httpx.Response) -> int:
    return int(response.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])


def _get(url: str, reference_id: str) -> dict[str, Any]:
    return {"method": "GET", "url": f"{DATA}/{url}", "referenceId": reference_id}


async def test_later_subrequests_read_earlier_answers_and_the_call_counts_once(
    api: SandboxApi,
) -> None:
    account_id, opportunity_id = await api.deal(("SKU-1", "2", "10.00"))
    before = _used(await api.http.get(f"{DATA}/limits"))
    answer = await api.http.post(
        COMPOSITE,
        json={
            "compositeRequest": [
                _get(f"sobjects/Opportunity/{opportunity_id}", "opp"),
                _get(
                    "query?q=SELECT+Id+FROM+OpportunityLineItem"
                    "+WHERE+OpportunityId+%3D+%27@{opp.Id}%27",
                    "lines",
                ),
                _get("sobjects/Account/@{opp.AccountId}", "account"),
            ]
        },
    )
    assert answer.status_code == 200
    opp, lines, account = answer.json()["compositeResponse"]
    assert [r["referenceId"] for r in (opp, lines, account)] == ["opp", "lines", "account"]
    assert all(r["httpStatusCode"] == 200 for r in (opp, lines, account))
    assert opp["body"]["Id"] == opportunity_id
    assert lines["body"]["totalSize"] == 1
    assert account["body"]["Id"] == account_id
    # The limits call and the composite call: two, not four.
    assert _used(answer) == before + 1


async def test_a_subrequest_naming_a_failed_one_is_not_run(api: SandboxApi) -> None:
    answer = await api.http.post(
        COMPOSITE,
        json={
            "compositeRequest": [
                _get("sobjects/Opportunity/006000000000000AAA", "opp"),
                _get("sobjects/Account/@{opp.AccountId}", "account"),
                _get("sobjects/Account/describe", "independent"),
            ]
        },
    )
    assert answer.status_code == 200
    opp, account, independent = answer.json()["compositeResponse"]
    assert opp["httpStatusCode"] == 404 and opp["body"][0]["errorCode"] == "NOT_FOUND"
    assert account["httpStatusCode"] == 400
    assert account["body"][0]["errorCode"] == "PROCESSING_HALTED"
    # allOrNone false (the default): what does not depend on the failure still runs.
    assert independent["httpStatusCode"] == 200


async def test_a_null_reference_halts_its_subrequest(api: SandboxApi) -> None:
    opportunity_id = await api.create(
        "Opportunity", Name="No account", StageName="Prospecting", CloseDate="2026-12-01"
    )
    answer = await api.http.post(
        COMPOSITE,
        json={
            "compositeRequest": [
                _get(f"sobjects/Opportunity/{opportunity_id}", "opp"),
                _get("sobjects/Account/@{opp.AccountId}", "account"),
            ]
        },
    )
    _, account = answer.json()["compositeResponse"]
    assert account["body"][0]["errorCode"] == "PROCESSING_HALTED"


async def test_a_body_reference_keeps_its_value_and_a_write_runs(api: SandboxApi) -> None:
    answer = await api.http.post(
        COMPOSITE,
        json={
            "compositeRequest": [
                {
                    "method": "POST",
                    "url": f"{DATA}/sobjects/Account",
                    "referenceId": "newAccount",
                    "body": {"Name": "Made in a composite call"},
                },
                {
                    "method": "POST",
                    "url": f"{DATA}/sobjects/Opportunity",
                    "referenceId": "newOpportunity",
                    "body": {
                        "Name": "Its deal",
                        "StageName": "Prospecting",
                        "CloseDate": "2026-12-01",
                        "AccountId": "@{newAccount.id}",
                    },
                },
            ]
        },
    )
    account, opportunity = answer.json()["compositeResponse"]
    assert account["httpStatusCode"] == opportunity["httpStatusCode"] == 201
    assert account["body"]["success"]
    rows = await api.records(
        f"SELECT AccountId FROM Opportunity WHERE Id = '{opportunity['body']['id']}'"
    )
    assert rows[0]["AccountId"] == account["body"]["id"]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({}, "compositeRequest"),
        ({"compositeRequest": []}, "1 to 25"),
        ({"compositeRequest": [_get("limits", "x")] * 26}, "1 to 25"),
        ({"compositeRequest": [_get("limits", "a-b")]}, "referenceId"),
        ({"compositeRequest": [_get("limits", "x"), _get("limits", "x")]}, "duplicate"),
        (
            {"compositeRequest": [{"method": "GET", "url": "/admin/faults", "referenceId": "x"}]},
            "/services/data/",
        ),
        (
            {
                "compositeRequest": [
                    _get("query?q=SELECT+Id+FROM+Account", f"q{n}") for n in range(6)
                ]
            },
            "at most 5",
        ),
        (
            {
                "allOrNone": True,
                "compositeRequest": [
                    {"method": "PATCH", "url": f"{DATA}/sobjects/Account/001", "referenceId": "x"}
                ],
            },
            "roll",
        ),
    ],
)
async def test_a_malformed_call_is_refused_whole(
    api: SandboxApi, body: dict[str, Any], why: str
) -> None:
    answer = await api.http.post(COMPOSITE, json=body)
    assert answer.status_code == 400
    assert why in answer.json()[0]["message"]


async def test_subrequests_run_as_the_caller_and_no_further(anon_http: httpx.AsyncClient) -> None:
    answer = await anon_http.post(COMPOSITE, json={"compositeRequest": [_get("limits", "x")]})
    assert answer.status_code == 401


async def test_the_connector_reads_a_deal_in_one_call(
    api: SandboxApi, client: SalesforceClient
) -> None:
    account_id, opportunity_id = await api.deal(("SKU-1", "2", "10.00"), ("SKU-2", "1", "5.50"))
    before = _used(await api.http.get(f"{DATA}/limits"))
    opportunity, account = await client.get_opportunity_and_account(opportunity_id)
    after = _used(await api.http.get(f"{DATA}/limits"))
    assert opportunity.id == opportunity_id
    assert [line.product_code for line in opportunity.lines] == ["SKU-1", "SKU-2"]
    assert account is not None and account.id == account_id
    assert after - before == 2  # the read, and the second limits call
    plain = await client.get_opportunity(opportunity_id)
    assert plain == opportunity
    with pytest.raises(NotFoundError):
        await client.get_opportunity_and_account("006000000000000AAA")


async def test_a_fault_on_a_path_fires_inside_a_composite_call(
    api: SandboxApi, client: SalesforceClient
) -> None:
    _, opportunity_id = await api.deal(("SKU-1", "1", "10.00"))
    rule = {
        "mode": "error",
        "status": 503,
        "times": 1,
        "method": "GET",
        "path_prefix": f"{DATA}/sobjects/Opportunity/{opportunity_id}",
    }
    assert (await api.http.post("/admin/faults", json=[rule])).status_code == 200
    answer = await api.http.post(
        COMPOSITE,
        json={"compositeRequest": [_get(f"sobjects/Opportunity/{opportunity_id}", "opp")]},
    )
    [opp] = answer.json()["compositeResponse"]
    assert answer.status_code == 200 and opp["httpStatusCode"] == 503
    # Spent: the connector's next read goes through.
    opportunity, _ = await client.get_opportunity_and_account(opportunity_id)
    assert opportunity.id == opportunity_id


async def test_with_all_or_none_one_failure_fails_every_answer(api: SandboxApi) -> None:
    answer = await api.http.post(
        COMPOSITE,
        json={
            "allOrNone": True,
            "compositeRequest": [
                _get("sobjects/Account/describe", "first"),
                _get("sobjects/Opportunity/006000000000000AAA", "missing"),
                _get("sobjects/Account/describe", "last"),
            ],
        },
    )
    first, missing, last = answer.json()["compositeResponse"]
    assert missing["httpStatusCode"] == 404
    assert first["httpStatusCode"] == last["httpStatusCode"] == 400
    assert first["body"][0]["errorCode"] == last["body"][0]["errorCode"] == "PROCESSING_HALTED"
