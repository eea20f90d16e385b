"""``GET /api/audit``: admins only, newest first, a page at a time, filterable; and the
actor on each exception's history."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from models.operators import Role
from models.tables import ExceptionRow
from tests.api.access import AccessApp, access_app, settings_for
from workflows.renewal.contract import renewal_workflow_id

PARKED = ExceptionRow(
    id=f"{renewal_workflow_id('netsuite', '42')}:abc",
    workflow_id=renewal_workflow_id("netsuite", "42"),
    subject_id="netsuite:subscription:42",
    reason="crm_rejected",
    step="open_renewal",
    message="the CRM refused",
    correlation_id="corr",
)


@pytest.fixture
async def api(workflow_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[AccessApp]:
    async with access_app(workflow_env.client, settings_for(), tmp_path / "s.db") as running:
        await running.store.open_exception(PARKED.model_copy())
        yield running


async def test_the_trail_pages_newest_first_and_filters(api: AccessApp) -> None:
    admin = api.client(await api.key("ada", Role.ADMIN), address="10.9.0.1")
    otto = api.client(await api.key("otto", Role.OPERATOR), address="10.9.0.2")
    for _ in range(3):
        assert (await otto.post(f"/api/exceptions/{PARKED.id}/retry")).status_code == 409
    assert (await otto.get("/api/audit")).status_code == 403
    assert (await api.client("hunter2", address="10.9.0.3").get("/api/me")).status_code == 401

    first = (await admin.get("/api/audit", params={"limit": 3})).json()
    assert [(e["action"], e["status"]) for e in first["entries"]] == [
        ("GET /api/me", 401),  # the stranger
        ("GET /api/audit", 403),  # otto, who may not read the trail
        ("exception.retry", 409),  # otto's last retry (the run is gone)
    ]
    ids = [e["id"] for e in first["entries"]]
    assert ids == sorted(ids, reverse=True) and first["next_before"] == ids[-1]
    rest = (await admin.get("/api/audit", params={"before": ids[-1], "limit": 100})).json()
    assert rest["next_before"] is None
    every = first["entries"] + rest["entries"]
    # 2 keys added, 3 retries, otto's refused look, the stranger's 401: 7, each once.
    assert len({e["id"] for e in every}) == len(every) == 7

    retries = (await admin.get("/api/audit", params={"action": "exception.retry"})).json()
    assert [
        (e["actor"], e["role"], e["outcome"], e["status"], e["target"]) for e in retries["entries"]
    ] == [("otto", "operator", "failed", 409, PARKED.id)] * 3
    refused = (await admin.get("/api/audit", params={"outcome": "refused"})).json()["entries"]
    assert [(e["actor"], e["address"], e["status"]) for e in refused] == [
        (None, "10.9.0.3", 401),
        ("otto", "10.9.0.2", 403),
    ]
    stamp = datetime.fromisoformat(refused[0]["at"])
    assert stamp.utcoffset() == timedelta(0)  # tz-aware UTC
    since = (await admin.get("/api/audit", params={"since": stamp.isoformat()})).json()
    assert [e["status"] for e in since["entries"]] == [401]  # reading the trail is no action
    until = (await admin.get("/api/audit", params={"until": stamp.isoformat()})).json()
    assert len(until["entries"]) == 6
    by_actor = (await admin.get("/api/audit", params={"actor": "otto"})).json()
    assert len(by_actor["entries"]) == 4
    for nonsense in (
        {"outcome": "maybe"},
        {"since": "2026-12-01T00:00:00"},  # naive: which zone?
        {"until": "9999-12-31T23:59:59-23:59"},  # past the end of time in UTC
        {"actor": "ot\x00to"},  # PostgreSQL refuses NUL in text
        {"before": str(2**40)},
    ):
        assert (await admin.get("/api/audit", params=nonsense)).status_code == 422, nonsense


async def test_each_exception_shows_who_acted_on_it(api: AccessApp) -> None:
    otto = api.client(await api.key("otto", Role.OPERATOR))
    await otto.post(f"/api/exceptions/{PARKED.id}/retry")
    viewer = api.client(await api.key("vera", Role.VIEWER))
    assert (await viewer.post(f"/api/exceptions/{PARKED.id}/retry")).status_code == 403
    [shown] = (await viewer.get("/api/exceptions")).json()
    assert [(h["actor"], h["role"], h["action"], h["outcome"]) for h in shown["history"]] == [
        ("otto", "operator", "exception.retry", "failed"),
        ("vera", "viewer", "exception.retry", "refused"),
    ]
