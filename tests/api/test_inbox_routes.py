"""Every delivery the ingress takes for a workflow is relayed to it, whichever workflow
that is: a pending delivery always has its place in the inbox (a regression: an account
change event, which names no deal, was stored pending with no inbox entry, so the relay
never saw it)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from models.operators import Role
from store.inbox import Inbox
from tests.api.access import access_app, settings_for
from workers.signatures import signed_headers

ACCOUNT = "001000000000002AAA"


def _account_edited() -> bytes:
    """An account change event from a person's edit of an ERP-owned field."""
    return json.dumps(
        {
            "data": {
                "payload": {
                    "ChangeEventHeader": {
                        "entityName": "Account",
                        "recordIds": [ACCOUNT],
                        "changeType": "UPDATE",
                        "changedFields": ["BillingCity"],
                        "changeOrigin": "com/salesforce/api/soap/59.0;client=SfdcSiteUI",
                        "transactionKey": "tx-1",
                    },
                    "BillingCity": "Lyon",
                },
                "event": {"replayId": 11},
            },
            "channel": "/data/AccountChangeEvent",
        }
    ).encode()


async def test_an_account_change_event_is_relayed(
    workflow_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    async with access_app(workflow_env.client, settings_for(), tmp_path / "s.db") as api:
        viewer = await api.key("vera", Role.VIEWER)
        body = _account_edited()
        headers = {**signed_headers("hook-secret", body), "Content-Type": "application/json"}
        async with api.client() as http:
            answer = await http.post("/webhooks/salesforce", content=body, headers=headers)
        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "pending"
        delivery_id = answer.json()["delivery_id"]
        deadline = time.monotonic() + 20
        async with api.client(viewer) as http:
            while True:
                view = (await http.get(f"/api/deliveries/{delivery_id}")).json()
                if view["status"] != "pending" or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.05)
        # Relayed: signalled, or found to concern no workflow yet (this account has no ERP
        # customer linked); either way no longer waiting in the inbox.
        assert view["status"] in ("accepted", "ignored"), view
        assert (await Inbox(api.store).depth())[0] == 0
