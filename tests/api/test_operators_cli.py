"""``syncline operators add|list|revoke`` as a person runs them, against the database an
API serves from: the key is shown once, works at once, and is refused once revoked; and
``syncline export`` leaves its row in the audit trail."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path

from temporalio.testing import WorkflowEnvironment

from models.operators import Role
from store import Store
from store.audit import AuditQuery, AuditTrail
from tests.api.access import access_app, settings_for


async def _syncline(database: Path, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={
            **os.environ,
            "COLUMNS": "200",
            "SYNCLINE_ENVIRONMENT": "test",
            "SYNCLINE_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
        },
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_a_key_from_the_cli_works_until_it_is_revoked(
    workflow_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    database = tmp_path / "s.db"
    code, added = await _syncline(database, "operators", "add", "alice", "--role", "operator")
    assert code == 0, added
    [key] = re.findall(r"syncline_[0-9a-f]{12}_[A-Za-z0-9]{43}", added)
    code, again = await _syncline(database, "operators", "add", "alice", "--role", "admin")
    assert code == 1 and "already has a live key" in again

    code, listed = await _syncline(database, "operators", "list")
    assert code == 0 and "alice" in listed and "operator" in listed
    assert key.split("_")[1] in listed and key not in listed

    async with access_app(workflow_env.client, settings_for(), database) as api:
        me = await api.client(key).get("/api/me")
        assert me.status_code == 200 and me.json()["role"] == Role.OPERATOR
        code, revoked = await _syncline(database, "operators", "revoke", "alice")
        assert code == 0 and "revoked key" in revoked
        refused = await api.client(key).get("/api/me")
        assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    code, _ = await _syncline(database, "operators", "revoke", "alice")
    assert code == 1  # nothing live is left to revoke

    code, exported = await _syncline(database, "export", "--to", str(tmp_path / "out"))
    assert code == 0, exported
    store = Store.from_url(f"sqlite+aiosqlite:///{database}")
    try:
        trail = await AuditTrail(store).page(AuditQuery())
    finally:
        await store.close()
    assert [(r.action, r.target, r.outcome) for r in reversed(trail) if r.sign_in == "local"] == [
        ("operator.add", "alice", "done"),
        ("operator.revoke", "alice", "done"),
        ("operator.revoke", "alice", "failed"),
        ("export.ledger", str((tmp_path / "out").resolve()), "done"),
    ]
    assert all(r.actor and r.actor.startswith("local:") and r.address for r in trail if r.sign_in)
