"""``/api/reports/{metric}`` and ``/api/metric-definitions`` behind the operator token."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from store import Store
from tests.reporting.ledger import seed
from workers.api import create_app
from workers.settings import Settings

AUTH = {"Authorization": "Bearer op-token"}
Q1 = {"from": "2026-01-01", "to": "2026-03-31"}


@pytest.fixture
async def api(
    workflow_env: WorkflowEnvironment, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(environment="test", api_token="op-token", webhook_secret="s")
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'syncline.db'}")
    app = create_app(settings, store=store, client=workflow_env.client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        await seed(store)
        yield http
    await store.close()


async def test_a_report_states_its_definition_and_groups_by_currency_first(
    api: httpx.AsyncClient,
) -> None:
    answer = await api.get(
        "/api/reports/arr", params={**Q1, "group_by": "customer,revenue_type"}, headers=AUTH
    )
    assert answer.status_code == 200
    body = answer.json()
    assert (body["metric"], body["definition_version"]) == ("arr", 1)
    assert body["authoritative_event"] == "order.accepted"
    assert body["group_by"] == ["customer", "revenue_type"]
    assert [(r["currency"], r["customer"], r["amount"]) for r in body["rows"]] == [
        ("EUR", "C2", "52800.00"),
        ("USD", "C1", "12000.00"),
    ]
    assert body["unclassified"] == [
        {"currency": "EUR", "amount": "100.00", "count": 1},
        {"currency": "USD", "amount": "1000.00", "count": 1},
    ]


async def test_an_old_version_is_asked_for_by_number(api: httpx.AsyncClient) -> None:
    v1 = (await api.get("/api/reports/bookings", params={**Q1, "version": 1}, headers=AUTH)).json()
    v2 = (await api.get("/api/reports/bookings", params=Q1, headers=AUTH)).json()
    assert (v1["definition_version"], v2["definition_version"]) == (1, 2)
    assert [t["amount"] for t in v1["totals"]] == ["2300.00", "66699.98"]
    assert [t["amount"] for t in v2["totals"]] == ["4500.00", "42699.98"]


async def test_refusals(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/reports/bookings", params=Q1)).status_code == 401
    assert (await api.get("/api/metric-definitions")).status_code == 401
    unknown = await api.get("/api/reports/revenue", params=Q1, headers=AUTH)
    assert unknown.status_code == 404
    assert "bookings" in unknown.json()["detail"]["known_metrics"]
    no_version = await api.get("/api/reports/arr", params={**Q1, "version": 9}, headers=AUTH)
    assert no_version.status_code == 404
    for params in (
        {"from": "2026-13-01", "to": "2026-03-31"},
        {"from": "2026-03-31", "to": "2026-01-01"},
        {**Q1, "group_by": "region"},
        {**Q1, "group_by": "sku"},  # billings are not measured by line
    ):
        bad = await api.get("/api/reports/billings", params=params, headers=AUTH)
        assert bad.status_code == 422, params


async def test_the_definitions_are_listed_with_their_versions(api: httpx.AsyncClient) -> None:
    listed = (await api.get("/api/metric-definitions", headers=AUTH)).json()
    versions = {(d["name"], d["version"]) for d in listed}
    assert {("bookings", 1), ("bookings", 2), ("arr", 1), ("pipeline", 1)} <= versions
    bookings = next(d for d in listed if d["name"] == "bookings")
    assert bookings["visible_event"] == "opportunity.closed_won"
    assert bookings["authoritative_event"] == "order.accepted"
