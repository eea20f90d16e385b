"""The changed-after-won Flow callout (``opportunity.changed``) against a real receiver."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sandbox.salesforce import build_app

from .helpers import DATA, SandboxApi, make_config
from .servers import WebhookReceiver, webhook_receiver
from .test_webhooks import SECRET, _api, deliveries, verify

CHANGED_KEYS = {
    "event",
    "organizationId",
    "opportunityId",
    "accountId",
    "stageName",
    "previousStageName",
    "changedFields",
    "amount",
    "currencyIsoCode",
    "changedAt",
    "eventId",
}


@pytest.fixture
def receiver() -> Iterator[tuple[WebhookReceiver, str]]:
    with webhook_receiver() as pair:
        yield pair


@pytest.fixture
async def hooked(
    tmp_path: Path, receiver: tuple[WebhookReceiver, str]
) -> AsyncIterator[tuple[SandboxApi, WebhookReceiver]]:
    app = build_app(make_config(tmp_path / "sf.db", webhook_url=receiver[1], webhook_secret=SECRET))
    async for api in _api(app):
        yield api, receiver[0]


async def _bodies(api: SandboxApi, receiver: WebhookReceiver) -> list[dict[str, Any]]:
    """Every callout so far in the order of the writes (deliveries run concurrently, so
    the receiver may see them in another order), each received once and signed."""
    await api.sandbox.webhooks.drain(5)
    for request in receiver.requests:
        verify(request.headers, request.body)
    sent = [d["payload"] for d in reversed(await deliveries(api))]
    received = [json.loads(r.body) for r in receiver.requests]
    assert sorted(b["eventId"] for b in received) == sorted(b["eventId"] for b in sent)
    return sent


async def _changed(api: SandboxApi, receiver: WebhookReceiver) -> list[dict[str, Any]]:
    return [b for b in await _bodies(api, receiver) if b["event"] == "opportunity.changed"]


async def _won(api: SandboxApi, *lines: tuple[str, str, str]) -> tuple[str, str]:
    account_id, opportunity_id = await api.deal(*lines)
    response = await api.patch("Opportunity", opportunity_id, StageName="Closed Won")
    assert response.status_code == 204, response.text
    return account_id, opportunity_id


async def _line(api: SandboxApi, opportunity_id: str, code: str, quantity: str) -> str:
    _, entry_id = await api.product(code, "10")
    return await api.create(
        "OpportunityLineItem",
        OpportunityId=opportunity_id,
        PricebookEntryId=entry_id,
        Quantity=quantity,
    )


async def test_moving_a_won_deal_to_another_stage_calls_out(
    hooked: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = hooked
    account_id, opportunity_id = await _won(api, ("SKU-1", "2", "600"))
    await api.patch("Opportunity", opportunity_id, StageName="Negotiation/Review")

    won, changed = await _bodies(api, receiver)
    assert won["event"] == "opportunity.closed_won"
    assert set(changed) == CHANGED_KEYS
    assert changed["event"] == "opportunity.changed"
    assert (changed["opportunityId"], changed["accountId"]) == (opportunity_id, account_id)
    assert changed["organizationId"] == won["organizationId"]
    assert (changed["stageName"], changed["previousStageName"]) == (
        "Negotiation/Review",
        "Closed Won",
    )
    assert changed["changedFields"] == ["StageName"]
    assert (changed["amount"], changed["currencyIsoCode"]) == ("1200.00", "USD")
    assert changed["changedAt"].endswith("Z")
    assert changed["eventId"] != won["eventId"]
    uuid.UUID(changed["eventId"])

    # No longer won: further edits are not news; winning again is a new Closed Won.
    await api.patch("Opportunity", opportunity_id, CloseDate="2027-01-31")
    await api.patch("Opportunity", opportunity_id, StageName="Closed Won")
    events = [b["event"] for b in await _bodies(api, receiver)]
    assert events == ["opportunity.closed_won", "opportunity.changed", "opportunity.closed_won"]


async def test_amount_date_and_currency_changes_after_won(
    hooked: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = hooked
    opportunity_id = await api.create(
        "Opportunity",
        Name="No products",
        StageName="Closed Won",
        CloseDate="2026-11-30",
        Amount="100",
    )
    await api.patch("Opportunity", opportunity_id, Amount="150.5")
    await api.patch("Opportunity", opportunity_id, CloseDate="2026-12-15", CurrencyIsoCode="EUR")

    first, second = await _changed(api, receiver)
    assert (first["changedFields"], first["amount"]) == (["Amount"], "150.50")
    assert (first["stageName"], first["previousStageName"]) == ("Closed Won", "Closed Won")
    assert second["changedFields"] == ["CloseDate", "CurrencyIsoCode"]
    assert second["currencyIsoCode"] == "EUR"


async def test_line_item_insert_update_and_delete_after_won(
    hooked: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = hooked
    _, opportunity_id = await _won(api, ("SKU-1", "1", "10"))
    line_id = await _line(api, opportunity_id, "SKU-2", "2")
    await api.patch("OpportunityLineItem", line_id, Quantity="3")
    await api.patch("OpportunityLineItem", line_id, Description="rush")
    deleted = await api.http.delete(f"{DATA}/sobjects/OpportunityLineItem/{line_id}")
    assert deleted.status_code == 204

    inserted, requantified, described, removed = await _changed(api, receiver)
    assert inserted["changedFields"] == ["Amount", "OpportunityLineItems"]
    assert inserted["amount"] == "30.00"
    assert requantified["changedFields"] == ["Amount", "OpportunityLineItems"]
    assert requantified["amount"] == "40.00"
    assert described["changedFields"] == ["OpportunityLineItems"]
    assert removed["changedFields"] == ["Amount", "OpportunityLineItems"]
    assert removed["amount"] == "10.00"
    assert {b["opportunityId"] for b in (inserted, removed)} == {opportunity_id}


async def test_syncline_write_backs_and_other_fields_do_not_call_out(
    hooked: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = hooked
    _, opportunity_id = await _won(api, ("SKU-1", "2", "5"))
    await api.patch(
        "Opportunity",
        opportunity_id,
        Syncline_Order_Id__c="SO-1",
        Syncline_Order_Number__c="SO1001",
        Syncline_Order_Status__c="pendingFulfillment",
        Syncline_Synced_At__c="2026-11-23T10:00:00Z",
    )
    await api.patch(
        "Opportunity",
        opportunity_id,
        Syncline_Billing_Status__c="invoiced",
        Syncline_Invoiced_Amount__c="10",
        Syncline_Paid_Amount__c="0",
        Syncline_Balance__c="10",
    )
    await api.patch("Opportunity", opportunity_id, Description="notes", Name="Renamed")
    await api.patch("Opportunity", opportunity_id, StageName="Closed Won", CloseDate="2026-12-31")
    # A product rename updates the copies on its lines; that is not a line change.
    [line] = await api.records(
        f"SELECT Product2Id FROM OpportunityLineItem WHERE OpportunityId = '{opportunity_id}'"
    )
    await api.patch("Product2", line["Product2Id"], Name="Renamed product")

    assert [b["event"] for b in await _bodies(api, receiver)] == ["opportunity.closed_won"]


async def test_the_won_transition_and_open_deals_are_not_changes(
    hooked: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = hooked
    _, open_id = await api.deal(("SKU-1", "1", "10"))
    await api.patch("Opportunity", open_id, CloseDate="2027-03-01")
    await _line(api, open_id, "SKU-2", "1")
    await api.patch("Opportunity", open_id, StageName="Closed Lost")

    won_with_edits = await api.create(
        "Opportunity", Name="Edited as won", StageName="Prospecting", CloseDate="2026-11-30"
    )
    await api.patch(
        "Opportunity", won_with_edits, StageName="Closed Won", Amount="70", CloseDate="2026-12-01"
    )
    bodies = await _bodies(api, receiver)
    assert [(b["event"], b["opportunityId"]) for b in bodies] == [
        ("opportunity.closed_won", won_with_edits)
    ]


async def test_deliveries_listing_and_redelivery_cover_both_kinds(
    hooked: tuple[SandboxApi, WebhookReceiver],
) -> None:
    api, receiver = hooked
    _, opportunity_id = await _won(api)
    await api.patch("Opportunity", opportunity_id, StageName="Prospecting")
    await api.sandbox.webhooks.drain(5)

    changed, won = await deliveries(api, opportunityId=opportunity_id)
    assert (changed["event"], won["event"]) == ("opportunity.changed", "opportunity.closed_won")
    assert changed["opportunity_id"] == changed["record_id"] == opportunity_id
    assert changed["status"] == "delivered"
    assert [d["id"] for d in await deliveries(api, event="opportunity.closed_won")] == [won["id"]]

    latest = await api.http.post(f"/admin/webhooks/redeliver/{opportunity_id}")
    assert latest.status_code == 202
    chosen = await api.http.post(
        f"/admin/webhooks/redeliver/{opportunity_id}", params={"event": "opportunity.closed_won"}
    )
    assert chosen.status_code == 202
    await api.sandbox.webhooks.drain(5)
    resent = [json.loads(r.body) for r in receiver.requests[2:]]
    assert sorted((b["event"], b["eventId"]) for b in resent) == [
        ("opportunity.changed", changed["event_id"]),
        ("opportunity.closed_won", won["event_id"]),
    ]
    redeliveries = await deliveries(api, recordId=opportunity_id)
    assert [d["redelivery_of"] for d in redeliveries[:2]] == [won["id"], changed["id"]]
