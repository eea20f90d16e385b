"""Syncline's own database: reachable, and at the newest schema revision."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import make_url

from store.migrate import alembic_config, current_revision, head_revision
from store.store import create_engine
from workers.doctor.context import DoctorContext
from workers.doctor.model import Outcome, failed, passed

_MIGRATE = "run `syncline migrate` (every process also migrates at start-up)"


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        return False


async def check_database(ctx: DoctorContext) -> Outcome:
    url = make_url(ctx.settings.database_url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite":
        # Opening a missing SQLite file would create it: say so instead of leaving one.
        if not url.database or url.database == ":memory:":
            return failed(
                f"{shown} is in memory: each process would see its own, empty database",
                "set SYNCLINE_DATABASE_URL to a file (sqlite+aiosqlite:///path) or PostgreSQL",
            )
        if not await asyncio.to_thread(Path(url.database).is_file):
            return failed(f"no database file at {url.database}", _MIGRATE)
    engine = create_engine(ctx.settings.database_url)
    try:
        async with engine.connect() as connection:
            revision = await connection.run_sync(current_revision)
    finally:
        await engine.dispose()
    head = head_revision()
    if revision is None:
        return failed(f"{shown} is reachable but has no schema (never migrated)", _MIGRATE)
    if revision == head:
        return passed(f"{shown} at the newest schema revision ({head})")
    if not _known(revision):
        return failed(
            f"{shown} is at revision {revision}, which this release does not know: a newer "
            "Syncline migrated it",
            "run the Syncline release that migrated it (or a newer one)",
        )
    return failed(f"{shown} is at revision {revision}, the newest is {head}", _MIGRATE)
