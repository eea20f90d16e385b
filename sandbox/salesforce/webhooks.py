"""The org's callouts: an outbox row per event, delivered asynchronously with retries.

Three kinds of event share this outbox, its signing and its retries: the Closed Won
Flow callout (``opportunity.closed_won``), the changed-after-won Flow callout
(``opportunity.changed``), both decided in ``flows.py``, and Change Data Capture events
relayed as they would arrive from a CDC channel (``cdc.py``). Each row names the record
it is about (``record_id``) and its kind (``event``: the callout's event name, or the
CDC channel).

The row is written in the same transaction as the record change, so a committed change
always has a delivery on record and an uncommitted one never does (a Flow's async
callout behaves the same way). Delivery runs as an asyncio task after the commit, off
the CRM request's path; pending rows left by a restart are resumed at startup. Rows are
delivered concurrently and retried independently, so a receiver may see them out of
order (CDC receivers order by ``replayId``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import sqlite3
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import httpx

from models.exact_json import dumps, loads
from sandbox.salesforce.ids import normalize_id
from sandbox.salesforce.schema import OPPORTUNITY
from sandbox.salesforce.store import Database
from sandbox.salesforce.values import format_datetime, now_utc, parse_datetime

logger = logging.getLogger(__name__)

EVENT_CLOSED_WON = "opportunity.closed_won"
EVENT_CHANGED = "opportunity.changed"
TIMESTAMP_HEADER = "X-Syncline-Timestamp"
SIGNATURE_HEADER = "X-Syncline-Signature"

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, "<timestamp>." + raw body)>``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


@dataclass(frozen=True)
class Callout:
    """One event to post: the record it is about, its kind, its id and its JSON body."""

    record_id: str
    event: str
    event_id: str
    body: dict[str, Any]


def _instant(salesforce_datetime: str) -> str:
    """A stored ``...+0000`` datetime as the callouts write instants: ISO 8601 with ``Z``."""
    parsed = parse_datetime(salesforce_datetime)
    return parsed.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _amount(opportunity: dict[str, Any]) -> str | None:
    amount = opportunity.get("Amount")
    return None if amount is None else f"{amount:.2f}"


def closed_won_body(org_id: str, opportunity: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": EVENT_CLOSED_WON,
        "organizationId": org_id,
        "opportunityId": opportunity["Id"],
        "accountId": opportunity.get("AccountId"),
        "stageName": opportunity["StageName"],
        "amount": _amount(opportunity),
        "currencyIsoCode": opportunity.get("CurrencyIsoCode"),
        "closedAt": _instant(opportunity["LastModifiedDate"]),
        "eventId": str(uuid.uuid4()),
    }


def changed_body(
    org_id: str,
    opportunity: dict[str, Any],
    previous_stage: str,
    changed_fields: Sequence[str],
) -> dict[str, Any]:
    """A won (or formerly won) opportunity changed: its values after the write."""
    return {
        "event": EVENT_CHANGED,
        "organizationId": org_id,
        "opportunityId": opportunity["Id"],
        "accountId": opportunity.get("AccountId"),
        "stageName": opportunity["StageName"],
        "previousStageName": previous_stage,
        "changedFields": list(changed_fields),
        "amount": _amount(opportunity),
        "currencyIsoCode": opportunity.get("CurrencyIsoCode"),
        "changedAt": _instant(opportunity["LastModifiedDate"]),
        "eventId": str(uuid.uuid4()),
    }


def opportunity_callout(body: dict[str, Any]) -> Callout:
    """The outbox row for a Flow callout body (``closed_won_body``, ``changed_body``)."""
    return Callout(body["opportunityId"], body["event"], body["eventId"], body)


def _insert(
    conn: sqlite3.Connection,
    record_id: str,
    event: str,
    event_id: str,
    body: str,
    redelivery_of: int | None = None,
) -> int:
    now = format_datetime(now_utc())
    cursor = conn.execute(
        "INSERT INTO webhook_deliveries (record_id, event, event_id, body, status,"
        " redelivery_of, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (record_id, event, event_id, body, PENDING, redelivery_of, now, now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _is_opportunity(record_id: str) -> bool:
    canonical = normalize_id(record_id)
    return canonical is not None and canonical.startswith(OPPORTUNITY.key_prefix)


_COLUMNS = (
    "id",
    "record_id",
    "event",
    "event_id",
    "body",
    "status",
    "attempts",
    "last_status_code",
    "last_error",
    "redelivery_of",
    "created_at",
    "updated_at",
)


class WebhookDispatcher:
    def __init__(
        self,
        db: Database,
        url: str | None,
        secret: str | None,
        retry_delays: Sequence[float],
        timeout: float,
        max_concurrency: int = 16,
    ) -> None:
        self._db = db
        self.url = url
        self._secret = secret
        self._retry_delays = tuple(retry_delays)
        self._timeout = timeout
        self._max_concurrency = max_concurrency
        self._tasks: set[asyncio.Task[None]] = set()
        self._backing_off: set[asyncio.Task[Any]] = set()
        self._client: httpx.AsyncClient | None = None
        self._semaphore: asyncio.Semaphore | None = None

    @property
    def enabled(self) -> bool:
        """Callouts are recorded only when there is somewhere to post them."""
        return bool(self.url)

    # --- inside write transactions (worker threads) ------------------------------------

    def enqueue(self, conn: sqlite3.Connection, callouts: Iterable[Callout]) -> list[int]:
        """Outbox rows for these events, in order; none without a webhook URL."""
        if not self.enabled:
            return []
        return [_insert(conn, c.record_id, c.event, c.event_id, dumps(c.body)) for c in callouts]

    def record_redelivery(
        self, conn: sqlite3.Connection, record_id: str, event: str | None = None
    ) -> int | None:
        """A new delivery of the record's last event body (same event id), optionally
        the last of one kind (``opportunity.closed_won``, a CDC channel, ...)."""
        sql = "SELECT id, event, event_id, body FROM webhook_deliveries WHERE record_id = ?"
        params = [record_id]
        if event:
            sql += " AND event = ?"
            params.append(event)
        row = conn.execute(sql + " ORDER BY id DESC LIMIT 1", params).fetchone()
        if row is None:
            return None
        original, kind, event_id, body = row
        return _insert(conn, record_id, kind, event_id, body, redelivery_of=original)

    # --- reads (worker threads) ---------------------------------------------------------

    def list_deliveries(
        self,
        record_id: str | None = None,
        status: str | None = None,
        limit: int = 500,
        event: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first. ``opportunity_id`` is kept in each item for the opportunity
        callouts' readers (it is None for rows about other records)."""
        sql = f"SELECT {', '.join(_COLUMNS)} FROM webhook_deliveries"
        clauses, params = [], []
        for column, value in (("record_id", record_id), ("status", status), ("event", event)):
            if value:
                clauses.append(f"{column} = ?")
                params.append(value)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY id DESC LIMIT ?"
        with self._db.read() as tx:
            rows = tx.conn.execute(sql, (*params, limit)).fetchall()
        deliveries = []
        for row in rows:
            item = dict(zip(_COLUMNS, row, strict=True))
            item["opportunity_id"] = (
                item["record_id"] if _is_opportunity(item["record_id"]) else None
            )
            item["payload"] = loads(item.pop("body"))
            deliveries.append(item)
        return deliveries

    def pending_ids(self) -> list[int]:
        with self._db.read() as tx:
            rows = tx.conn.execute(
                "SELECT id FROM webhook_deliveries WHERE status = ? ORDER BY id", (PENDING,)
            ).fetchall()
        return [int(r[0]) for r in rows]

    # --- delivery (event loop) ----------------------------------------------------------

    def dispatch(self, delivery_ids: Iterable[int]) -> None:
        """Start delivering; returns at once (call on the event loop, after the commit)."""
        for delivery_id in delivery_ids:
            task = asyncio.get_running_loop().create_task(self._run(delivery_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def resume_pending(self) -> None:
        if self.url:
            self.dispatch(await anyio.to_thread.run_sync(self.pending_ids))

    async def drain(self, wait_seconds: float | None = None) -> None:
        """Wait for in-flight deliveries (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=wait_seconds)

    async def aclose(self, grace_seconds: float = 5.0) -> None:
        """Let requests in flight finish; stop deliveries waiting to retry at once."""
        for task in set(self._backing_off):
            task.cancel()
        await self.drain(grace_seconds)
        for task in set(self._tasks):
            task.cancel()  # the row stays pending and is resumed at the next start
        if self._tasks:
            await asyncio.wait(set(self._tasks))
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self, delivery_id: int) -> None:
        # Never let a delivery failure escape: a callout problem must not hurt the CRM.
        try:
            if self._semaphore is None:
                self._semaphore = asyncio.Semaphore(self._max_concurrency)
            async with self._semaphore:
                await self._deliver(delivery_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("webhook delivery %s crashed", delivery_id)

    def _load(self, delivery_id: int) -> tuple[str, int] | None:
        with self._db.read() as tx:
            row = tx.conn.execute(
                "SELECT body, attempts FROM webhook_deliveries WHERE id = ? AND status = ?",
                (delivery_id, PENDING),
            ).fetchone()
        return None if row is None else (str(row[0]), int(row[1]))

    def _save(
        self, delivery_id: int, status: str, attempts: int, code: int | None, error: str | None
    ) -> None:
        with self._db.write() as conn:
            conn.execute(
                "UPDATE webhook_deliveries SET status = ?, attempts = ?, last_status_code = ?, "
                "last_error = ?, updated_at = ? WHERE id = ?",
                (status, attempts, code, error, format_datetime(now_utc()), delivery_id),
            )

    async def _deliver(self, delivery_id: int) -> None:
        loaded = await anyio.to_thread.run_sync(self._load, delivery_id)
        if loaded is None or not self.url:
            return
        body_text, attempts = loaded
        body = body_text.encode()
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        for retry in range(len(self._retry_delays) + 1):
            attempts += 1
            code, error = await self._attempt(body)
            delivered = code is not None and 200 <= code < 300
            retryable = code is None or code >= 500 or code == 429
            last = delivered or not retryable or retry == len(self._retry_delays)
            status = DELIVERED if delivered else (FAILED if last else PENDING)
            await anyio.to_thread.run_sync(self._save, delivery_id, status, attempts, code, error)
            if delivered:
                logger.info("webhook delivery %s delivered (HTTP %s)", delivery_id, code)
                return
            if last:
                logger.error(
                    "webhook delivery %s failed after %s attempts: %s",
                    delivery_id,
                    attempts,
                    error or f"HTTP {code}",
                )
                return
            logger.warning(
                "webhook delivery %s attempt %s failed (%s); retrying",
                delivery_id,
                attempts,
                error or f"HTTP {code}",
            )
            await self._backoff(self._retry_delays[retry])

    async def _backoff(self, seconds: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._backing_off.add(task)
        try:
            await asyncio.sleep(seconds)
        finally:
            self._backing_off.discard(task)

    async def _attempt(self, body: bytes) -> tuple[int | None, str | None]:
        assert self._client is not None and self.url is not None
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp)}
        if self._secret:
            headers[SIGNATURE_HEADER] = sign(self._secret, timestamp, body)
        try:
            response = await self._client.post(self.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            return None, f"{type(exc).__name__}: {exc}"
        except AttributeError as exc:
            # httpcore/anyio can fail this way when the receiver closes the socket while
            # the connection is made (the API restarting): a failed attempt, retried,
            # not a crash that would leave the delivery pending forever.
            return None, f"connection lost while connecting: {exc}"
        return response.status_code, None
