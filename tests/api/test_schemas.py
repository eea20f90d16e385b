"""``/api/schemas``: the event contracts as JSON Schema, behind the operator token."""

from __future__ import annotations

from pathlib import Path

import httpx
from temporalio.testing import WorkflowEnvironment

from models.events import EventType
from store import Store
from workers.api import create_app
from workers.settings import Settings


async def test_the_contracts_are_published_per_event_and_version(
    workflow_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = Settings(environment="test", api_token="op-token", webhook_secret="s")
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'syncline.db'}")
    app = create_app(settings, store=store, client=workflow_env.client)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as http,
    ):
        assert (await http.get("/api/schemas")).status_code == 401
        auth = {"Authorization": "Bearer op-token"}
        listed = (await http.get("/api/schemas", headers=auth)).json()
        one = await http.get("/api/schemas/order.accepted/1", headers=auth)
        missing = await http.get("/api/schemas/order.accepted/9", headers=auth)
    await store.close()
    assert {entry["event_type"] for entry in listed} == {str(t) for t in EventType}
    assert one.status_code == 200
    assert one.json()["$id"] == "urn:syncline:event:order.accepted:v1"
    assert "total" in one.json()["required"]
    assert missing.status_code == 404
