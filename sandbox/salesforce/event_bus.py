"""The org's event bus: change events in Avro, kept 72 hours, replayed by replay id.

A captured change (``cdc.py``) of an entity the bus carries is encoded with its
entity's schema (``avro_schemas.py``) and stored in the same transaction as the record
change, so a committed change is always on the bus and an uncommitted one never is.
The Pub/Sub API (``pubsub.py``) reads it from there.

Replay ids are one sequence for the whole bus (SQLite's AUTOINCREMENT: never reused,
not even after ``/admin/reset``), sent as 8 opaque bytes. A channel is a filter on it:
``/data/ChangeEvents`` carries every entity on the bus, ``/data/AccountChangeEvent``
one; so a channel's replay ids are increasing but not contiguous, as Salesforce warns.

Retention is measured on the bus's own clock, which an admin may move forward
(``POST /admin/event-bus/clock``) to make a subscriber's stored replay id older than
72 hours without waiting three days; events past retention are purged, and
``purged_through`` remembers the newest purged id: a replay id before it would skip
events nobody can deliver any more, which is the error Salesforce answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fastavro import schemaless_writer

from models.salesforce_pubsub import RETENTION_HOURS
from sandbox.salesforce.avro_schemas import (
    HEADER,
    avro_value,
    change_event_schema,
    payload_field_names,
)
from sandbox.salesforce.cdc import CapturedChange, channel
from sandbox.salesforce.schema import find_object
from sandbox.salesforce.store import Database, Records

ALL_CHANGES = "/data/ChangeEvents"
REPLAY_ID_BYTES = 8
_BITMAP_HEADERS = ("changedFields", "nulledFields", "diffFields")
_CLOCK_KEY = "event_bus_clock_offset"
_PURGED_KEY = "event_bus_purged_through"


def encode_replay_id(position: int) -> bytes:
    return position.to_bytes(REPLAY_ID_BYTES, "big")


def decode_replay_id(replay_id: bytes) -> int | None:
    """The position, or None for bytes the bus never issues."""
    if len(replay_id) != REPLAY_ID_BYTES:
        return None
    return int.from_bytes(replay_id, "big")


def bitmap(positions: Sequence[int]) -> list[str]:
    """Field positions as Pub/Sub sends them: one hexadecimal bitmap, bit n for the
    schema's field n (compound fields would add ``"<parent>-0x…"`` entries; the sandbox
    keeps addresses flat, as its relay does)."""
    bits = sum(1 << p for p in set(positions))
    if not bits:
        return []
    digits = format(bits, "X")
    return ["0x" + digits.rjust(len(digits) + len(digits) % 2, "0")]


def avro_record(change: CapturedChange) -> dict[str, Any]:
    """The event as its schema types it: every field, the unchanged ones null."""
    schema = change_event_schema(change.obj)
    header = dict(change.header)
    for name in _BITMAP_HEADERS:
        header[name] = bitmap([schema.positions[f] for f in change.header[name]])
    record: dict[str, Any] = {HEADER: header}
    for name in payload_field_names(change.obj):
        f = change.obj.field(name)
        assert f is not None
        record[name] = avro_value(f, change.values.get(name))
    return record


@dataclass(frozen=True)
class BusEvent:
    position: int
    entity: str
    event_id: str
    schema_id: str
    payload: bytes


class _Wakeup:
    """Wakes subscriptions waiting on the event loop when a worker thread commits."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._event = asyncio.Event()

    def current(self) -> asyncio.Event:
        """Take this before reading the bus; wait on it if the read found nothing."""
        assert self._event is not None, "the bus is not bound to an event loop"
        return self._event

    def notify(self) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self._fire)

    def _fire(self) -> None:
        if self._event is not None:
            self._event.set()
        self._event = asyncio.Event()


class EventBus:
    def __init__(self, db: Database, entities: Iterable[str]) -> None:
        self._db = db
        self.entities = frozenset(entities)
        self.wakeup = _Wakeup()

    # --- inside write transactions (worker threads) ------------------------------------

    def publish(self, conn: sqlite3.Connection, captured: Sequence[CapturedChange]) -> int:
        """Store the events of the entities the bus carries; how many."""
        published = 0
        now = self._now(Records(conn))
        for change in captured:
            if change.obj.name not in self.entities:
                continue
            schema = change_event_schema(change.obj)
            buffer = io.BytesIO()
            schemaless_writer(buffer, schema.parsed, avro_record(change))
            conn.execute(
                "INSERT INTO event_bus (entity, event_uuid, schema_id, payload, published_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (change.obj.name, str(uuid.uuid4()), schema.schema_id, buffer.getvalue(), now),
            )
            published += 1
        return published

    def forget(self, conn: sqlite3.Connection) -> None:
        """``/admin/reset``: no event survives, and no replay id from before stays valid."""
        conn.execute("DELETE FROM event_bus")
        Records(conn).set_meta(_PURGED_KEY, str(self._issued(conn)))

    # --- the clock and retention --------------------------------------------------------

    def _now(self, tx: Records) -> float:
        return time.time() + float(tx.get_meta(_CLOCK_KEY) or 0)

    def advance_clock(self, seconds: float) -> float:
        """Move the bus's clock forward (never back); its offset from real time."""
        with self._db.write() as conn:
            tx = Records(conn)
            offset = float(tx.get_meta(_CLOCK_KEY) or 0) + max(0.0, seconds)
            tx.set_meta(_CLOCK_KEY, repr(offset))
        self.purge()
        return offset

    def purge(self) -> None:
        """Drop what is past retention, remembering the newest id dropped."""
        with self._db.write() as conn:
            tx = Records(conn)
            cutoff = self._now(tx) - RETENTION_HOURS * 3600
            row = conn.execute(
                "SELECT MAX(replay_id) FROM event_bus WHERE published_at < ?", (cutoff,)
            ).fetchone()
            if row[0] is None:
                return
            conn.execute("DELETE FROM event_bus WHERE replay_id <= ?", (row[0],))
            if int(row[0]) > int(tx.get_meta(_PURGED_KEY) or 0):
                tx.set_meta(_PURGED_KEY, str(row[0]))

    # --- reads (worker threads) ---------------------------------------------------------

    @staticmethod
    def _issued(conn: sqlite3.Connection) -> int:
        row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'event_bus'").fetchone()
        return 0 if row is None else int(row[0])

    def positions(self) -> tuple[int, int]:
        """(newest purged id, newest id issued): what a subscription may start after."""
        with self._db.read() as tx:
            return int(tx.get_meta(_PURGED_KEY) or 0), self._issued(tx.conn)

    def read(self, after: int, entities: frozenset[str], limit: int) -> list[BusEvent]:
        marks = ",".join("?" * len(entities))
        with self._db.read() as tx:
            rows = tx.conn.execute(
                "SELECT replay_id, entity, event_uuid, schema_id, payload FROM event_bus"
                f" WHERE replay_id > ? AND entity IN ({marks}) ORDER BY replay_id LIMIT ?",
                (after, *sorted(entities), limit),
            ).fetchall()
        return [BusEvent(int(r[0]), r[1], r[2], r[3], bytes(r[4])) for r in rows]

    def tip(self, after: int, entities: frozenset[str]) -> int:
        """Where a caught-up subscription stands: the newest id issued, unless an event
        of its channel after ``after`` is still to be delivered."""
        marks = ",".join("?" * len(entities))
        with self._db.read() as tx:
            waiting = tx.conn.execute(
                f"SELECT 1 FROM event_bus WHERE replay_id > ? AND entity IN ({marks}) LIMIT 1",
                (after, *sorted(entities)),
            ).fetchone()
            return after if waiting is not None else max(after, self._issued(tx.conn))

    def status(self) -> dict[str, Any]:
        """For ``GET /admin/event-bus``."""
        with self._db.read() as tx:
            stored = tx.conn.execute("SELECT COUNT(*) FROM event_bus").fetchone()[0]
            return {
                "entities": sorted(self.entities),
                "stored": int(stored),
                "purgedThrough": int(tx.get_meta(_PURGED_KEY) or 0),
                "issued": self._issued(tx.conn),
                "clockOffsetSeconds": float(tx.get_meta(_CLOCK_KEY) or 0),
                "retentionHours": RETENTION_HOURS,
            }

    def channel_entities(self, topic: str) -> frozenset[str] | None:
        """The entities a channel carries, or None when the bus has no such channel."""
        if topic == ALL_CHANGES:
            return self.entities or None
        for name in self.entities:
            obj = find_object(name)
            if obj is not None and topic == channel(obj):
                return frozenset({name})
        return None
