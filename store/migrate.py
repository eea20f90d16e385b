"""Bringing Syncline's database to the newest schema, with Alembic.

Every process runs this at start-up, and ``syncline migrate`` runs it alone. A database
created before the schema was versioned (by ``create_all``) is stamped with the newest
revision its tables already satisfy, then upgraded like any other.
"""

from __future__ import annotations

import asyncio
import weakref
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).resolve().parent / "migrations"

# The tables each revision adds: how an unversioned database is recognised.
_TABLES_BY_REVISION = (
    ("0001", {"webhook_deliveries", "ledger_events", "identity_links", "exceptions"}),
    ("0002", {"reconciliation_runs", "reconciliation_findings"}),
)
# Serialises migrations of one PostgreSQL database across processes starting together.
_MIGRATION_LOCK = 0x5359_4E43
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def alembic_config(connection: sa.Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def migrate(engine: AsyncEngine) -> None:
    """Bring the database to the newest revision.

    Alembic keeps the running migration in module state, so one process migrates one
    database at a time (an asyncio lock: the migration runs in the event loop's own
    thread, through SQLAlchemy's greenlet bridge). Processes starting together are
    serialised by PostgreSQL's advisory lock; on SQLite the loser of a race gets
    "already exists" or "locked", and trying again finds the winner's work done.
    """
    async with _lock():
        for attempt in range(1, 6):
            try:
                async with engine.begin() as connection:
                    await connection.run_sync(upgrade_to_head)
                return
            except (OperationalError, ProgrammingError, IntegrityError):
                if attempt == 5:
                    raise
                await asyncio.sleep(0.1 * attempt)


def _lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _LOCKS.get(loop)
    if lock is None:
        lock = _LOCKS[loop] = asyncio.Lock()
    return lock


def upgrade_to_head(connection: sa.Connection) -> None:
    """Run on a connection inside a transaction (``engine.begin()``)."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({_MIGRATION_LOCK})"))
    config = alembic_config(connection)
    tables = set(sa.inspect(connection).get_table_names())
    if "alembic_version" not in tables:
        present = _revision_already_present(tables)
        if present is not None:
            command.stamp(config, present)
    command.upgrade(config, "head")


def _revision_already_present(tables: set[str]) -> str | None:
    present = None
    for revision, added in _TABLES_BY_REVISION:
        if not added <= tables:
            break
        present = revision
    return present
