"""SQLite persistence for the ERP sandbox.

Threading design: one connection per dedicated thread. All writes run on a single
writer thread, each as one function executed inside ``BEGIN IMMEDIATE … COMMIT``;
reads run on a separate reader thread with its own connection (WAL lets it read a
consistent snapshot while the writer commits). Consequences:

* a transaction never spans an ``await``, so validation + id/sequence allocation +
  insert happen atomically (an upsert by externalId cannot race itself, a ``tranId``
  is never handed out twice);
* writes never contend for SQLite's lock inside the process, so no
  "database is locked" however many HTTP requests are in flight; ``busy_timeout``
  covers a second process opening the same file;
* the event loop only awaits futures; each unit of work is a few hundred µs.

Records live in four tables named after the SuiteQL tables they answer
(``customer``, ``item``, ``txn`` for ``transaction``, ``subscription``); the columns
SuiteQL can query are real columns, and the full REST body is kept as exact JSON in
``body``. SuiteQL's ``transactionline`` is a view over the item sublists in ``txn``;
``entityaddress`` one over the customers' address books, ``currency`` one of the
account's currencies.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TypeVar

from sandbox.netsuite.currencies import currency_view_sql

logger = logging.getLogger(__name__)

T = TypeVar("T")

# SuiteQL's transactionline: one row per item line, signed as NetSuite posts a sale
# (quantity and amount negative, rate positive). ``->`` keeps a JSON number's exact
# text, so amounts never pass through a float. Recreated on every start (a view holds
# no data), so a changed definition reaches existing databases too.
TRANSACTION_LINE_VIEW = """
DROP VIEW IF EXISTS transactionline;
CREATE VIEW transactionline AS
SELECT
    CAST(line.value ->> '$.line' AS INTEGER) AS id,
    txn.id * 10000 + CAST(line.value ->> '$.line' AS INTEGER) AS uniquekey,
    txn.id AS transaction_id,
    CAST(line.value ->> '$.line' AS INTEGER) AS linesequencenumber,
    CAST(line.value ->> '$.item.id' AS INTEGER) AS item,
    CASE WHEN (line.value -> '$.quantity') LIKE '-%'
        THEN substr(line.value -> '$.quantity', 2)
        ELSE '-' || (line.value -> '$.quantity') END AS quantity,
    line.value -> '$.rate' AS rate,
    CASE WHEN (line.value -> '$.amount') LIKE '-%'
        THEN substr(line.value -> '$.amount', 2)
        ELSE '-' || (line.value -> '$.amount') END AS foreignamount,
    line.value ->> '$.description' AS memo,
    line.value ->> '$.custcol_revenue_type' AS custcol_revenue_type,
    CAST(line.value ->> '$.custcol_term_months' AS INTEGER) AS custcol_term_months,
    'F' AS mainline,
    'F' AS taxline
FROM txn, json_each(txn.body, '$.item.items') AS line;
"""

# SuiteQL's ``customer`` row and ``entityaddress``: each address book line of a customer
# is an address whose key (``nkey``) is made of the customer's id and the line's place (a
# real account's keys are opaque; these are unique below 1,000 lines a customer); the
# customer's ``defaultbillingaddress`` is the key of its default billing line. Views,
# recreated on every start like the one above.
ADDRESS_VIEWS = """
DROP VIEW IF EXISTS customer_row;
CREATE VIEW customer_row AS
SELECT customer.*, (
    SELECT customer.id * 1000 + CAST(line.key AS INTEGER)
    FROM json_each(customer.body, '$.addressBook.items') AS line
    WHERE line.value ->> '$.defaultBilling'
    ORDER BY CAST(line.key AS INTEGER) LIMIT 1
) AS defaultbillingaddress
FROM customer;
DROP VIEW IF EXISTS entityaddress;
CREATE VIEW entityaddress AS
SELECT
    customer.id * 1000 + CAST(line.key AS INTEGER) AS nkey,
    line.value ->> '$.addressBookAddress.addressee' AS addressee,
    line.value ->> '$.addressBookAddress.addr1' AS addr1,
    line.value ->> '$.addressBookAddress.addr2' AS addr2,
    line.value ->> '$.addressBookAddress.city' AS city,
    line.value ->> '$.addressBookAddress.state' AS state,
    line.value ->> '$.addressBookAddress.zip' AS zip,
    line.value ->> '$.addressBookAddress.country.id' AS country,
    customer.lastmodifieddate AS lastmodifieddate
FROM customer, json_each(customer.body, '$.addressBook.items') AS line;
"""

SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS customer (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rectype TEXT NOT NULL,
    externalid TEXT,
    companyname TEXT NOT NULL,
    email TEXT,
    currency TEXT,
    custentity_tax_id TEXT,
    isinactive TEXT NOT NULL DEFAULT 'F',
    datecreated TEXT NOT NULL,
    lastmodifieddate TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (rectype, externalid)
);
CREATE TABLE IF NOT EXISTS item (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rectype TEXT NOT NULL,
    itemtype TEXT NOT NULL,
    itemid TEXT NOT NULL UNIQUE,
    displayname TEXT,
    baseprice TEXT,
    custitem_term_months INTEGER,
    custitem_revenue_type TEXT,
    isinactive TEXT NOT NULL DEFAULT 'F',
    externalid TEXT,
    datecreated TEXT NOT NULL,
    lastmodifieddate TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (rectype, externalid)
);
CREATE TABLE IF NOT EXISTS txn (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rectype TEXT NOT NULL,
    type TEXT NOT NULL,
    tranid TEXT NOT NULL,
    entity INTEGER,
    externalid TEXT,
    status TEXT,
    foreigntotal TEXT,
    amountremaining TEXT,
    currency TEXT,
    trandate TEXT,
    createdfrom INTEGER,
    memo TEXT,
    datecreated TEXT NOT NULL,
    lastmodifieddate TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (rectype, externalid)
);
CREATE INDEX IF NOT EXISTS txn_entity ON txn (entity);
CREATE INDEX IF NOT EXISTS txn_createdfrom ON txn (createdfrom);
CREATE INDEX IF NOT EXISTS txn_lastmodified ON txn (lastmodifieddate);
CREATE INDEX IF NOT EXISTS customer_lastmodified ON customer (lastmodifieddate);
CREATE TABLE IF NOT EXISTS subscription (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rectype TEXT NOT NULL,
    externalid TEXT,
    customer INTEGER NOT NULL,
    salesorder INTEGER,
    name TEXT NOT NULL,
    startdate TEXT NOT NULL,
    enddate TEXT NOT NULL,
    status TEXT NOT NULL,
    recurringamount TEXT NOT NULL,
    currency TEXT NOT NULL,
    datecreated TEXT NOT NULL,
    lastmodifieddate TEXT NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (rectype, externalid)
);
CREATE INDEX IF NOT EXISTS subscription_salesorder ON subscription (salesorder);
CREATE INDEX IF NOT EXISTS subscription_lastmodified ON subscription (lastmodifieddate);
CREATE INDEX IF NOT EXISTS item_lastmodified ON item (lastmodifieddate);
CREATE TABLE IF NOT EXISTS systemnote (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    rectype TEXT NOT NULL DEFAULT 'systemNote',
    recordid INTEGER NOT NULL,
    recordtypeid INTEGER NOT NULL,
    field TEXT NOT NULL,
    oldvalue TEXT,
    newvalue TEXT,
    notedate TEXT NOT NULL,
    name TEXT,
    context TEXT,
    type TEXT
);
CREATE INDEX IF NOT EXISTS systemnote_record ON systemnote (recordid);
CREATE TABLE IF NOT EXISTS txnlink (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    previousdoc INTEGER NOT NULL,
    previoustype TEXT,
    nextdoc INTEGER NOT NULL,
    nexttype TEXT NOT NULL,
    linktype TEXT NOT NULL,
    foreignamount TEXT NOT NULL,
    linkdate TEXT,
    lastmodifieddate TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS txnlink_previousdoc ON txnlink (previousdoc);
CREATE INDEX IF NOT EXISTS txnlink_nextdoc ON txnlink (nextdoc);
"""
    + TRANSACTION_LINE_VIEW
    + ADDRESS_VIEWS
    + currency_view_sql()
    + """
CREATE TABLE IF NOT EXISTS sequence (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS setting (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS token (
    token TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    expires_at REAL NOT NULL,
    certificate_id TEXT
);
CREATE TABLE IF NOT EXISTS oauth2_certificate (
    certificate_id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    public_key_pem TEXT NOT NULL,
    algorithms TEXT NOT NULL,
    valid_until REAL NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    UNIQUE (client_id, fingerprint)
);
CREATE TABLE IF NOT EXISTS tba_token (
    token_id TEXT PRIMARY KEY,
    token_secret TEXT NOT NULL,
    consumer_key TEXT NOT NULL,
    consumer_secret TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
"""
)

RECORD_TABLES = ("customer", "item", "txn", "subscription", "systemnote")
# Columns added after a table first shipped: ``CREATE TABLE IF NOT EXISTS`` leaves an
# existing database's table as it was, so these are added on open.
_ADDED_COLUMNS = (
    ("item", "custitem_term_months", "INTEGER"),
    ("item", "custitem_revenue_type", "TEXT"),
    ("token", "certificate_id", "TEXT"),
    ("txn", "custbody_rejection_reason", "TEXT"),
)


def _decimal_compare(left: Any, right: Any) -> int | None:
    """``deccmp(a, b)``: exact comparison of money columns (stored as decimal text)."""
    if left is None or right is None:
        return None
    try:
        a, b = Decimal(str(left)), Decimal(str(right))
    except InvalidOperation:
        return None
    return (a > b) - (a < b)


class _DbThread:
    """One thread owning one connection; work is submitted as plain functions."""

    def __init__(self, db_path: Path, name: str, *, readonly: bool) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._local = threading.local()
        self._db_path = db_path
        self._readonly = readonly
        self._executor.submit(self._open).result()

    def _open(self) -> None:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, exactly once per unit.
        conn = sqlite3.connect(self._db_path, isolation_level=None, timeout=10.0)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        # NORMAL in WAL mode: durable across process crashes, may lose the last
        # commits on power loss; right for a sandbox and 10x cheaper than FULL.
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.create_function("deccmp", 2, _decimal_compare, deterministic=True)
        if self._readonly:
            conn.execute("PRAGMA query_only = ON")
        conn.row_factory = sqlite3.Row
        self._local.conn = conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection = self._local.conn
        return conn

    def _run(self, fn: Callable[[sqlite3.Connection], T], begin: str) -> T:
        conn = self._conn()
        conn.execute(begin)
        try:
            result = fn(conn)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return result

    async def submit(self, fn: Callable[[sqlite3.Connection], T], begin: str) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._run, fn, begin)

    def submit_sync(self, fn: Callable[[sqlite3.Connection], T], begin: str) -> T:
        return self._executor.submit(self._run, fn, begin).result()

    def run_script(self, script: str) -> None:
        """DDL: ``executescript`` manages its own transaction."""
        self._executor.submit(lambda: self._conn().executescript(script)).result()

    def close(self) -> None:
        def _close() -> None:
            conn = getattr(self._local, "conn", None)
            if conn is not None:
                conn.close()
                self._local.conn = None

        try:
            self._executor.submit(_close).result()
        finally:
            self._executor.shutdown(wait=True)


class Store:
    """The sandbox's database: ``write`` and ``read`` run a function in one transaction."""

    def __init__(self, db_path: Path) -> None:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        self.db_path = db_path
        self._writer = _DbThread(db_path, "netsuite-db-writer", readonly=False)
        self._writer.run_script(SCHEMA)
        self.added_columns: frozenset[str] = self._writer.submit_sync(
            _add_missing_columns, "BEGIN IMMEDIATE"
        )
        """``table.column`` names this open added to an older database (for back-fills)."""
        self._reader = _DbThread(db_path, "netsuite-db-reader", readonly=True)
        self._closed = False

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in one write transaction (serialised with every other write)."""
        return await self._writer.submit(fn, "BEGIN IMMEDIATE")

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a consistent snapshot; never waits for the writer."""
        return await self._reader.submit(fn, "BEGIN")

    def write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """For start-up work before the event loop serves requests."""
        return self._writer.submit_sync(fn, "BEGIN IMMEDIATE")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._reader.close()
        self._writer.close()


def _add_missing_columns(conn: sqlite3.Connection) -> frozenset[str]:
    added: set[str] = set()
    for table, column, sql_type in _ADDED_COLUMNS:
        present = {str(row["name"]) for row in conn.execute(f"PRAGMA table_info({table})")}
        if column not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {sql_type}")
            added.add(f"{table}.{column}")
    return frozenset(added)


# --- helpers used inside store functions (they run on the DB threads) -------------------


def next_sequence(conn: sqlite3.Connection, name: str, start: int) -> int:
    """The next number of a named sequence; unique because writes are serialised.

    Gap-tolerant by design: a transaction that fails after taking a number rolls the
    increment back, and a deleted record's number is never reused.
    """
    row = conn.execute(
        "INSERT INTO sequence (name, value) VALUES (?, ?) "
        "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        (name, start),
    ).fetchone()
    return int(row[0])


def get_setting(conn: sqlite3.Connection, key: str) -> str | None:
    row = conn.execute("SELECT value FROM setting WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0]) if row[0] is not None else None


def set_setting(conn: sqlite3.Connection, key: str, value: str | None) -> None:
    conn.execute(
        "INSERT INTO setting (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (key, value),
    )


def wipe_records(conn: sqlite3.Connection) -> None:
    """Delete every record and sequence; credentials, tokens and settings stay."""
    for table in RECORD_TABLES:
        conn.execute(f"DELETE FROM {table}")  # table names are constants
    conn.execute("DELETE FROM txnlink")
    conn.execute("DELETE FROM sequence")
    conn.execute("DELETE FROM sqlite_sequence")


def record_counts(conn: sqlite3.Connection) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table in RECORD_TABLES:
        for rectype, count in conn.execute(
            f"SELECT rectype, COUNT(*) FROM {table} GROUP BY rectype"
        ):
            counts[str(rectype)] = int(count)
    return counts
