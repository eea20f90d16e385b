"""What the inbox tests share: deliveries as a CRM sends them, and what Temporal heard.

The deals these tests signal never get a worker: their histories are the record of
every signal the relay sent, in the order the server took them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from models.tables import DeliveryStatus, WebhookDelivery
from store import Store
from store.inbox import Inbox
from workflows.deal import contract as deal


def opportunity_ids(count: int) -> list[str]:
    """Fresh 18-character ids, so every example signals deals of its own."""
    run = uuid.uuid4().hex[:11]
    return [f"006{run}{n:04d}" for n in range(count)]


def won(opportunity_id: str) -> bytes:
    return json.dumps({"event": "opportunity.closed_won", "opportunityId": opportunity_id}).encode()


def changed(opportunity_id: str) -> bytes:
    """Each one a change of its own (its event id), so none is a replay of another."""
    return json.dumps(
        {
            "event": "opportunity.changed",
            "opportunityId": opportunity_id,
            "changedFields": ["Amount"],
            "eventId": uuid.uuid4().hex,
        }
    ).encode()


def changed_together(opportunity_ids: list[str]) -> bytes:
    """A change data capture event naming several opportunities (one bulk update)."""
    return json.dumps(
        {
            "ChangeEventHeader": {
                "entityName": "Opportunity",
                "recordIds": opportunity_ids,
                "changeType": "UPDATE",
                "changedFields": ["Amount"],
                "transactionKey": uuid.uuid4().hex,
            },
            "StageName": "Closed Won",
        }
    ).encode()


def delivery(body: bytes) -> WebhookDelivery:
    return WebhookDelivery(
        source="salesforce", raw_body=body, correlation_id=uuid.uuid4().hex, signature_valid=True
    )


async def store_pending(store: Store, row: WebhookDelivery, order_keys: list[str]) -> None:
    """Into the inbox as the ingress puts a valid delivery there."""
    row.status = DeliveryStatus.PENDING
    table = WebhookDelivery.__table__  # type: ignore[attr-defined]
    await Inbox(store).take({c.name: getattr(row, c.name) for c in table.columns}, order_keys)


async def signals_heard(client: Client, opportunity_ids: Iterable[str]) -> dict[str, list[str]]:
    """Per opportunity, the delivery ids its deal was signalled with, in history order
    (a deal never started: no entry)."""
    heard: dict[str, list[str]] = {}
    for opportunity_id in opportunity_ids:
        handle = client.get_workflow_handle(deal.deal_workflow_id(opportunity_id))
        try:
            events = [event async for event in handle.fetch_history_events()]
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            continue  # never signalled
        heard[opportunity_id] = [
            json.loads(e.workflow_execution_signaled_event_attributes.input.payloads[0].data)[
                "delivery_id"
            ]
            for e in events
            if e.HasField("workflow_execution_signaled_event_attributes")
        ]
    return heard


def in_order(heard: list[str], stored: list[str]) -> bool:
    """Every signal of an earlier-stored delivery precedes every signal of a later one."""
    rank = {delivery_id: n for n, delivery_id in enumerate(stored)}
    ranks = [rank[delivery_id] for delivery_id in heard]
    return ranks == sorted(ranks)
