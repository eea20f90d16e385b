"""Named operators with roles: viewers read, operators act, admins also audit and manage
keys; a refused request never reaches its handler, and is one row of the audit trail."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from models.operators import Role
from models.tables import ExceptionRow, ExceptionStatus
from tests.api.access import AccessApp, access_app, settings_for
from tests.oidc import IdentityProvider, identity_provider
from workflows.deal.contract import deal_workflow_id

# A parked deal whose run is gone: a retry that reaches the handler is answered 409.
PARKED = ExceptionRow(
    id=f"{deal_workflow_id('006PARKED')}:abc",
    workflow_id=deal_workflow_id("006PARKED"),
    subject_id="006PARKED",
    reason="unknown_sku",
    step="place_order",
    message="no active ERP item for SKU X",
    correlation_id="corr",
)
READS = ["/api/exceptions", "/api/reconciliations", "/api/metric-definitions", "/api/me"]


@pytest.fixture(scope="module")
def idp() -> AsyncIterator[IdentityProvider]:
    with identity_provider() as provider:
        yield provider


@pytest.fixture
async def api(
    workflow_env: WorkflowEnvironment, tmp_path: Path, idp: IdentityProvider
) -> AsyncIterator[AccessApp]:
    settings = settings_for(**idp.settings())
    async with access_app(workflow_env.client, settings, tmp_path / "s.db") as running:
        await running.store.open_exception(PARKED.model_copy())
        yield running


async def test_each_role_may_do_what_it_is_for_and_no_more(api: AccessApp) -> None:
    viewer = api.client(await api.key("vera", Role.VIEWER))
    operator = api.client(await api.key("otto", Role.OPERATOR))
    admin = api.client(await api.key("ada", Role.ADMIN))
    retry = f"/api/exceptions/{PARKED.id}/retry"
    for who in (viewer, operator, admin):
        for route in READS:
            assert (await who.get(route)).status_code == 200, route

    refused = await viewer.post(retry)
    assert refused.status_code == 403
    assert refused.json()["detail"] == "the viewer role may not do this (needs operator)"
    assert (await viewer.post("/api/reconciliations", json={})).status_code == 403
    for who in (viewer, operator):
        assert (await who.get("/api/audit")).status_code == 403
        assert (await who.get("/api/operators")).status_code == 403
    # The viewer's refusals never reached a handler: the exception is as it was, and no
    # handler's own audit row (it records what became of the action) names them.
    row = await api.store.get_exception(PARKED.id)
    assert row is not None and row.retry_count == 0 and row.status == ExceptionStatus.OPEN
    assert {r.status for r in await api.audit() if r.actor == "vera"} == {403}

    # The operator's retry does reach it (the run is gone here: 409), as does an admin's.
    assert (await operator.post(retry)).status_code == 409
    assert (await admin.post(retry)).status_code == 409
    assert (await admin.get("/api/audit")).status_code == 200

    trail = [(r.actor, r.role, r.action, r.outcome, r.status, r.target) for r in await api.audit()]
    assert ("vera", "viewer", "exception.retry", "refused", 403, PARKED.id) in trail
    assert ("vera", "viewer", "reconciliation.run", "refused", 403, None) in trail
    assert ("vera", "viewer", "GET /api/audit", "refused", 403, None) in trail
    assert ("otto", "operator", "exception.retry", "failed", 409, PARKED.id) in trail
    assert ("ada", "admin", "exception.retry", "failed", 409, PARKED.id) in trail
    # Reading is not an action: only the three operator.add rows, refusals and retries.
    assert not [row for row in trail if row[2] == "GET /api/exceptions"]


async def test_the_console_learns_who_signed_in(api: AccessApp, idp: IdentityProvider) -> None:
    key = await api.key("vera", Role.VIEWER)
    me = (await api.client(key).get("/api/me")).json()
    assert me["name"] == "vera" and me["role"] == "viewer" and me["sign_in"] == "key"
    assert me["credential_id"] == key.split("_")[1] and key not in str(me)

    token = idp.token("admin", email="ida@example.com")
    me = (await api.client(token).get("/api/me")).json()
    assert (me["name"], me["role"], me["sign_in"]) == ("ida@example.com", "admin", "oidc")


async def test_an_identity_providers_role_claim_decides_the_role(
    api: AccessApp, idp: IdentityProvider
) -> None:
    async def role_of(token: str) -> tuple[int, str]:
        answer = await api.client(token).get("/api/me")
        return answer.status_code, answer.json().get("role") or answer.json()["detail"]

    assert await role_of(idp.token("viewer")) == (200, "viewer")
    assert await role_of(idp.token(["viewer", "admin", "finance"])) == (200, "admin")
    status, why = await role_of(idp.token(None))
    assert status == 403 and "grants no Syncline role" in why
    status, why = await role_of(idp.token("superuser"))
    assert status == 403 and "grants no Syncline role" in why
    # An operator signed in through the identity provider retries under their own name.
    operator = api.client(idp.token("operator", email="olivia@example.com"))
    assert (await operator.post(f"/api/exceptions/{PARKED.id}/retry")).status_code == 409
    [retry] = [row for row in await api.audit() if row.action == "exception.retry"]
    assert (retry.actor, retry.role, retry.sign_in) == ("olivia@example.com", "operator", "oidc")


async def test_a_nested_role_claim(
    workflow_env: WorkflowEnvironment, tmp_path: Path, idp: IdentityProvider
) -> None:
    settings = settings_for(**idp.settings(), oidc_role_claim="realm_access.roles")
    async with access_app(workflow_env.client, settings, tmp_path / "s.db") as api:
        token = idp.token(None, claims={"realm_access": {"roles": ["offline_access", "operator"]}})
        me = await api.client(token).get("/api/me")
        assert me.status_code == 200 and me.json()["role"] == "operator"


async def test_the_shared_token_is_a_deprecated_admin_and_says_so_once(
    workflow_env: WorkflowEnvironment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    token = "an-old-shared-token-5f2c"
    with caplog.at_level(logging.WARNING, logger="workers.api"):
        async with access_app(
            workflow_env.client, settings_for(api_token=token), tmp_path / "s.db"
        ) as api:
            me = (await api.client(token).get("/api/me")).json()
            assert (me["name"], me["role"], me["sign_in"]) == (
                "shared-token",
                "admin",
                "shared_token",
            )
            assert (await api.client(token).get("/api/audit")).status_code == 200
    [warning] = [r for r in caplog.records if "SYNCLINE_API_TOKEN" in r.getMessage()]
    assert "deprecated" in warning.getMessage() and token not in warning.getMessage()
