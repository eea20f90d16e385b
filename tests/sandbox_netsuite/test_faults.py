"""Fault injection: each mode, counting down, filters, admin routes, env var."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from sandbox.faults import FaultRule, fault_rules_from_env
from sandbox.netsuite import build_app
from sandbox.netsuite.server import config_from_env
from sandbox.netsuite.state import FAULTS_ENV_VAR

from .helpers import RECORD, SUITEQL, create_customer, make_config

SO_PATH = f"{RECORD}/salesOrder"


async def set_faults(client: httpx.AsyncClient, *rules: dict[str, object]) -> None:
    response = await client.post("/admin/faults", json=list(rules))
    assert response.status_code == 200, response.text


async def test_error_fires_times_then_stops(client: httpx.AsyncClient) -> None:
    await set_faults(
        client,
        {
            "mode": "error",
            "status": 503,
            "times": 2,
            "method": "GET",
            "path_prefix": f"{RECORD}/inventoryItem",
        },
    )
    statuses = [(await client.get(f"{RECORD}/inventoryItem/1")).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    failed = await client.post("/admin/faults", json=[{"mode": "error", "times": 1}])
    assert failed.json()[0]["times"] == 1
    body = (await client.get(f"{RECORD}/inventoryItem/1")).json()
    assert body["status"] == 500
    assert body["o:errorDetails"][0]["o:errorCode"] == "UNEXPECTED_ERROR"
    remaining = (await client.get("/admin/faults")).json()
    assert remaining[0]["times"] == 0
    assert (await client.get("/admin/stats")).json()["faults_fired"] == 3


async def test_filters_by_method_and_path(client: httpx.AsyncClient) -> None:
    await set_faults(client, {"mode": "error", "method": "PUT", "path_prefix": SO_PATH})
    assert (await client.get(f"{RECORD}/inventoryItem/1")).status_code == 200
    assert (
        await client.put(f"{RECORD}/customer/eid:X", json={"companyName": "X"})
    ).status_code == 204
    assert (await client.put(f"{SO_PATH}/eid:X", json={})).status_code == 500


async def test_a_rule_can_look_into_the_body_of_one_kind_of_query(
    client: httpx.AsyncClient,
) -> None:
    """One SuiteQL table's reads refused (a role without that record's permission), the
    others answered, and the refused query's body still reaches nothing."""
    await set_faults(
        client,
        {
            "mode": "error",
            "status": 403,
            "times": 1,
            "method": "POST",
            "path_prefix": SUITEQL,
            "body_contains": "FROM customer",
        },
    )
    items = await client.post(SUITEQL, json={"q": "SELECT id FROM item"})
    assert items.status_code == 200 and items.json()["count"] == 8
    refused = await client.post(SUITEQL, json={"q": "SELECT id FROM customer"})
    assert refused.status_code == 403
    again = await client.post(SUITEQL, json={"q": "SELECT id FROM customer"})
    assert again.status_code == 200  # times: 1, spent on the customer query alone


async def test_rate_limit_sends_retry_after(client: httpx.AsyncClient) -> None:
    await set_faults(client, {"mode": "rate_limit", "retry_after": 3, "times": 1})
    response = await client.get(f"{RECORD}/inventoryItem/1")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert response.json()["o:errorDetails"][0]["o:errorCode"] == "CONCURRENCY_LIMIT_EXCEEDED"


async def test_latency_delays_then_proceeds(client: httpx.AsyncClient) -> None:
    await set_faults(client, {"mode": "latency", "latency_ms": 150, "times": 1})
    started = time.perf_counter()
    response = await client.get(f"{RECORD}/inventoryItem/1")
    assert response.status_code == 200
    assert time.perf_counter() - started >= 0.15


async def test_malformed_answers_200_with_the_rule_body(client: httpx.AsyncClient) -> None:
    await set_faults(client, {"mode": "malformed", "body": {"items": [{}]}, "times": 1})
    response = await client.get(f"{RECORD}/inventoryItem/1")
    assert response.status_code == 200 and response.json() == {"items": [{}]}
    assert "items" not in (await client.get(f"{RECORD}/inventoryItem/1")).json()


async def test_admin_is_never_faulted_and_rules_clear(client: httpx.AsyncClient) -> None:
    await set_faults(client, {"mode": "error"})  # everything, forever
    assert (await client.get(f"{RECORD}/inventoryItem/1")).status_code == 500
    assert (await client.get("/admin/stats")).status_code == 200
    assert (await client.delete("/admin/faults")).status_code == 204
    assert (await client.get("/admin/faults")).json() == []
    assert (await client.get(f"{RECORD}/inventoryItem/1")).status_code == 200


async def test_invalid_rules_are_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/admin/faults", json=[{"mode": "explode"}])
    assert response.status_code == 422


def test_rules_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULTS_ENV_VAR, '[{"mode": "rate_limit", "times": 2}]')
    assert fault_rules_from_env(FAULTS_ENV_VAR) == [FaultRule(mode="rate_limit", times=2)]
    assert config_from_env({FAULTS_ENV_VAR: '[{"mode": "error"}]'}).faults == [
        FaultRule(mode="error")
    ]
    app = build_app(make_config(tmp_path / "ns.db", faults=None))
    try:
        assert app.state.sandbox.faults.rules()[0].mode == "rate_limit"
    finally:
        app.state.sandbox.close()


async def test_commit_then_drop_commits_and_cuts_the_connection(
    app: FastAPI, live_client: httpx.AsyncClient
) -> None:
    await set_faults(
        live_client,
        {
            "mode": "commit_then_drop",
            "times": 1,
            "method": "PUT",
            "path_prefix": f"{RECORD}/customer",
        },
    )
    with pytest.raises(httpx.RemoteProtocolError):
        await live_client.put(f"{RECORD}/customer/eid:LOST-1", json={"companyName": "Lost Ltd"})
    record = await live_client.get(f"{RECORD}/customer/eid:LOST-1")
    assert record.status_code == 200
    assert record.json()["companyName"] == "Lost Ltd"
    # Only once: the retry gets its answer and finds the same record.
    assert (await create_customer(live_client, "LOST-1", name="Lost Ltd")) == record.json()["id"]
