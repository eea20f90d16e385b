"""SQLite persistence: one table of JSON documents per sObject, plus sandbox bookkeeping.

Concurrency design: endpoints run their database work in the threadpool, never on the
event loop. Each pool thread reads through its own connection; in WAL mode readers see
a snapshot and never wait for the writer. Writes go through one dedicated connection
guarded by a process-wide lock and ``BEGIN IMMEDIATE``: writers queue in Python, in
order, instead of racing for SQLite's write lock, which is what produces "database is
locked" under load (a busy timeout only papers over it, and a deferred transaction
upgrading to a write can fail outright). A commit in WAL with ``synchronous=NORMAL`` is
a sub-millisecond append, so one writer is far from the bottleneck at a few hundred
requests per second.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from models.exact_json import dumps, loads
from sandbox.salesforce.schema import OBJECTS, ObjectDef

BUSY_TIMEOUT_SECONDS = 10.0

_BOOKKEEPING_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, issued_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS query_cursors (
    locator TEXT PRIMARY KEY, soql TEXT NOT NULL, ids TEXT NOT NULL,
    batch_size INTEGER NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    record_id TEXT NOT NULL,
    event TEXT NOT NULL DEFAULT 'opportunity.closed_won',
    event_id TEXT NOT NULL,
    body TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_status_code INTEGER,
    last_error TEXT,
    redelivery_of INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS event_bus (
    replay_id INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    event_uuid TEXT NOT NULL,
    schema_id TEXT NOT NULL,
    payload BLOB NOT NULL,
    published_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_event_bus_published ON event_bus (published_at);
CREATE INDEX IF NOT EXISTS ix_event_bus_entity ON event_bus (entity, replay_id);
"""

# After ``_migrate_deliveries``: an older file's table gets its columns first.
_BOOKKEEPING_INDEXES = """
CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_record ON webhook_deliveries (record_id);
CREATE INDEX IF NOT EXISTS ix_webhook_deliveries_status ON webhook_deliveries (status);
"""


def _migrate_deliveries(conn: sqlite3.Connection) -> None:
    """Bring a file written before the outbox carried several kinds of event up to date:
    ``opportunity_id`` became ``record_id`` (CDC rows are about accounts too) and
    ``event`` names the kind (every older row is a Closed Won callout)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(webhook_deliveries)")}
    if "opportunity_id" in columns:
        conn.execute("DROP INDEX IF EXISTS ix_webhook_deliveries_opportunity")
        conn.execute("ALTER TABLE webhook_deliveries RENAME COLUMN opportunity_id TO record_id")
    if "event" not in columns:
        conn.execute(
            "ALTER TABLE webhook_deliveries ADD COLUMN event TEXT NOT NULL "
            "DEFAULT 'opportunity.closed_won'"
        )


def table_name(obj: ObjectDef) -> str:
    return f"sobj_{obj.name}"


def _json_path(field_name: str) -> str:
    return f"json_extract(doc, '$.{field_name}')"


def _lookup_expr(obj: ObjectDef, field_name: str) -> str:
    """The indexed expression for a field; external ids match case-insensitively."""
    f = obj.field(field_name)
    collate = " COLLATE NOCASE" if f is not None and f.external_id else ""
    return _json_path(field_name) + collate


def _record_ddl(obj: ObjectDef) -> str:
    # Names come from the schema module, never from a request, so formatting is safe.
    table = table_name(obj)
    statements = [
        f"CREATE TABLE IF NOT EXISTS {table} "
        "(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, doc TEXT NOT NULL)"
    ]
    for f in obj.indexed_fields:
        unique = "UNIQUE " if f.unique else ""
        statements.append(
            f"CREATE {unique}INDEX IF NOT EXISTS ix_{obj.name}_{f.name} "
            f"ON {table} ({_lookup_expr(obj, f.name)})"
        )
    return ";\n".join(statements) + ";"


class Records:
    """Record documents through one connection, inside a read or a write transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def get(self, obj: ObjectDef, record_id: str) -> dict[str, Any] | None:
        row = self.conn.execute(
            f"SELECT doc FROM {table_name(obj)} WHERE id = ?", (record_id,)
        ).fetchone()
        return None if row is None else dict(loads(row[0]))

    def get_many(self, obj: ObjectDef, record_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(dict.fromkeys(record_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for record_id, doc in self.conn.execute(
                f"SELECT id, doc FROM {table_name(obj)} WHERE id IN ({marks})", chunk
            ):
                found[record_id] = loads(doc)
        return found

    def find(self, obj: ObjectDef, field_name: str, value: str) -> list[dict[str, Any]]:
        """Records whose indexed field equals ``value`` (external ids: any case)."""
        rows = self.conn.execute(
            f"SELECT doc FROM {table_name(obj)} WHERE {_lookup_expr(obj, field_name)} = ? "
            "ORDER BY seq",
            (value,),
        )
        return [loads(doc) for (doc,) in rows]

    def scan(self, obj: ObjectDef) -> Iterator[dict[str, Any]]:
        for (doc,) in self.conn.execute(f"SELECT doc FROM {table_name(obj)} ORDER BY seq"):
            yield loads(doc)

    def insert(self, obj: ObjectDef, doc: dict[str, Any]) -> None:
        self.conn.execute(
            f"INSERT INTO {table_name(obj)} (id, doc) VALUES (?, ?)", (doc["Id"], dumps(doc))
        )

    def replace(self, obj: ObjectDef, doc: dict[str, Any]) -> None:
        self.conn.execute(
            f"UPDATE {table_name(obj)} SET doc = ? WHERE id = ?", (dumps(doc), doc["Id"])
        )

    def delete(self, obj: ObjectDef, record_id: str) -> None:
        self.conn.execute(f"DELETE FROM {table_name(obj)} WHERE id = ?", (record_id,))

    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class Database:
    """Connections to one SQLite file: a reader per thread and a single locked writer."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._write_lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._writer = self._connect()
        self._writer.execute("PRAGMA journal_mode=WAL")
        for statement in _BOOKKEEPING_DDL.split(";"):
            if statement.strip():
                self._writer.execute(statement)
        _migrate_deliveries(self._writer)
        for statement in _BOOKKEEPING_INDEXES.split(";"):
            if statement.strip():
                self._writer.execute(statement)
        for obj in OBJECTS.values():
            for statement in _record_ddl(obj).split(";"):
                if statement.strip():
                    self._writer.execute(statement)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: transactions are explicit (BEGIN / COMMIT) below.
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_SECONDS,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
        conn.execute("PRAGMA synchronous=NORMAL")
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    @contextmanager
    def read(self) -> Iterator[Records]:
        """A consistent snapshot for several statements; never blocks on the writer."""
        conn = self._reader()
        conn.execute("BEGIN")
        try:
            yield Records(conn)
        finally:
            conn.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction at a time; rolled back if the block raises."""
        with self._write_lock:
            self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                self._writer.execute("ROLLBACK")
                raise
            self._writer.execute("COMMIT")

    def close(self) -> None:
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()
