"""Fault injection on the Salesforce sandbox: scope, Salesforce-shaped errors that the
connector maps to the right taxonomy, admin routes, rules from the environment."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.errors import AuthError, RateLimitedError, RejectedError, TransientError
from connectors.salesforce import SalesforceClient
from connectors.salesforce.errors import map_error
from sandbox.faults import FaultRule
from sandbox.salesforce import build_app
from sandbox.salesforce.faults import FAULTS_ENV_VAR
from sandbox.salesforce.server import close_sandbox
from workers.demo import DemoDeal, close_won

from .helpers import (
    BASE_URL,
    CLIENT_ID,
    CLIENT_SECRET,
    DATA,
    SandboxApi,
    fetch_token,
    make_config,
)
from .servers import free_socket, serve

OPPORTUNITY = f"{DATA}/sobjects/Opportunity"


async def set_faults(http: httpx.AsyncClient, *rules: dict[str, Any]) -> list[dict[str, Any]]:
    response = await http.post("/admin/faults", json=list(rules))
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def test_error_fires_times_in_salesforce_shape_then_stops(api: SandboxApi) -> None:
    _, opportunity_id = await api.deal()
    await set_faults(
        api.http,
        {"mode": "error", "status": 503, "times": 2, "method": "GET", "path_prefix": OPPORTUNITY},
    )
    answers = [await api.http.get(f"{OPPORTUNITY}/{opportunity_id}") for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].json() == [
        {
            "message": "Server temporarily unavailable. Please try again later.",
            "errorCode": "SERVER_UNAVAILABLE",
        }
    ]
    assert isinstance(map_error(answers[0]), TransientError)
    assert (await api.http.get("/admin/faults")).json()[0]["times"] == 0
    assert api.sandbox.faults.fired == 2


async def test_a_500_without_a_code_is_an_unknown_exception(api: SandboxApi) -> None:
    await set_faults(api.http, {"mode": "error", "times": 1})
    answer = await api.http.get(f"{DATA}/limits")
    assert answer.status_code == 500
    assert answer.json()[0]["errorCode"] == "UNKNOWN_EXCEPTION"
    error = map_error(answer)
    assert isinstance(error, TransientError) and not isinstance(error, RateLimitedError)


async def test_a_rejection_carries_its_code_and_maps_to_rejected(api: SandboxApi) -> None:
    _, opportunity_id = await api.deal()
    await set_faults(
        api.http,
        {
            "mode": "error",
            "status": 400,
            "code": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "detail": "Order number is locked",
            "times": 1,
            "method": "PATCH",
            "path_prefix": f"{OPPORTUNITY}/{opportunity_id}",
        },
    )
    refused = await api.patch("Opportunity", opportunity_id, Syncline_Order_Number__c="SO-1")
    assert refused.status_code == 400
    assert refused.json() == [
        {"message": "Order number is locked", "errorCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    ]
    error = map_error(refused)
    assert isinstance(error, RejectedError) and error.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    # Nothing was written; the next PATCH goes through.
    assert (await api.get("Opportunity", opportunity_id))["Syncline_Order_Number__c"] is None
    ok = await api.patch("Opportunity", opportunity_id, Syncline_Order_Number__c="SO-1")
    assert ok.status_code == 204


async def test_rate_limit_is_salesforces_403_request_limit_exceeded(api: SandboxApi) -> None:
    await set_faults(api.http, {"mode": "rate_limit", "times": 1})
    answer = await api.query("SELECT Id FROM Account")
    assert answer.status_code == 403
    assert answer.json() == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]
    assert "retry-after" not in answer.headers
    assert isinstance(map_error(answer), RateLimitedError)
    # The admin view shows the rule as it was set.
    assert (await api.http.get("/admin/faults")).json()[0]["mode"] == "rate_limit"
    assert (await api.query("SELECT Id FROM Account")).status_code == 200


async def test_a_plain_403_is_an_auth_failure(api: SandboxApi) -> None:
    await set_faults(api.http, {"mode": "error", "status": 403, "times": 1})
    answer = await api.http.get(f"{DATA}/sobjects")
    assert answer.json()[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    assert isinstance(map_error(answer), AuthError)


async def test_filters_by_method_and_path(api: SandboxApi) -> None:
    _, opportunity_id = await api.deal()
    _, other_id = await api.deal(account_name="Other")
    await set_faults(
        api.http,
        {"mode": "error", "method": "PATCH", "path_prefix": f"{OPPORTUNITY}/{opportunity_id}"},
    )
    await api.get("Opportunity", opportunity_id)  # GET: not this rule
    assert (await api.patch("Opportunity", other_id, Name="x")).status_code == 204
    # The same record through the upsert-by-Id route is another path.
    by_id = await api.http.patch(f"{OPPORTUNITY}/Id/{opportunity_id}", json={"Name": "y"})
    assert by_id.status_code == 200, by_id.text
    assert (await api.patch("Opportunity", opportunity_id, Name="z")).status_code == 500


async def test_admin_and_token_endpoint_are_not_faulted_by_a_catch_all_rule(
    api: SandboxApi,
) -> None:
    await set_faults(api.http, {"mode": "error"})  # everything, forever
    assert (await api.http.get(f"{DATA}/sobjects")).status_code == 500
    assert (await api.http.get("/services/data")).status_code == 500
    assert (await api.http.get("/admin/health")).status_code == 200
    await fetch_token(api.http)  # a client can still log in
    assert (await api.http.delete("/admin/faults")).status_code == 204
    assert (await api.http.get("/admin/faults")).json() == []
    assert (await api.http.get(f"{DATA}/sobjects")).status_code == 200
    assert api.sandbox.faults.fired == 2


async def test_a_rule_aimed_at_the_token_endpoint_faults_it(api: SandboxApi) -> None:
    await set_faults(
        api.http, {"mode": "error", "status": 503, "times": 1, "path_prefix": "/services/oauth2"}
    )
    assert (await api.http.get(f"{DATA}/sobjects")).status_code == 200
    refused = await api.http.post(
        "/services/oauth2/token", data={"grant_type": "client_credentials"}
    )
    assert refused.status_code == 503
    assert isinstance(map_error(refused, token_request=True), TransientError)
    await fetch_token(api.http)


async def test_latency_delays_then_proceeds(api: SandboxApi) -> None:
    await set_faults(api.http, {"mode": "latency", "latency_ms": 150, "times": 1})
    started = time.perf_counter()
    assert (await api.http.get(f"{DATA}/sobjects")).status_code == 200
    assert time.perf_counter() - started >= 0.15


async def test_invalid_rules_are_refused(api: SandboxApi) -> None:
    assert (await api.http.post("/admin/faults", json=[{"mode": "explode"}])).status_code == 422


async def test_rules_from_the_environment_at_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAULTS_ENV_VAR, '[{"mode": "error", "status": 503, "times": 1}]')
    monkeypatch.setenv("SYNCLINE_SANDBOX_ERP_FAULTS", '[{"mode": "rate_limit"}]')
    app = build_app(make_config(tmp_path / "env.db"))
    try:
        assert app.state.sandbox.faults.rules() == [FaultRule(mode="error", status=503, times=1)]
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            http.headers["Authorization"] = f"Bearer {await fetch_token(http)}"
            assert (await http.get(f"{DATA}/sobjects")).status_code == 503
            assert (await http.get(f"{DATA}/sobjects")).status_code == 200
    finally:
        await close_sandbox(app.state.sandbox)
    # Rules in the config win over the environment.
    configured = build_app(make_config(tmp_path / "cfg.db", faults=[]))
    try:
        assert configured.state.sandbox.faults.rules() == []
    finally:
        await close_sandbox(configured.state.sandbox)


async def test_app_from_env_reads_the_crm_fault_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sandbox.salesforce.server import app_from_env

    monkeypatch.setenv("SYNCLINE_SF_DB_PATH", str(tmp_path / "factory.db"))
    monkeypatch.setenv("SYNCLINE_SF_CLIENT_ID", "id")
    monkeypatch.setenv("SYNCLINE_SF_CLIENT_SECRET", "secret")
    monkeypatch.setenv(FAULTS_ENV_VAR, '[{"mode": "latency", "times": 3}]')
    app = app_from_env()
    try:
        assert app.state.config.faults == [FaultRule(mode="latency", times=3)]
    finally:
        await close_sandbox(app.state.sandbox)


@asynccontextmanager
async def _live_deal_whose_next_patch_is_cut(
    tmp_path: Path,
) -> AsyncIterator[tuple[str, SandboxApi, str]]:
    """A sandbox on a real socket (a cut connection needs one) with an opportunity whose
    next ``PATCH`` commits and then loses its connection: its base URL, an API client,
    the opportunity's id."""
    sock = free_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = build_app(make_config(tmp_path / "live.db", base_url=base_url, faults=[]))
    with serve(app, sock):
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as http:
            http.headers["Authorization"] = f"Bearer {await fetch_token(http)}"
            api = SandboxApi(http, app.state.sandbox)
            _, opportunity_id = await api.deal()
            await set_faults(
                http,
                {
                    "mode": "commit_then_drop",
                    "times": 1,
                    "method": "PATCH",
                    "path_prefix": f"{OPPORTUNITY}/{opportunity_id}",
                },
            )
            yield base_url, api, opportunity_id


async def test_commit_then_drop_commits_the_write_and_cuts_the_connection(
    tmp_path: Path,
) -> None:
    async with _live_deal_whose_next_patch_is_cut(tmp_path) as (_, api, opportunity_id):
        with pytest.raises(httpx.RemoteProtocolError):
            await api.patch("Opportunity", opportunity_id, Syncline_Order_Number__c="SO-9")
        record = await api.get("Opportunity", opportunity_id)
        assert record["Syncline_Order_Number__c"] == "SO-9"


async def test_the_demo_closes_a_deal_whose_connection_was_cut_after_the_commit(
    tmp_path: Path,
) -> None:
    """The demo and the benchmarks write to the CRM directly, with no engine to retry:
    a cut connection (here after the write committed) is tried again, not the end of
    the run (a benchmark once died of one)."""
    async with _live_deal_whose_next_patch_is_cut(tmp_path) as (base_url, api, opportunity_id):
        crm = SalesforceClient(base_url, CLIENT_ID, CLIENT_SECRET)
        try:
            await close_won(crm, DemoDeal(opportunity_id))
        finally:
            await crm.aclose()
        assert (await api.http.get("/admin/faults")).json()[0]["times"] == 0, "no cut"
        record = await api.get("Opportunity", opportunity_id)
        assert record["StageName"] == "Closed Won"
