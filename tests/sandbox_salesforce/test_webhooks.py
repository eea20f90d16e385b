"""The Closed Won callout against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from sandbox.salesforce import build_app, sign
from sandbox.salesforce.server import close_sandbox

from .helpers import BASE_URL, DATA, SandboxApi, fetch_token, make_config
from .servers import WebhookReceiver, webhook_receiver

SECRET = "whsec-test-0123456789"


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    with webhook_receiver() as pair:
        yield pair


async def _api(app: FastAPI) -> AsyncIterator[SandboxApi]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        http.headers["Authorization"] = f"Bearer {await fetch_token(http)}"
        yield SandboxApi(http, app.state.sandbox)
    await close_sandbox(app.state.sandbox)


@pytest.fixture
async def hooked(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> AsyncIterator[tuple[SandboxApi, WebhookReceiver]]:
    url = receiver[1]
    app = build_app(make_config(tmp_path / "sf.db", webhook_url=url, webhook_secret=SECRET))
    async for api in _api(app):
        yield api, receiver[0]


def verify(headers: dict[str, str], body: bytes) -> None:
    """What Syncline's receiver checks, written out independently of the sandbox code."""
    timestamp = headers["x-syncline-timestamp"]
    assert timestamp.isdigit() and abs(int(timestamp) - time.time()) < 60
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    assert headers["x-syncline-signature"] == "sha256=" + expected.hexdigest()
    assert headers["content-type"] == "application/json"


async def deliveries(api: SandboxApi, **params: str) -> list[dict[str, Any]]:
    response = await api.http.get("/admin/webhook-deliveries", params=params)
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()["deliveries"]
    return found


async def test_closing_won_posts_a_signed_callout(
    hooked: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = hooked
    account_id, opportunity_id = await api.deal(("SKU-1", "2", "600"))
    assert receiver.requests == []  # nothing before Closed Won
    assert (
        await api.patch("Opportunity", opportunity_id, StageName="Closed Won")
    ).status_code == 204
    await api.sandbox.webhooks.drain(5)

    assert len(receiver.requests) == 1
    request = receiver.requests[0]
    verify(request.headers, request.body)
    body = json.loads(request.body)
    assert set(body) == {
        "event",
        "organizationId",
        "opportunityId",
        "accountId",
        "stageName",
        "amount",
        "currencyIsoCode",
        "closedAt",
        "eventId",
    }
    assert body["event"] == "opportunity.closed_won"
    assert body["organizationId"].startswith("00D") and len(body["organizationId"]) == 18
    assert (body["opportunityId"], body["accountId"]) == (opportunity_id, account_id)
    assert (body["stageName"], body["amount"], body["currencyIsoCode"]) == (
        "Closed Won",
        "1200.00",
        "USD",
    )
    assert body["closedAt"].endswith("Z")
    uuid.UUID(body["eventId"])

    [record] = await deliveries(api)
    assert (record["status"], record["attempts"], record["last_status_code"]) == (
        "delivered",
        1,
        202,
    )
    assert record["payload"] == body

    # Saving again while already Closed Won is not a new transition.
    await api.patch("Opportunity", opportunity_id, Description="signed")
    await api.patch("Opportunity", opportunity_id, StageName="Closed Won")
    await api.sandbox.webhooks.drain(5)
    assert len(receiver.requests) == 1


async def test_insert_and_upsert_as_closed_won_also_call_out(
    hooked: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = hooked
    inserted = await api.create(
        "Opportunity",
        Name="Won at once",
        StageName="Closed Won",
        CloseDate="2026-11-23",
        Amount="99.5",
    )
    upserted = await api.http.patch(
        f"{DATA}/sobjects/Opportunity/External_Id__c/deal-7",
        json={"Name": "Upserted", "StageName": "Closed Won", "CloseDate": "2026-11-23"},
    )
    assert upserted.status_code == 201
    await api.sandbox.webhooks.drain(5)
    bodies = {json.loads(r.body)["opportunityId"]: json.loads(r.body) for r in receiver.requests}
    assert set(bodies) == {inserted, upserted.json()["id"]}
    assert bodies[inserted]["amount"] == "99.50"
    assert bodies[inserted]["accountId"] is None
    for request in receiver.requests:
        verify(request.headers, request.body)


async def test_callout_does_not_block_the_crm_response(
    hooked: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = hooked
    _, opportunity_id = await api.deal()
    receiver.release.clear()  # the receiver holds every request until released
    response = await api.patch("Opportunity", opportunity_id, StageName="Closed Won")
    assert response.status_code == 204
    await asyncio.get_running_loop().run_in_executor(None, receiver.arrived.wait, 5)
    assert (await deliveries(api))[0]["status"] == "pending"
    receiver.release.set()
    await api.sandbox.webhooks.drain(5)
    assert (await deliveries(api))[0]["status"] == "delivered"


async def test_retries_on_5xx_then_delivers(hooked: tuple[SandboxApi, WebhookReceiver]) -> None:
    api, receiver = hooked
    receiver.statuses.extend([503, 500])
    _, opportunity_id = await api.deal()
    await api.patch("Opportunity", opportunity_id, StageName="Closed Won")
    await api.sandbox.webhooks.drain(5)
    assert len(receiver.requests) == 3
    assert len({r.body for r in receiver.requests}) == 1  # same event, re-signed per attempt
    [record] = await deliveries(api, opportunityId=opportunity_id)
    assert (record["status"], record["attempts"], record["last_status_code"]) == (
        "delivered",
        3,
        202,
    )


async def test_4xx_is_not_retried(hooked: tuple[SandboxApi, WebhookReceiver]) -> None:
    api, receiver = hooked
    receiver.statuses.append(401)
    _, opportunity_id = await api.deal()
    await api.patch("Opportunity", opportunity_id, StageName="Closed Won")
    await api.sandbox.webhooks.drain(5)
    [record] = await deliveries(api)
    assert (record["status"], record["attempts"], record["last_status_code"]) == ("failed", 1, 401)


async def test_unreachable_receiver_fails_after_retries_without_hurting_the_crm(
    tmp_path: Path,
) -> None:
    with webhook_receiver() as (_, url):
        pass  # the port is closed again: connection refused from now on
    app = build_app(make_config(tmp_path / "sf.db", webhook_url=url, webhook_secret=SECRET))
    async for api in _api(app):
        _, opportunity_id = await api.deal()
        assert (
            await api.patch("Opportunity", opportunity_id, StageName="Closed Won")
        ).status_code == 204
        await api.sandbox.webhooks.drain(5)
        [record] = await deliveries(api)
        assert (record["status"], record["attempts"]) == ("failed", 4)
        assert "ConnectError" in record["last_error"]
        assert (await api.http.get("/admin/health")).status_code == 200


async def test_redeliver_resends_the_same_event_freshly_signed(
    hooked: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = hooked
    _, opportunity_id = await api.deal()
    await api.patch("Opportunity", opportunity_id, StageName="Closed Won")
    await api.sandbox.webhooks.drain(5)
    response = await api.http.post(f"/admin/webhooks/redeliver/{opportunity_id}")
    assert response.status_code == 202
    await api.sandbox.webhooks.drain(5)
    first, second = receiver.requests
    assert first.body == second.body
    verify(second.headers, second.body)
    latest, original = await deliveries(api)
    assert latest["redelivery_of"] == original["id"]
    assert latest["event_id"] == original["event_id"]
    missing = await api.http.post("/admin/webhooks/redeliver/006000000000000AAA")
    assert missing.status_code == 404


async def test_pending_deliveries_resume_after_a_restart(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> None:
    # The first life of the sandbox points at a dead URL and never retries.
    config = make_config(
        tmp_path / "sf.db",
        webhook_url="http://127.0.0.1:9/none",
        webhook_secret=SECRET,
        webhook_retry_delays=(30.0,),
    )
    app = build_app(config)
    async for api in _api(app):
        _, opportunity_id = await api.deal()
        await api.patch("Opportunity", opportunity_id, StageName="Closed Won")
        for _ in range(500):  # until the first attempt has failed; closing stops the wait
            if (await deliveries(api))[0]["attempts"] == 1:
                break
            await asyncio.sleep(0.01)
        assert (await deliveries(api))[0]["status"] == "pending"
    restarted = build_app(config.model_copy(update={"webhook_url": receiver[1]}))
    await restarted.state.sandbox.webhooks.resume_pending()
    await restarted.state.sandbox.webhooks.drain(5)
    await close_sandbox(restarted.state.sandbox)
    assert [json.loads(r.body)["opportunityId"] for r in receiver[0].requests] == [opportunity_id]


def test_sign_matches_the_documented_format() -> None:
    body = b'{"a":1}'
    expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("k", 1700000000, body) == f"sha256={expected}"
