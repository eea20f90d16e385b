"""The audit trail is append-only in the database itself, on both backends; keys are
stored as hashes only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError

from models.operators import AuditOutcome, Role
from models.tables import AuditRow
from store import Store
from store.audit import AuditQuery, AuditTrail
from store.operator_keys import OperatorKeys
from workers.access import keys
from workers.access.operators import add_operator, local_operator


async def test_a_row_of_the_trail_can_be_neither_changed_nor_removed(store: Store) -> None:
    row = await AuditTrail(store).append(
        AuditRow(actor="otto", action="exception.retry", outcome=AuditOutcome.DONE)
    )
    for statement in (
        f"UPDATE audit_log SET actor = 'someone else' WHERE id = {row.id}",
        f"DELETE FROM audit_log WHERE id = {row.id}",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with store.engine.begin() as connection:
                await connection.execute(sa.text(statement))
    [kept] = await AuditTrail(store).page(AuditQuery())
    assert kept.actor == "otto"


async def test_only_the_hash_of_a_key_is_stored(store: Store) -> None:
    issued = await add_operator(store, "alice", Role.OPERATOR, local_operator())
    assert keys.key_id_of(issued.key) == issued.key_id
    [row] = await OperatorKeys(store).active("alice")
    assert row.secret_sha256 == keys.digest(issued.key) and keys.matches(
        issued.key, row.secret_sha256
    )
    async with store.engine.connect() as connection:
        dumped = repr((await connection.execute(sa.text("SELECT * FROM operator_keys"))).all())
        dumped += repr((await connection.execute(sa.text("SELECT * FROM audit_log"))).all())
    secret = issued.key.rsplit("_", 1)[1]
    assert issued.key_id in dumped and secret not in dumped


def test_keys_are_random_and_shaped_to_be_recognised() -> None:
    made = {keys.new_key().key for _ in range(50)}
    assert len(made) == 50
    for key in made:
        assert key.startswith("syncline_") and len(key) == len("syncline_") + 12 + 1 + 43
        assert keys.key_id_of(key) is not None
    assert keys.key_id_of("syncline_0123456789ab_short") is None
    assert keys.key_id_of("eyJhbGciOiJSUzI1NiJ9.e30.sig") is None
