"""Change Data Capture for accounts, relayed through the callout outbox; off by default."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from sandbox.salesforce import build_app
from sandbox.salesforce.cdc import call_options_client, change_origin, entities_from_env
from sandbox.salesforce.server import close_sandbox

from .helpers import DATA, SandboxApi, make_config
from .servers import WebhookReceiver, webhook_receiver
from .test_webhooks import SECRET, _api, deliveries, verify

CHANNEL = "/data/AccountChangeEvent"
SYNCLINE = {"Sforce-Call-Options": "client=syncline"}
HEADER_KEYS = {
    "entityName",
    "recordIds",
    "changeType",
    "changedFields",
    "nulledFields",
    "diffFields",
    "changeOrigin",
    "transactionKey",
    "sequenceNumber",
    "commitTimestamp",
    "commitUser",
    "commitNumber",
}


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    with webhook_receiver() as pair:
        yield pair


@pytest.fixture
async def captured(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> AsyncIterator[tuple[SandboxApi, WebhookReceiver]]:
    config = make_config(
        tmp_path / "sf.db",
        webhook_url=receiver[1],
        webhook_secret=SECRET,
        cdc_entities=("account",),
    )
    async for api in _api(build_app(config)):
        yield api, receiver[0]


async def _events(api: SandboxApi, receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """The change events so far, oldest first, each delivered once and signed."""
    await api.sandbox.webhooks.drain(5)
    for request in receiver.requests:
        verify(request.headers, request.body)
    events = [d["payload"] for d in reversed(await deliveries(api, event=CHANNEL))]
    received = [json.loads(r.body) for r in receiver.requests]
    assert all(event in received for event in events)
    return events


def _payload(event: dict[str, Any]) -> dict[str, Any]:
    payload: dict[str, Any] = event["data"]["payload"]
    return payload


async def test_account_create_update_delete_relay_change_events(
    captured: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = captured
    before = int(time.time() * 1000)
    created = await api.http.post(
        f"{DATA}/sobjects/Account/", json={"Name": "Acme", "BillingCity": "Lyon"}, headers=SYNCLINE
    )
    account_id = created.json()["id"]
    await api.patch("Account", account_id, BillingCity="Paris", Tax_Id__c="FR-1")
    await api.patch("Account", account_id, Tax_Id__c=None)
    assert (await api.http.delete(f"{DATA}/sobjects/Account/{account_id}")).status_code == 204

    create, update, nulled, delete = await _events(api, receiver)
    for event in (create, update, nulled, delete):
        assert set(event) == {"data", "channel"} and event["channel"] == CHANNEL
        assert set(event["data"]) == {"schema", "payload", "event"}
        header = _payload(event)["ChangeEventHeader"]
        assert set(header) == HEADER_KEYS
        assert (header["entityName"], header["recordIds"]) == ("Account", [account_id])
        assert header["commitTimestamp"] >= before and header["sequenceNumber"] == 1
        assert header["commitUser"].startswith("005")
    assert len({e["data"]["schema"] for e in (create, update, nulled, delete)}) == 1
    assert [e["data"]["event"]["replayId"] for e in (create, update, nulled, delete)] == [
        1,
        2,
        3,
        4,
    ]
    headers = [_payload(e)["ChangeEventHeader"] for e in (create, update, nulled, delete)]
    assert [h["changeType"] for h in headers] == ["CREATE", "UPDATE", "UPDATE", "DELETE"]
    assert len({h["transactionKey"] for h in headers}) == 4
    assert [h["commitNumber"] for h in headers] == sorted({h["commitNumber"] for h in headers})

    # A CREATE carries every field that has a value, as Salesforce sends it.
    assert headers[0]["changedFields"] == []
    assert headers[0]["changeOrigin"] == "com/salesforce/api/rest/59.0;client=syncline"
    created_fields = _payload(create)
    assert (created_fields["Name"], created_fields["BillingCity"]) == ("Acme", "Lyon")
    assert "Id" not in created_fields and "Tax_Id__c" not in created_fields
    assert created_fields["CreatedDate"].endswith("+0000")

    # An UPDATE carries what changed; no Sforce-Call-Options means a plain API origin.
    assert headers[1]["changeOrigin"] == "com/salesforce/api/rest/59.0"
    assert set(headers[1]["changedFields"]) == {"BillingCity", "Tax_Id__c", "LastModifiedDate"}
    updated_fields = _payload(update)
    assert (updated_fields["BillingCity"], updated_fields["Tax_Id__c"]) == ("Paris", "FR-1")
    assert "Name" not in updated_fields
    assert headers[2]["nulledFields"] == ["Tax_Id__c"] and _payload(nulled)["Tax_Id__c"] is None

    assert headers[3]["changedFields"] == [] and set(_payload(delete)) == {"ChangeEventHeader"}


async def test_only_the_captured_entities_and_upserts_count(
    captured: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = captured
    upserted = await api.http.patch(
        f"{DATA}/sobjects/Account/External_Id__c/ext-1",
        json={"Name": "Upserted"},
        headers={"Sforce-Call-Options": "defaultNamespace=x, client=syncline-test"},
    )
    assert upserted.status_code == 201
    account_id = upserted.json()["id"]
    # Opportunities and products are not captured; the account write-back is.
    opportunity_id = await api.create(
        "Opportunity",
        Name="Deal",
        AccountId=account_id,
        StageName="Prospecting",
        CloseDate="2026-12-31",
    )
    await api.patch("Opportunity", opportunity_id, Amount="5")
    await api.product("SKU-1", "1")
    await api.http.patch(
        f"{DATA}/sobjects/Account/{account_id}",
        json={"Syncline_Legal_Name__c": "Upserted SAS"},
        headers=SYNCLINE,
    )

    create, update = await _events(api, receiver)
    assert _payload(create)["ChangeEventHeader"]["changeOrigin"].endswith(";client=syncline-test")
    header = _payload(update)["ChangeEventHeader"]
    assert header["changeOrigin"] == "com/salesforce/api/rest/59.0;client=syncline"
    assert "Syncline_Legal_Name__c" in header["changedFields"]
    assert {d["event"] for d in await deliveries(api)} == {CHANNEL}
    assert {d["record_id"] for d in await deliveries(api)} == {account_id}
    assert {d["opportunity_id"] for d in await deliveries(api)} == {None}


async def test_deleting_an_account_with_its_deals_relays_the_account_delete_only(
    captured: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = captured
    account_id, _ = await api.deal(("SKU-1", "1", "1"))
    await api.http.delete(f"{DATA}/sobjects/Account/{account_id}")
    create, delete = await _events(api, receiver)
    assert _payload(create)["ChangeEventHeader"]["changeType"] == "CREATE"
    assert _payload(delete)["ChangeEventHeader"]["changeType"] == "DELETE"
    redelivered = await api.http.post(f"/admin/webhooks/redeliver/{account_id}")
    assert redelivered.status_code == 202
    await api.sandbox.webhooks.drain(5)
    assert json.loads(receiver.requests[-1].body) == delete


async def test_off_by_default(tmp_path: Path, receiver: tuple[WebhookReceiver, str]) -> None:
    config = make_config(tmp_path / "sf.db", webhook_url=receiver[1], webhook_secret=SECRET)
    assert config.cdc_entities == ()
    async for api in _api(build_app(config)):
        account_id = await api.create("Account", Name="Quiet")
        await api.patch("Account", account_id, BillingCity="Lyon")
        await api.sandbox.webhooks.drain(5)
        assert await deliveries(api) == []
    assert receiver[0].requests == []


def test_config_names_known_entities(tmp_path: Path) -> None:
    config = make_config(tmp_path / "sf.db", cdc_entities=("account", "OPPORTUNITY", "Account"))
    assert config.cdc_entities == ("Account", "Opportunity")
    with pytest.raises(ValidationError, match="Lead"):
        make_config(tmp_path / "sf.db", cdc_entities=("Lead",))
    assert entities_from_env({"SYNCLINE_SANDBOX_CDC": "Account, opportunity"}) == (
        "Account",
        "Opportunity",
    )
    assert entities_from_env({}) == ()


def test_change_origin_from_call_options() -> None:
    assert call_options_client("client=syncline") == "syncline"
    assert call_options_client("defaultNamespace=ns, client=app/1.0") == "app/1.0"
    assert call_options_client("defaultNamespace=ns") is None
    assert call_options_client(None) is None
    assert change_origin("syncline") == "com/salesforce/api/rest/59.0;client=syncline"
    assert change_origin(None) == "com/salesforce/api/rest/59.0"


async def test_an_older_outbox_table_is_migrated(tmp_path: Path) -> None:
    """A database written before the outbox named its rows' kind keeps its deliveries."""
    path = tmp_path / "sf.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            """
            CREATE TABLE webhook_deliveries (
                id INTEGER PRIMARY KEY AUTOINCREMENT, opportunity_id TEXT NOT NULL,
                event_id TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0, last_status_code INTEGER,
                last_error TEXT, redelivery_of INTEGER,
                created_at TEXT NOT NULL, updated_at TEXT NOT NULL);
            CREATE INDEX ix_webhook_deliveries_opportunity ON webhook_deliveries (opportunity_id);
            INSERT INTO webhook_deliveries (opportunity_id, event_id, body, status,
                created_at, updated_at)
            VALUES ('0065g00000AbCdEAAV', 'e-1', '{"event":"opportunity.closed_won"}',
                'delivered', '2026-01-01T00:00:00.000+0000', '2026-01-01T00:00:00.000+0000');
            """
        )
    conn.close()
    app = build_app(make_config(path))
    try:
        [row] = app.state.sandbox.webhooks.list_deliveries()
        assert (row["record_id"], row["opportunity_id"], row["event"]) == (
            "0065g00000AbCdEAAV",
            "0065g00000AbCdEAAV",
            "opportunity.closed_won",
        )
    finally:
        await close_sandbox(app.state.sandbox)
