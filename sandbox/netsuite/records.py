"""Record operations of the REST record API, each run inside one store transaction.

Every function here takes the open ``sqlite3.Connection`` of a ``Store.write`` or
``Store.read`` call: validation, sequence numbers, the insert or update and the
side effects on related records (an invoice bills its order, a payment reduces
its invoice, a sales order with recurring items starts a subscription, cancelling
it terminates that subscription) commit together or not at all.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from models import exact_json
from sandbox.catalog import CatalogItem
from sandbox.netsuite import approval, fulfilment, partial_billing
from sandbox.netsuite.applying import SETTLING_TYPES, apply_created, apply_deleted, has_applications
from sandbox.netsuite.errors import (
    INVALID_FLD_VALUE,
    USER_ERROR,
    NetSuiteError,
    bad_request,
    not_found,
)
from sandbox.netsuite.query import format_timestamp
from sandbox.netsuite.settlement import VOIDED, normalize_credit_memo, normalize_refund
from sandbox.netsuite.store import get_setting, next_sequence
from sandbox.netsuite.validation import (
    REVENUE_TYPE_FIELD,
    SALES_ORDER_STATUSES,
    SUBSCRIPTION_ENDED,
    TERM_MONTHS_FIELD,
    Normalized,
    check_period_open,
    new_subscription,
    normalize_customer,
    normalize_invoice,
    normalize_item,
    normalize_payment,
    normalize_sales_order,
    normalize_subscription,
    recurring_lines,
    status_ref,
    subscription_columns,
    subscription_terms,
)

logger = logging.getLogger(__name__)

RECORD_PATH = "/services/rest/record/v1"
CLOSED_THROUGH_SETTING = "closed_through"


@dataclass(frozen=True)
class RecordType:
    name: str  # as in the URL: salesOrder
    table: str  # the SQLite table: customer | item | txn | subscription
    type_code: str | None  # SuiteQL transaction.type / item.itemtype
    tranid_prefix: str | None = None


RECORD_TYPES: dict[str, RecordType] = {
    rt.name.lower(): rt
    for rt in (
        RecordType("customer", "customer", None),
        RecordType("inventoryItem", "item", "InvtPart"),
        RecordType("nonInventorySaleItem", "item", "NonInvtPart"),
        RecordType("salesOrder", "txn", "SalesOrd", "SO"),
        RecordType("invoice", "txn", "CustInvc", "INV"),
        RecordType("customerPayment", "txn", "CustPymt", "PYMT"),
        RecordType("itemFulfillment", "txn", "ItemShip", "IF"),
        RecordType("creditMemo", "txn", "CustCred", "CM"),
        RecordType("customerRefund", "txn", "CustRfnd", "RFND"),
        RecordType("subscription", "subscription", None),
    )
}
TRANID_START = 1001


def resolve_type(name: str) -> RecordType:
    """Record types are case-insensitive in the URL, as in NetSuite."""
    record_type = RECORD_TYPES.get(name.lower())
    if record_type is None:
        raise NetSuiteError(404, "INVALID_RCRD_TYPE", f"Record type '{name}' does not exist.")
    return record_type


@dataclass(frozen=True)
class StoredRecord:
    record_type: RecordType
    id: int
    body: dict[str, Any]
    created: str
    last_modified: str


def parse_key(key: str) -> tuple[int | None, str | None]:
    """``123`` is an internal id, ``eid:ABC`` an external id."""
    if key.startswith("eid:"):
        external_id = key[4:]
        if not external_id:
            raise not_found()
        return None, external_id
    if key.isdigit():
        return int(key), None
    raise not_found()


class DbLookup:
    """``validation.Lookup`` over the open transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def _body(self, sql: str, *params: Any) -> dict[str, Any] | None:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else dict(exact_json.loads(row["body"]))

    def customer(self, internal_id: int) -> dict[str, Any] | None:
        return self._body("SELECT body FROM customer WHERE id = ?", internal_id)

    def item(self, internal_id: int) -> dict[str, Any] | None:
        return self._body("SELECT body FROM item WHERE id = ?", internal_id)

    def transaction(self, internal_id: int) -> tuple[str, dict[str, Any]] | None:
        row = self.conn.execute(
            "SELECT rectype, body FROM txn WHERE id = ?", (internal_id,)
        ).fetchone()
        return None if row is None else (str(row["rectype"]), exact_json.loads(row["body"]))

    def sku_owner(self, sku: str) -> int | None:
        row = self.conn.execute("SELECT id FROM item WHERE itemid = ?", (sku,)).fetchone()
        return None if row is None else int(row["id"])

    def closed_through(self) -> date | None:
        value = get_setting(self.conn, CLOSED_THROUGH_SETTING)
        return None if value is None else date.fromisoformat(value)


def _row_to_record(record_type: RecordType, row: sqlite3.Row) -> StoredRecord:
    return StoredRecord(
        record_type,
        int(row["id"]),
        exact_json.loads(row["body"]),
        str(row["datecreated"]),
        str(row["lastmodifieddate"]),
    )


_SELECT = "SELECT id, body, datecreated, lastmodifieddate FROM {table} WHERE rectype = ? AND "


def find_by_id(conn: sqlite3.Connection, rt: RecordType, internal_id: int) -> StoredRecord | None:
    row = conn.execute(_SELECT.format(table=rt.table) + "id = ?", (rt.name, internal_id)).fetchone()
    return None if row is None else _row_to_record(rt, row)


def find_by_eid(conn: sqlite3.Connection, rt: RecordType, external_id: str) -> StoredRecord | None:
    row = conn.execute(
        _SELECT.format(table=rt.table) + "externalid = ?", (rt.name, external_id)
    ).fetchone()
    return None if row is None else _row_to_record(rt, row)


def fetch(conn: sqlite3.Connection, rt: RecordType, key: str) -> StoredRecord:
    internal_id, external_id = parse_key(key)
    record = (
        find_by_id(conn, rt, internal_id)
        if internal_id is not None
        else find_by_eid(conn, rt, str(external_id))
    )
    if record is None:
        raise not_found()
    return record


def render(record: StoredRecord, base_url: str) -> dict[str, Any]:
    """The REST representation: NetSuite's ``links`` and ids as strings."""
    href = f"{base_url}{RECORD_PATH}/{record.record_type.name}/{record.id}"
    return {
        "links": [{"rel": "self", "href": href}],
        "id": str(record.id),
        **record.body,
        "createdDate": record.created,
        "lastModifiedDate": record.last_modified,
    }


def location(base_url: str, rt: RecordType, internal_id: int) -> str:
    return f"{base_url}{RECORD_PATH}/{rt.name}/{internal_id}"


# --- writes -----------------------------------------------------------------------------


def _normalize(
    conn: sqlite3.Connection,
    rt: RecordType,
    payload: Mapping[str, Any],
    existing: StoredRecord | None,
    today: date,
) -> Normalized:
    lookup = DbLookup(conn)
    body = existing.body if existing is not None else None
    if rt.table == "customer":
        return normalize_customer(payload, body, lookup)
    if rt.table == "item":
        return normalize_item(payload, body, lookup, existing.id if existing else None)
    if rt.name == "salesOrder":
        return normalize_sales_order(payload, body, lookup, today)
    if rt.name == "invoice":
        return normalize_invoice(payload, body, lookup, today)
    if rt.name == "subscription":
        return normalize_subscription(payload, body)
    if rt.name == "itemFulfillment":
        return fulfilment.normalize(conn, payload, body, today)
    if rt.name == "creditMemo":
        return normalize_credit_memo(payload, body, lookup, today)
    if rt.name == "customerRefund":
        return normalize_refund(payload, body, lookup, today)
    return normalize_payment(payload, body, lookup, today)


def _check_external_id_free(
    conn: sqlite3.Connection, rt: RecordType, external_id: str | None, internal_id: int | None
) -> None:
    if external_id is None:
        return
    other = find_by_eid(conn, rt, external_id)
    if other is not None and other.id != internal_id:
        raise bad_request(
            "DUP_RCRD",
            f"A {rt.name} record with external ID '{external_id}' already exists.",
            "externalId",
        )


def _insert(conn: sqlite3.Connection, rt: RecordType, normalized: Normalized, now: str) -> int:
    columns: dict[str, Any] = {
        **normalized.columns,
        "rectype": rt.name,
        "datecreated": now,
        "lastmodifieddate": now,
    }
    body = dict(normalized.body)
    if rt.table == "item":
        columns["itemtype"] = rt.type_code
    if rt.table == "txn":
        assert rt.tranid_prefix is not None
        tran_id = f"{rt.tranid_prefix}{next_sequence(conn, rt.name, TRANID_START)}"
        columns.update(type=rt.type_code, tranid=tran_id)
        body = {"tranId": tran_id, **body}
    columns["body"] = exact_json.dumps(body)
    names = list(columns)
    cursor = conn.execute(
        f"INSERT INTO {rt.table} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})",
        [columns[name] for name in names],
    )
    assert cursor.lastrowid is not None
    return int(cursor.lastrowid)


def _update_row(
    conn: sqlite3.Connection,
    rt: RecordType,
    internal_id: int,
    body: Mapping[str, Any],
    columns: Mapping[str, Any],
    now: str,
    who: str = approval.INTEGRATION_USER,
) -> None:
    if rt.name == "salesOrder" and "status" in columns:
        old = conn.execute("SELECT status FROM txn WHERE id = ?", (internal_id,)).fetchone()
        old_status = None if old is None else old["status"]
        approval.note_status_change(conn, internal_id, old_status, columns["status"], now, who)
    values: dict[str, Any] = {**columns, "lastmodifieddate": now, "body": exact_json.dumps(body)}
    assignments = ", ".join(f"{name} = ?" for name in values)
    conn.execute(
        f"UPDATE {rt.table} SET {assignments} WHERE id = ?", [*values.values(), internal_id]
    )


def create(
    conn: sqlite3.Connection, rt: RecordType, payload: Mapping[str, Any], now: datetime
) -> int:
    if rt.name == "invoice":
        payload = partial_billing.with_unbilled_lines(conn, payload)
    normalized = _normalize(conn, rt, payload, None, now.date())
    if rt.name == "salesOrder":
        normalized = approval.hold_if_needed(conn, normalized)
    _check_external_id_free(conn, rt, normalized.body.get("externalId"), None)
    internal_id = _insert(conn, rt, normalized, format_timestamp(now))
    _after_create(conn, rt, internal_id, normalized, format_timestamp(now))
    logger.debug("created %s %s", rt.name, internal_id)
    return internal_id


def update(
    conn: sqlite3.Connection,
    rt: RecordType,
    existing: StoredRecord,
    payload: Mapping[str, Any],
    now: datetime,
) -> int:
    normalized = _normalize(conn, rt, payload, existing, now.date())
    _check_external_id_free(conn, rt, normalized.body.get("externalId"), existing.id)
    if rt.name == "salesOrder":
        _check_order_change(conn, existing, payload, normalized)
    _update_row(conn, rt, existing.id, normalized.body, normalized.columns, format_timestamp(now))
    if rt.name == "salesOrder":
        _after_order_update(conn, existing, normalized, format_timestamp(now))
    return existing.id


def save_users_change(
    conn: sqlite3.Connection,
    rt: RecordType,
    record: StoredRecord,
    body: Mapping[str, Any],
    columns: Mapping[str, Any],
    now: datetime,
    who: str,
) -> None:
    """A change a person makes in the ERP's own UI (a finance user's approval), which
    the REST API's rules for the integration do not govern; noted as theirs."""
    _update_row(conn, rt, record.id, body, columns, format_timestamp(now), who)


def update_by_key(
    conn: sqlite3.Connection, rt: RecordType, key: str, payload: Mapping[str, Any], now: datetime
) -> int:
    return update(conn, rt, fetch(conn, rt, key), payload, now)


def upsert(
    conn: sqlite3.Connection,
    rt: RecordType,
    external_id: str,
    payload: Mapping[str, Any],
    now: datetime,
) -> tuple[int, bool]:
    """Create or update by external id; atomic because the whole call is one transaction.

    Returns ``(internal id, created)``. The URL's external id wins over any in the body.
    """
    given = payload.get("externalId")
    if given is not None and str(given) != external_id:
        raise bad_request(
            INVALID_FLD_VALUE,
            "The externalId in the body differs from the one in the URL.",
            "externalId",
        )
    body = {**payload, "externalId": external_id}
    existing = find_by_eid(conn, rt, external_id)
    if existing is not None:
        return update(conn, rt, existing, body, now), False
    return create(conn, rt, body, now), True


def delete(conn: sqlite3.Connection, rt: RecordType, key: str, now: datetime) -> None:
    record = fetch(conn, rt, key)
    if rt.name == "subscription":
        raise bad_request(
            USER_ERROR,
            "A subscription cannot be deleted; terminate it, or delete its sales order.",
        )
    _check_no_dependents(conn, rt, record)
    if rt.table == "txn":
        check_period_open(date.fromisoformat(record.body["tranDate"]), DbLookup(conn))
    conn.execute(f"DELETE FROM {rt.table} WHERE id = ?", (record.id,))
    _after_delete(conn, rt, record, format_timestamp(now))


def list_ids(
    conn: sqlite3.Connection, rt: RecordType, limit: int, offset: int
) -> tuple[list[int], int]:
    total = conn.execute(
        f"SELECT COUNT(*) FROM {rt.table} WHERE rectype = ?", (rt.name,)
    ).fetchone()[0]
    rows = conn.execute(
        f"SELECT id FROM {rt.table} WHERE rectype = ? ORDER BY id LIMIT ? OFFSET ?",
        (rt.name, limit, offset),
    ).fetchall()
    return [int(row["id"]) for row in rows], int(total)


# --- related records --------------------------------------------------------------------

_SALES_ORDER = RECORD_TYPES["salesorder"]
_INVOICE = RECORD_TYPES["invoice"]
_SUBSCRIPTION = RECORD_TYPES["subscription"]


def _set_status(
    conn: sqlite3.Connection,
    rt: RecordType,
    record: StoredRecord,
    status: str,
    names: Mapping[str, str],
    now: str,
    **changes: Any,
) -> None:
    body = {**record.body, "status": {"id": status, "refName": names[status]}, **changes}
    columns: dict[str, Any] = {"status": status}
    if "amountRemaining" in changes:
        columns["amountremaining"] = str(changes["amountRemaining"])
    _update_row(conn, rt, record.id, body, columns, now)


def _after_create(
    conn: sqlite3.Connection, rt: RecordType, internal_id: int, normalized: Normalized, now: str
) -> None:
    if rt.name == "salesOrder":
        _sync_subscription(conn, internal_id, now)
        return
    if rt.name in SETTLING_TYPES:
        apply_created(conn, rt.name, internal_id, normalized.body, now)
        return
    created_from = normalized.body.get("createdFrom")
    if created_from is None:
        return
    source_id = int(created_from["id"])
    if rt.name == "itemFulfillment":
        order = find_by_id(conn, _SALES_ORDER, source_id)
        if order is not None:
            status = str(order.body["status"]["id"])
            after = fulfilment.order_status_after(conn, source_id, status)
            if after != status:
                _set_status(conn, _SALES_ORDER, order, after, SALES_ORDER_STATUSES, now)
    elif rt.name == "invoice":
        order = find_by_id(conn, _SALES_ORDER, source_id)
        # Billing the order in full marks it Billed; in part, it stays billable.
        if order is not None and partial_billing.billed_in_full(conn, source_id, order.body):
            _set_status(conn, _SALES_ORDER, order, "G", SALES_ORDER_STATUSES, now)


def _after_delete(conn: sqlite3.Connection, rt: RecordType, record: StoredRecord, now: str) -> None:
    if rt.name == "salesOrder":
        # The order's subscription is part of the sale: it goes with the order.
        conn.execute("DELETE FROM subscription WHERE salesorder = ?", (record.id,))
        return
    if rt.name in SETTLING_TYPES:
        apply_deleted(conn, record.id, record.body, now)
        return
    created_from = record.body.get("createdFrom")
    if created_from is None:
        return
    source_id = int(created_from["id"])
    if rt.name == "invoice":
        order = find_by_id(conn, _SALES_ORDER, source_id)
        if order is not None and order.body["status"]["id"] == "G":
            _set_status(conn, _SALES_ORDER, order, "B", SALES_ORDER_STATUSES, now)


def _check_no_dependents(conn: sqlite3.Connection, rt: RecordType, record: StoredRecord) -> None:
    params: tuple[Any, ...]
    if rt.table == "customer":
        sql, params = "SELECT 1 FROM txn WHERE entity = ? LIMIT 1", (record.id,)
    elif rt.table == "item":
        sql = (
            "SELECT 1 FROM txn, json_each(txn.body, '$.item.items') AS line "
            "WHERE json_extract(line.value, '$.item.id') = ? LIMIT 1"
        )
        params = (str(record.id),)
    else:
        sql, params = "SELECT 1 FROM txn WHERE createdfrom = ? LIMIT 1", (record.id,)
    if conn.execute(sql, params).fetchone() is not None or has_applications(conn, record.id):
        raise bad_request(
            USER_ERROR, "This record cannot be deleted because it has dependent records."
        )


# --- sales-order rules and the order's subscription -------------------------------------

# Statuses past which an order can no longer be cancelled: goods went out, or it closed.
_SO_NOT_CANCELLABLE = frozenset({"D", "E", "F", "H"})


def _refuse(detail: str, path: str) -> NetSuiteError:
    return bad_request(USER_ERROR, detail, path)


def _is_billed(conn: sqlite3.Connection, order: StoredRecord) -> bool:
    """Whether any invoice was created from the order (or it is marked Billed)."""
    if order.body["status"]["id"] == "G":
        return True
    row = conn.execute(
        "SELECT 1 FROM txn WHERE rectype = ? AND createdfrom = ? AND status != ? LIMIT 1",
        (_INVOICE.name, order.id, VOIDED),
    ).fetchone()
    return row is not None


def _check_order_change(
    conn: sqlite3.Connection,
    existing: StoredRecord,
    payload: Mapping[str, Any],
    normalized: Normalized,
) -> None:
    """Refuse what a real ERP refuses: cancelling or re-lining a billed order, cancelling
    a fulfilled or closed one, reopening a cancelled one."""
    old = str(existing.body["status"]["id"])
    new = str(normalized.body["status"]["id"])
    name = f"Sales order {existing.body['tranId']}"
    approval.check_rest_change(name, old, new)
    if old == "C" and new != "C":
        raise _refuse(f"{name} has been cancelled and cannot be reopened.", "status")
    if new == "C" and old != "C":
        if _is_billed(conn, existing):
            raise _refuse(f"{name} has been billed and cannot be cancelled.", "status")
        if old in _SO_NOT_CANCELLABLE:
            raise _refuse(
                f"{name} cannot be cancelled: it is {SALES_ORDER_STATUSES[old]}.", "status"
            )
    if "item" in payload and normalized.body["item"]["items"] != existing.body["item"]["items"]:
        if _is_billed(conn, existing):
            raise _refuse(f"{name} has been billed; its items cannot be changed.", "item")
        if old in ("C", "H"):
            raise _refuse(
                f"{name} is {SALES_ORDER_STATUSES[old]}; its items cannot be changed.", "item"
            )


def _after_order_update(
    conn: sqlite3.Connection, existing: StoredRecord, normalized: Normalized, now: str
) -> None:
    if normalized.body["status"]["id"] == "C" and existing.body["status"]["id"] != "C":
        _end_subscriptions(conn, existing.id, now)
    elif normalized.body["item"]["items"] != existing.body["item"]["items"]:
        _sync_subscription(conn, existing.id, now)


def _subscriptions_of(conn: sqlite3.Connection, order_id: int) -> list[StoredRecord]:
    rows = conn.execute(
        "SELECT id, body, datecreated, lastmodifieddate FROM subscription "
        "WHERE salesorder = ? ORDER BY id",
        (order_id,),
    ).fetchall()
    return [_row_to_record(_SUBSCRIPTION, row) for row in rows]


def _save_subscription(
    conn: sqlite3.Connection, record: StoredRecord, body: dict[str, Any], now: str
) -> None:
    if body != record.body:  # an unchanged subscription keeps its lastmodifieddate
        _update_row(conn, _SUBSCRIPTION, record.id, body, subscription_columns(body), now)


def _end_subscriptions(conn: sqlite3.Connection, order_id: int, now: str) -> None:
    """A cancelled order's subscriptions end with it, in the same transaction."""
    for record in _subscriptions_of(conn, order_id):
        if record.body["billingSubscriptionStatus"]["id"] not in SUBSCRIPTION_ENDED:
            body = {**record.body, "billingSubscriptionStatus": status_ref("TERMINATED")}
            _save_subscription(conn, record, body, now)


def _sync_subscription(conn: sqlite3.Connection, order_id: int, now: str) -> None:
    """Make the order's subscription follow its recurring lines.

    A new order with recurring items starts one ACTIVE subscription; amended lines
    change its amount and lines (and its end date when the longest term changes, so an
    end date moved since by hand stands otherwise); an order left without recurring
    items terminates it. An ended subscription is left alone.
    """
    order = find_by_id(conn, _SALES_ORDER, order_id)
    assert order is not None  # called inside the transaction that wrote it
    lines = recurring_lines(order.body, DbLookup(conn))
    existing = _subscriptions_of(conn, order_id)
    if not existing:
        if lines:
            _insert(conn, _SUBSCRIPTION, new_subscription(order_id, order.body, lines), now)
        return
    current = existing[-1]
    if current.body["billingSubscriptionStatus"]["id"] in SUBSCRIPTION_ENDED:
        return
    if not lines:
        _end_subscriptions(conn, order_id, now)
        return
    terms = subscription_terms(order.body, lines, date.fromisoformat(current.body["startDate"]))
    if terms["initialTerm"] == current.body.get("initialTerm"):
        del terms["endDate"]
    _save_subscription(conn, current, {**current.body, **terms}, now)


def seed_catalog(conn: sqlite3.Connection, catalog: Iterable[CatalogItem], now: datetime) -> int:
    """Create the catalog's items that are missing (by SKU); returns how many."""
    rt = RECORD_TYPES["inventoryitem"]
    created = 0
    lookup = DbLookup(conn)
    for item in catalog:
        if lookup.sku_owner(item.sku) is not None:
            continue
        payload: dict[str, Any] = {
            "itemId": item.sku,
            "displayName": item.name,
            "basePrice": item.price,
            "externalId": item.sku,
        }
        if item.term_months is not None:
            payload[TERM_MONTHS_FIELD] = item.term_months
        if item.revenue_type is not None:
            payload[REVENUE_TYPE_FIELD] = item.revenue_type
        create(conn, rt, payload, now)
        created += 1
    return created


CATALOG_FIELDS: dict[str, Callable[[CatalogItem], int | str | None]] = {
    TERM_MONTHS_FIELD: lambda item: item.term_months,
    REVENUE_TYPE_FIELD: lambda item: item.revenue_type,
}
"""Item fields added after the catalog first shipped, and each one's catalog value."""


def backfill_catalog_field(
    conn: sqlite3.Connection, catalog: Iterable[CatalogItem], field: str, now: datetime
) -> int:
    """Give a database seeded before items had ``field`` the catalog's values; how many.

    Only items that have no value yet are touched, so an operator's choice stands.
    """
    rt = RECORD_TYPES["inventoryitem"]
    updated = 0
    for item in catalog:
        value = CATALOG_FIELDS[field](item)
        if value is None:
            continue
        row = conn.execute(
            f"SELECT id FROM item WHERE itemid = ? AND rectype = ? AND {field} IS NULL",
            (item.sku, rt.name),
        ).fetchone()
        record = None if row is None else find_by_id(conn, rt, int(row["id"]))
        if record is not None and field not in record.body:
            update(conn, rt, record, {field: value}, now)
            updated += 1
    return updated
