"""State lives in the SQLite file: a rebuilt app on the same file carries on."""

from __future__ import annotations

from pathlib import Path

import httpx

from sandbox.salesforce import build_app
from sandbox.salesforce.server import close_sandbox

from .helpers import BASE_URL, DATA, fetch_token, make_config


def _usage(response: httpx.Response) -> int:
    return int(response.headers["Sforce-Limit-Info"].split("=")[1].split("/")[0])


async def test_records_tokens_usage_and_cursors_survive_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path / "sf.db")
    first = build_app(config)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=first), base_url=BASE_URL
    ) as http:
        token = await fetch_token(http)
        http.headers["Authorization"] = f"Bearer {token}"
        created = await http.patch(
            f"{DATA}/sobjects/Account/External_Id__c/keep-me", json={"Name": "Durable"}
        )
        account_id = created.json()["id"]
        for index in range(3):
            await http.post(f"{DATA}/sobjects/Product2/", json={"Name": f"P{index}"})
        paged = await http.get(
            f"{DATA}/query",
            params={"q": "SELECT Name FROM Product2"},
            headers={"Sforce-Query-Options": "batchSize=2"},
        )
        next_url = paged.json()["nextRecordsUrl"]
        used_before = _usage(paged)
        org_before = (
            await http.get(f"{DATA}/query", params={"q": "SELECT Id FROM Pricebook2"})
        ).json()["records"][0]["Id"]
    await close_sandbox(first.state.sandbox)

    second = build_app(config)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=second), base_url=BASE_URL
    ) as http:
        http.headers["Authorization"] = f"Bearer {token}"  # the old session still works
        record = await http.get(f"{DATA}/sobjects/Account/{account_id}")
        assert record.status_code == 200 and record.json()["Name"] == "Durable"
        assert _usage(record) == used_before + 2
        again = await http.patch(
            f"{DATA}/sobjects/Account/External_Id__c/keep-me", json={"Name": "Still here"}
        )
        assert (again.status_code, again.json()["id"]) == (200, account_id)
        rest = await http.get(next_url)
        assert [r["Name"] for r in rest.json()["records"]] == ["P2"]
        pricebooks = (
            await http.get(f"{DATA}/query", params={"q": "SELECT Id FROM Pricebook2"})
        ).json()["records"]
        assert [p["Id"] for p in pricebooks] == [org_before]
    await close_sandbox(second.state.sandbox)
