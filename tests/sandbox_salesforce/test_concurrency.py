"""Many concurrent clients against uvicorn: serialised writers, no "database is locked"."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from sandbox.salesforce import build_app

from .helpers import DATA, fetch_token, make_config
from .servers import free_socket, serve


async def test_concurrent_mixed_load_has_no_errors(tmp_path: Path) -> None:
    sock = free_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = build_app(make_config(tmp_path / "sf.db", base_url=base_url))
    failures: list[str] = []
    with serve(app, sock):
        limits = httpx.Limits(max_connections=40)
        async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as http:
            http.headers["Authorization"] = f"Bearer {await fetch_token(http)}"

            async def deal(index: int) -> None:
                created = await http.post(f"{DATA}/sobjects/Account/", json={"Name": f"A{index}"})
                account_id = created.json()["id"]
                responses = [
                    created,
                    await http.post(
                        f"{DATA}/sobjects/Opportunity/",
                        json={
                            "Name": f"O{index}",
                            "AccountId": account_id,
                            "StageName": "Prospecting",
                            "CloseDate": "2026-12-01",
                        },
                    ),
                ]
                opportunity_id = responses[-1].json()["id"]
                responses += await asyncio.gather(
                    http.get(f"{DATA}/sobjects/Opportunity/{opportunity_id}"),
                    http.patch(
                        f"{DATA}/sobjects/Opportunity/{opportunity_id}",
                        json={"StageName": "Closed Won"},
                    ),
                    http.get(
                        f"{DATA}/query",
                        params={
                            "q": f"SELECT Id FROM Opportunity WHERE AccountId = '{account_id}'"
                        },
                    ),
                )
                failures.extend(r.text for r in responses if r.status_code >= 300)

            await asyncio.gather(*(deal(i) for i in range(30)))
            count = await http.get(
                f"{DATA}/query", params={"q": "SELECT COUNT() FROM Opportunity WHERE IsWon = true"}
            )
    assert failures == []
    assert count.json()["totalSize"] == 30
