"""The sandbox org as one object: storage, rules, tokens, queries and callouts.

Methods without ``async`` block on SQLite and are called from worker threads; the
HTTP layer (``server.py``) only translates requests and responses.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from sandbox.faults import FaultRule
from sandbox.salesforce.auth import TokenService
from sandbox.salesforce.cdc import ChangeDataCapture
from sandbox.salesforce.errors import SalesforceApiError, bad_request, not_found
from sandbox.salesforce.event_bus import EventBus
from sandbox.salesforce.faults import SalesforceFaultInjector
from sandbox.salesforce.field_security import FieldSecurity
from sandbox.salesforce.flows import flow_callouts
from sandbox.salesforce.ids import locator, new_id
from sandbox.salesforce.jwt_bearer import ConnectedApp
from sandbox.salesforce.org import Org, OrgIdentity, WriteResult, render
from sandbox.salesforce.query import compile_query
from sandbox.salesforce.schema import (
    API_VERSION,
    OBJECTS,
    PRICEBOOK2,
    USER_KEY_PREFIX,
    ObjectDef,
)
from sandbox.salesforce.store import Database, Records, table_name
from sandbox.salesforce.usage import UsageMeter
from sandbox.salesforce.values import format_datetime, now_utc
from sandbox.salesforce.webhooks import WebhookDispatcher

MAX_BATCH_SIZE = 2000
CURSOR_TTL_SECONDS = 15 * 60  # Salesforce drops idle query cursors after 15 minutes
_LOCATOR_RE = re.compile(r"(01g[A-Za-z0-9]{15})-(\d+)")

Doc = dict[str, Any]


def _identity(tx: Records) -> OrgIdentity:
    """The org's fixed ids, created on first start and kept for the life of the file."""
    values = {}
    for key, prefix in (
        ("org_id", "00D"),
        ("user_id", USER_KEY_PREFIX),
        ("standard_pricebook_id", PRICEBOOK2.key_prefix),
    ):
        value = tx.get_meta(key)
        if value is None:
            value = new_id(prefix)
            tx.set_meta(key, value)
        values[key] = value
    return OrgIdentity(**values)


def _seed(tx: Records, identity: OrgIdentity) -> None:
    if tx.get(PRICEBOOK2, identity.standard_pricebook_id) is not None:
        return
    now = format_datetime(now_utc())
    doc: Doc = {f.name: f.default for f in PRICEBOOK2.fields}
    doc.update(
        Id=identity.standard_pricebook_id,
        Name="Standard Price Book",
        IsActive=True,
        IsStandard=True,
        CreatedDate=now,
        LastModifiedDate=now,
        SystemModstamp=now,
        CreatedById=identity.user_id,
        LastModifiedById=identity.user_id,
    )
    tx.insert(PRICEBOOK2, doc)


class SalesforceSandbox:
    def __init__(
        self,
        db: Database,
        client_id: str,
        client_secret: str,
        webhook_url: str | None,
        webhook_secret: str | None,
        retry_delays: tuple[float, ...],
        webhook_timeout: float,
        min_batch_size: int,
        api_limit: int,
        fault_rules: Sequence[FaultRule] = (),
        cdc_entities: Sequence[str] = (),
        *,
        usernames: Sequence[str] = (),
        own_url: str = "",
        event_bus_entities: Sequence[str] = (),
    ) -> None:
        self.db = db
        # In the process, like the API usage counter: one injector per app.
        self.faults = SalesforceFaultInjector(fault_rules)
        self.field_security = FieldSecurity()
        with db.write() as conn:
            tx = Records(conn)
            self.identity = _identity(tx)
            _seed(tx, self.identity)
        self.org = Org(self.identity)
        self.tokens = TokenService(db, client_id, client_secret, self.identity.org_id)
        # The JWT bearer grant: the same connected app, signing instead of a secret.
        self.connected_app = ConnectedApp(db, client_id, tuple(usernames), own_url)
        self.usage = UsageMeter(db, api_limit)
        self.webhooks = WebhookDispatcher(
            db, webhook_url, webhook_secret, retry_delays, webhook_timeout
        )
        self.cdc = ChangeDataCapture(
            cdc_entities, self.identity.user_id, published=event_bus_entities
        )
        self.bus = EventBus(db, self.cdc.published)
        self.min_batch_size = min_batch_size

    # --- writes -------------------------------------------------------------------------

    def _write(
        self, op: Callable[[Records], WriteResult], client: str | None = None
    ) -> tuple[WriteResult, list[int]]:
        """Run ``op`` in one transaction, with its callout outbox rows in the same commit.

        ``client`` is the ``client=`` of the request's ``Sforce-Call-Options`` header (the
        write methods below pass it on): change events name it in ``changeOrigin``.
        """
        with self.db.write() as conn:
            tx = Records(conn)
            result = op(tx)
            deliveries = self._enqueue(tx, result, client)
        self.bus.wakeup.notify()
        return result, deliveries

    def _enqueue(self, tx: Records, result: WriteResult, client: str | None) -> list[int]:
        """The statement's change events onto the bus, and its callouts into the outbox,
        in the statement's own transaction."""
        captured = self.cdc.capture(tx, result.changes, client)
        self.bus.publish(tx.conn, captured)
        if not self.webhooks.enabled:
            return []  # nowhere to post: no rows, and relay replay ids are not consumed
        callouts = flow_callouts(tx, self.identity.org_id, result)
        callouts += self.cdc.callouts(tx, captured)
        return self.webhooks.enqueue(tx.conn, callouts)

    def create(
        self, obj: ObjectDef, body: Any, client: str | None = None
    ) -> tuple[WriteResult, list[int]]:
        self.field_security.check_write(obj, body)
        return self._write(lambda tx: self.org.create(tx, obj, body), client)

    def create_all_or_none(
        self, records: list[tuple[ObjectDef, Any]], client: str | None = None
    ) -> tuple[list[WriteResult], list[int]]:
        """sObject Collections with ``allOrNone``: every record in one transaction, so
        the first refusal rolls all of them back."""
        for obj, body in records:
            self.field_security.check_write(obj, body)
        with self.db.write() as conn:
            tx = Records(conn)
            results = self.org.create_many(tx, records)
            deliveries = [d for result in results for d in self._enqueue(tx, result, client)]
        self.bus.wakeup.notify()
        return results, deliveries

    def update(
        self, obj: ObjectDef, record_id: str, body: Any, client: str | None = None
    ) -> tuple[WriteResult, list[int]]:
        self.field_security.check_write(obj, body)
        return self._write(lambda tx: self.org.update(tx, obj, record_id, body), client)

    def upsert(
        self, obj: ObjectDef, field_name: str, value: str, body: Any, client: str | None = None
    ) -> tuple[WriteResult, list[int]]:
        self._readable_external(obj, field_name)
        self.field_security.check_write(obj, body)
        return self._write(lambda tx: self.org.upsert(tx, obj, field_name, value, body), client)

    def delete(self, obj: ObjectDef, record_id: str, client: str | None = None) -> list[int]:
        return self._write(lambda tx: self.org.delete(tx, obj, record_id), client)[1]

    def delete_by_external(
        self, obj: ObjectDef, field_name: str, value: str, client: str | None = None
    ) -> list[int]:
        def op(tx: Records) -> WriteResult:
            return self.org.delete(tx, obj, self._external(tx, obj, field_name, value)["Id"])

        return self._write(op, client)[1]

    def redeliver(self, record_id: str, event: str | None = None) -> int | None:
        with self.db.write() as conn:
            return self.webhooks.record_redelivery(conn, record_id, event)

    def reset(self) -> None:
        """Wipe records, cursors, deliveries and the event bus; keep the org's ids, issued
        tokens and the bus's replay id sequence."""
        with self.db.write() as conn:
            for obj in OBJECTS.values():
                conn.execute(f"DELETE FROM {table_name(obj)}")
            conn.execute("DELETE FROM query_cursors")
            conn.execute("DELETE FROM webhook_deliveries")
            self.bus.forget(conn)
            _seed(Records(conn), self.identity)
        self.usage.reset()

    # --- reads --------------------------------------------------------------------------

    def get(self, obj: ObjectDef, record_id: str, fields: str | None) -> Doc:
        selected = None
        if fields:
            selected = []
            for name in (n.strip() for n in fields.split(",") if n.strip()):
                f = obj.field(name)
                if f is None:
                    raise bad_request(
                        "INVALID_FIELD",
                        f"No such column '{name}' on sobject of type {obj.name}",
                        [name],
                    )
                selected.append(f)
            self.field_security.check_read(obj, selected)
        with self.db.read() as tx:
            record = self.org.get(tx, obj, record_id)
        return render(obj, record, selected or self.field_security.readable_fields(obj))

    def get_by_external(self, obj: ObjectDef, field_name: str, value: str) -> Doc:
        with self.db.read() as tx:
            record = self._external(tx, obj, field_name, value)
        return render(obj, record, self.field_security.readable_fields(obj))

    def _readable_external(self, obj: ObjectDef, field_name: str) -> None:
        f = obj.field(field_name)
        if f is not None and not self.field_security.readable(obj, f):
            raise SalesforceApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field_name}",
            )

    def _external(self, tx: Records, obj: ObjectDef, field_name: str, value: str) -> Doc:
        f = obj.field(field_name)
        if f is None or not f.external_id or not self.field_security.readable(obj, f):
            raise not_found()
        matches = tx.find(obj, f.name, value)
        if not matches:
            raise not_found()
        if len(matches) > 1:
            raise bad_request("MULTIPLE_CHOICES", f"More than one record found for {f.name}")
        return matches[0]

    def query(self, text: str, batch_size: int | None) -> Doc:
        bound = compile_query(text)
        self.field_security.check_query(bound)
        batch = max(self.min_batch_size, min(batch_size or MAX_BATCH_SIZE, MAX_BATCH_SIZE))
        with self.db.read() as tx:
            docs = bound.run(tx)
            if bound.is_count:
                return bound.count(docs, tx)
            records = bound.project(tx, docs[:batch])
        result: Doc = {"totalSize": len(docs), "done": len(docs) <= batch}
        if len(docs) > batch:
            cursor = locator()
            with self.db.write() as conn:
                conn.execute(
                    "DELETE FROM query_cursors WHERE created_at < ?",
                    (time.time() - CURSOR_TTL_SECONDS,),
                )
                conn.execute(
                    "INSERT INTO query_cursors (locator, soql, ids, batch_size, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (cursor, text, json.dumps([d["Id"] for d in docs]), batch, time.time()),
                )
            result["nextRecordsUrl"] = _next_url(cursor, batch)
        result["records"] = records
        return result

    def query_more(self, locator_text: str) -> Doc:
        match = _LOCATOR_RE.fullmatch(locator_text)
        if match is None:
            raise bad_request("INVALID_QUERY_LOCATOR", "invalid query locator")
        cursor, offset = match.group(1), int(match.group(2))
        with self.db.read() as tx:
            row = tx.conn.execute(
                "SELECT soql, ids, batch_size FROM query_cursors WHERE locator = ?", (cursor,)
            ).fetchone()
            if row is None:
                raise bad_request("INVALID_QUERY_LOCATOR", "invalid query locator")
            bound = compile_query(row[0])
            self.field_security.check_query(bound)
            ids: list[str] = json.loads(row[1])
            batch = int(row[2])
            page_ids = ids[offset : offset + batch]
            found = tx.get_many(bound.obj, page_ids)
            records = bound.project(tx, [found[i] for i in page_ids if i in found])
        result: Doc = {"totalSize": len(ids), "done": offset + batch >= len(ids)}
        if offset + batch < len(ids):
            result["nextRecordsUrl"] = _next_url(cursor, offset + batch)
        result["records"] = records
        return result


def _next_url(cursor: str, offset: int) -> str:
    # A path, as Salesforce returns it; clients prefix their instance URL.
    return f"/services/data/v{API_VERSION}/query/{cursor}-{offset}"
