"""Limits that hold per identity: the lock-out after repeated refusals, per address and
per operator; the request rate per operator; and a revoked key refused at once by every
API replica sharing one PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine
from temporalio.testing import WorkflowEnvironment

from models.operators import Role
from store import Store
from tests.api.access import AccessApp, access_app, settings_for
from tests.conftest import fresh_postgres_database
from workers.access.operators import local_operator, revoke_operator

LOCKOUT = 3


@pytest.fixture
async def api(workflow_env: WorkflowEnvironment, tmp_path: Path) -> AsyncIterator[AccessApp]:
    settings = settings_for(auth_lockout_refusals=LOCKOUT, api_operator_rate_limit="1000/minute")
    async with access_app(workflow_env.client, settings, tmp_path / "s.db") as running:
        yield running


async def test_an_address_is_locked_out_after_repeated_refusals(api: AccessApp) -> None:
    key = await api.key("alice", Role.OPERATOR)
    guesser = api.client(address="203.0.113.5")
    for n in range(LOCKOUT):
        guess = {"Authorization": f"Bearer {key[:-6]}{n:06d}"}
        assert (await guesser.get("/api/exceptions", headers=guess)).status_code == 401
    # Locked out: even the right key from that address waits, and learns nothing.
    locked = await guesser.get("/api/exceptions", headers={"Authorization": f"Bearer {key}"})
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert "too many refused attempts by this address" in locked.json()["detail"]
    # Wrong keys for alice's key id from a stranger do not lock alice out elsewhere.
    assert (await api.client(key, address="198.51.100.1").get("/api/exceptions")).status_code == 200
    # A lock-out answer is not audited: a locked-out sender cannot grow the trail.
    refusals = [r for r in await api.audit() if r.outcome == "refused"]
    assert len(refusals) == LOCKOUT and {r.address for r in refusals} == {"203.0.113.5"}


async def test_an_operator_refused_again_and_again_is_locked_out_from_everywhere(
    api: AccessApp,
) -> None:
    vera = await api.key("vera", Role.VIEWER)
    for n in range(LOCKOUT):  # a script asking for what a viewer may not, from 3 places
        caller = api.client(vera, address=f"198.51.100.{n + 10}")
        assert (await caller.post("/api/reconciliations", json={})).status_code == 403
    elsewhere = await api.client(vera, address="192.0.2.200").get("/api/exceptions")
    assert elsewhere.status_code == 429
    assert "too many refused attempts by operator vera" in elsewhere.json()["detail"]
    # Others are not: not another operator, nor the addresses vera used (one 403 each).
    otto = await api.key("otto", Role.OPERATOR)
    assert (await api.client(otto, address="198.51.100.10").get("/api/me")).status_code == 200


async def test_the_request_rate_is_per_operator_whatever_the_address(
    workflow_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    settings = settings_for(api_operator_rate_limit="3/minute", api_rate_limit="1000/minute")
    async with access_app(workflow_env.client, settings, tmp_path / "s.db") as api:
        alice, bob = await api.key("alice", Role.VIEWER), await api.key("bob", Role.VIEWER)
        answers = [await api.client(alice, address=f"10.1.0.{n}").get("/api/me") for n in range(4)]
        assert [a.status_code for a in answers] == [200, 200, 200, 429]
        assert "alice made more than 3/minute requests" in answers[-1].json()["detail"]
        assert int(answers[-1].headers["Retry-After"]) >= 1
        assert (await api.client(bob, address="10.1.0.0").get("/api/me")).status_code == 200


@pytest.fixture
async def shared_postgres() -> AsyncIterator[str]:
    """A fresh PostgreSQL database two API replicas share."""
    async with fresh_postgres_database("syncline_replicas") as url:
        yield url


@pytest.mark.postgres
async def test_a_revoked_key_is_refused_at_once_by_every_replica(
    workflow_env: WorkflowEnvironment, shared_postgres: str
) -> None:
    # Two replicas: each its own app, engine and connection pool, one database.
    stores = [Store(create_async_engine(shared_postgres)) for _ in range(2)]
    settings = settings_for()
    try:
        async with (
            access_app(workflow_env.client, settings, stores[0]) as first,
            access_app(workflow_env.client, settings, stores[1]) as second,
        ):
            admin = await first.key("ada", Role.ADMIN)
            alice, carol = (
                await first.key("alice", Role.OPERATOR),
                await first.key("carol", Role.VIEWER),
            )
            for replica in (first, second):
                for key in (alice, carol):
                    assert (await replica.client(key).get("/api/me")).status_code == 200

            # Through one replica's API: the other refuses alice's very next request.
            revoked = await first.client(admin).post("/api/operators/alice/revoke")
            assert revoked.status_code == 200 and revoked.json()[0]["revoked_by"] == "ada"
            refused = await second.client(alice).get("/api/me")
            assert refused.status_code == 401
            assert refused.json()["detail"] == "the personal key has been revoked"

            # From the command line (straight into the database): both refuse carol at once.
            await revoke_operator(stores[0], "carol", local_operator())
            for replica in (second, first):
                assert (await replica.client(carol).get("/api/me")).status_code == 401
            trail = await second.audit()
            assert [(r.action, r.actor) for r in trail if r.action == "operator.revoke"] == [
                ("operator.revoke", "ada"),
                ("operator.revoke", local_operator().name),
            ]
    finally:
        for store in stores:
            await store.close()
