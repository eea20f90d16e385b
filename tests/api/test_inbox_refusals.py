"""What the inbox relay does when it cannot signal: Temporal unreachable keeps deliveries
pending (and the sender still gets its 202 at once); a delivery refused for good is
failed with an exception that an operator's retry puts back in the inbox, and the
opportunity's later deliveries are not held behind it."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import col
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from models.operators import Role
from models.tables import DeliveryStatus, WebhookDelivery
from store.inbox import Inbox
from tests.api.access import AccessApp, access_app, settings_for
from tests.api.inbox import delivery, opportunity_ids, signals_heard, store_pending, won
from workers.binaries import temporal_test_server
from workers.signatures import signed_headers


async def _post(api: AccessApp, body: bytes) -> dict[str, Any]:
    headers = {**signed_headers("hook-secret", body), "Content-Type": "application/json"}
    async with api.client() as http:
        answer = await http.post("/webhooks/salesforce", content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def _view(api: AccessApp, key: str, delivery_id: str) -> dict[str, Any]:
    async with api.client(key) as http:
        view: dict[str, Any] = (await http.get(f"/api/deliveries/{delivery_id}")).json()
    return view


async def _until(api: AccessApp, key: str, delivery_id: str, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        view = await _view(api, key, delivery_id)
        if view["relay"]["state"] == state or time.monotonic() > deadline:
            assert view["relay"]["state"] == state, view
            return view
        await asyncio.sleep(0.02)


async def test_temporal_gone_still_answers_202_and_keeps_the_delivery_pending(
    tmp_path: Path,
) -> None:
    # A client connected to a server that then stops, as the API's is when Temporal goes
    # down under it.
    server = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=str(temporal_test_server()),
    )
    client = server.client
    await server.shutdown()
    settings = settings_for(inbox_max_backoff_seconds=0.5)
    async with access_app(client, settings, tmp_path / "s.db") as api:
        viewer = await api.key("vera", Role.VIEWER)
        [opportunity_id] = opportunity_ids(1)
        started = time.monotonic()
        accepted = await _post(api, won(opportunity_id))
        # No Temporal call before the answer: the request did not wait out the client's
        # own retries (about ten seconds) against a server that is not there.
        assert time.monotonic() - started < 5
        assert accepted["status"] == "pending"
        assert accepted["workflow_id"] == f"close-won:salesforce:{opportunity_id}"
        deadline = time.monotonic() + 30
        while True:
            view = await _view(api, viewer, accepted["delivery_id"])
            if view["relay"]["attempts"] >= 1 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert view["status"] == "pending" and view["relay"]["state"] == "pending"
        assert view["relay"]["attempts"] >= 1
        assert view["relay"]["last_error"].startswith("temporal: ")
        assert (await Inbox(api.store).depth())[0] == 1


async def test_a_refused_delivery_is_parked_retried_and_does_not_hold_back_the_next(
    workflow_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with access_app(workflow_env.client, settings_for(), tmp_path / "s.db") as api:
        operator = await api.key("otto", Role.OPERATOR)
        [opportunity_id] = opportunity_ids(1)
        # Stored by an earlier version whose parser took a negative amount; this one
        # refuses it: the relay cannot route it, whatever Temporal says.
        stale = delivery(
            json.dumps(
                {
                    "event": "opportunity.closed_won",
                    "opportunityId": opportunity_id,
                    "amount": -1,
                }
            ).encode()
        )
        stale.subject_id = opportunity_id
        await store_pending(api.store, stale, [opportunity_id])
        later = await _post(api, won(opportunity_id))

        failed = await _until(api, operator, stale.id, "failed")
        assert failed["status"] == "failed"
        assert "no longer parses" in failed["status_reason"]
        assert (await _until(api, operator, later["delivery_id"], "signalled"))["status"] == (
            "accepted"
        )
        async with api.client(operator) as http:
            [parked] = (await http.get("/api/exceptions", params={"process": "inbox"})).json()
            assert parked["id"] == f"inbox:{stale.id}" and parked["status"] == "open"
            assert parked["subject_id"] == opportunity_id
            assert "no longer parses" in parked["message"]

            # Retried as it is: refused again, the same exception open again.
            retried = await http.post(f"/api/exceptions/{parked['id']}/retry")
            assert retried.status_code == 202, retried.text
            await _until(api, operator, stale.id, "failed")
            [again] = (await http.get("/api/exceptions", params={"process": "inbox"})).json()
            assert (again["status"], again["retry_count"]) == ("open", 1)

            # Once it can be read (here the body is mended, as a fixed parser would read
            # it), the retry signals it and the exception is resolved.
            async with api.store.sessions()() as session:
                await session.execute(
                    sa.update(WebhookDelivery)
                    .where(col(WebhookDelivery.id) == stale.id)
                    .values(raw_body=won(opportunity_id))
                )
                await session.commit()
            assert (await http.post(f"/api/exceptions/{parked['id']}/retry")).status_code == 202
            done = await _until(api, operator, stale.id, "signalled")
            assert done["status"] == DeliveryStatus.ACCEPTED and done["relay"]["attempts"] == 3
            [resolved] = (await http.get("/api/exceptions", params={"process": "inbox"})).json()
            assert resolved["status"] == "resolved"
            # Nothing to retry now.
            refused = await http.post(f"/api/exceptions/{parked['id']}/retry")
            assert refused.status_code == 409

    heard = await signals_heard(workflow_env.client, [opportunity_id])
    assert heard[opportunity_id] == [later["delivery_id"], stale.id]
