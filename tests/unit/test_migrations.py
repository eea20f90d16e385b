"""The versioned schema: up from empty to exactly the models' tables, on both backends;
an unversioned database is adopted; and every step goes down and up again."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from models.tables import (
    AuditRow,
    DealOrderRow,
    InboxEntry,
    OperatorKeyRow,
    ReconciliationFindingRow,
    ReconciliationRunRow,
    StreamPositionRow,
)
from store import Store
from store.migrate import alembic_config, current_revision, head_revision


def _differences(connection: sa.Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return [d for d in compare_metadata(context, SQLModel.metadata)]


async def test_up_from_empty_is_exactly_the_models(store: Store) -> None:
    async with store.engine.connect() as connection:
        assert await connection.run_sync(current_revision) == head_revision()
        assert await connection.run_sync(_differences) == []


async def test_migrating_twice_changes_nothing(store: Store) -> None:
    await store.migrate()
    async with store.engine.connect() as connection:
        assert await connection.run_sync(current_revision) == head_revision()


async def test_a_database_from_before_versioning_is_adopted(tmp_path: Path) -> None:
    """``create_all`` of the tables that existed then, no version table: stamped with
    the revision they satisfy, then upgraded with the rest."""
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")
    later = {
        table.__tablename__  # type: ignore[attr-defined]
        for table in (
            ReconciliationRunRow,
            ReconciliationFindingRow,
            OperatorKeyRow,
            AuditRow,
            StreamPositionRow,
            InboxEntry,
            DealOrderRow,
        )
    }
    old_tables = [t for t in SQLModel.metadata.sorted_tables if t.name not in later]
    async with store.engine.begin() as connection:
        await connection.run_sync(lambda c: SQLModel.metadata.create_all(c, tables=old_tables))
        # Nor had deliveries their signature digest (revision 0003) yet.
        await connection.execute(sa.text("DROP INDEX ix_webhook_deliveries_signature_digest"))
        await connection.execute(
            sa.text("ALTER TABLE webhook_deliveries DROP COLUMN signature_digest")
        )
        # Nor the relay's columns (revision 0006).
        for column in ("traceparent", "relay_attempts", "relay_error", "relayed_at"):
            await connection.execute(
                sa.text(f"ALTER TABLE webhook_deliveries DROP COLUMN {column}")
            )
        # Nor the ledger its index by type and subject (revision 0007).
        await connection.execute(sa.text("DROP INDEX ix_ledger_events_type_subject"))
        # Nor the ledger who caused an event (revision 0004).
        await connection.execute(sa.text("ALTER TABLE ledger_events DROP COLUMN caused_by"))
        await connection.execute(
            sa.text(
                "INSERT INTO identity_links (object_type, crm_id, erp_id, linked_at) "
                "VALUES ('customer', '001A', '7', '2026-11-01 00:00:00')"
            )
        )
    await store.migrate()
    async with store.engine.connect() as connection:
        assert await connection.run_sync(current_revision) == head_revision()
        assert await connection.run_sync(_differences) == []
        kept = await connection.execute(sa.text("SELECT erp_id FROM identity_links"))
        assert kept.scalar_one() == "7"  # adopted, not recreated
    await store.close()


async def test_every_revision_goes_down_and_up_again(tmp_path: Path) -> None:
    store = Store.from_url(f"sqlite+aiosqlite:///{tmp_path / 'cycle.db'}")
    await store.migrate()

    def cycle(connection: sa.Connection) -> list[str]:
        config = alembic_config(connection)
        command.downgrade(config, "base")
        left = sa.inspect(connection).get_table_names()
        command.upgrade(config, "head")
        return left

    async with store.engine.begin() as connection:
        assert await connection.run_sync(cycle) == ["alembic_version"]
    async with store.engine.connect() as connection:
        assert await connection.run_sync(_differences) == []
    await store.close()
