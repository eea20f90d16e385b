"""Compiles a parsed SuiteQL query to parameterised SQLite and runs it.

Column names are checked against a fixed catalogue per SuiteQL table and only ever
emitted from it; every literal becomes a bound parameter, so no query text reaches
SQLite. Literals are coerced to the column's type: timestamps and dates are
normalised to the stored ISO form, money is compared exactly with ``deccmp``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any

from sandbox.netsuite.currencies import CURRENCIES, CURRENCY_IDS
from sandbox.netsuite.suiteql import (
    And,
    Column,
    Comparison,
    DateLiteral,
    Expr,
    InList,
    IsNull,
    Like,
    Literal,
    Not,
    NullLiteral,
    Operand,
    Or,
    Query,
    SuiteQLError,
    TimestampLiteral,
    parse,
    parse_date,
    parse_timestamp,
)

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def format_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


class Kind(Enum):
    ID = "id"  # internal id: INTEGER in SQLite, a string in the output
    TEXT = "text"
    MONEY = "money"  # decimal text, compared exactly, a JSON number in the output
    BOOL = "bool"  # 'T' / 'F', as SuiteQL answers booleans
    TIMESTAMP = "timestamp"
    DATE = "date"
    INTEGER = "integer"  # a plain count (e.g. months), a JSON number in the output
    # A record's currency: stored as its ISO code, answered (and compared) as the
    # currency's internal id, as SuiteQL does; ``currency.symbol`` has the code.
    CURRENCY = "currency"


@dataclass(frozen=True)
class TableSpec:
    sql_table: str
    columns: dict[str, Kind]
    sql_names: Mapping[str, str] = field(default_factory=dict)
    """SuiteQL names stored under another SQLite name (``transaction`` is an SQL keyword)."""
    key: str = "id"
    """The column that breaks ties in every order, so pages never overlap."""

    def sql_name(self, name: str) -> str:
        return self.sql_names.get(name, name)


_COMMON = {
    "id": Kind.ID,
    "externalid": Kind.TEXT,
    "datecreated": Kind.TIMESTAMP,
    "lastmodifieddate": Kind.TIMESTAMP,
}

_LINK = TableSpec(
    "txnlink",
    {
        "id": Kind.ID,
        "previousdoc": Kind.ID,
        "previoustype": Kind.TEXT,
        "nextdoc": Kind.ID,
        "nexttype": Kind.TEXT,
        "linktype": Kind.TEXT,
        "foreignamount": Kind.MONEY,
        "linkdate": Kind.DATE,
        "lastmodifieddate": Kind.TIMESTAMP,
    },
)

TABLES: dict[str, TableSpec] = {
    "customer": TableSpec(
        "customer_row",
        {
            **_COMMON,
            "companyname": Kind.TEXT,
            "email": Kind.TEXT,
            "currency": Kind.CURRENCY,
            "custentity_tax_id": Kind.TEXT,
            "isinactive": Kind.BOOL,
            "defaultbillingaddress": Kind.ID,
        },
    ),
    # A customer's addresses (``customer.defaultbillingaddress`` names one by ``nkey``);
    # ``country`` is the ISO code here (NetSuite's docs do not say what an account answers).
    "entityaddress": TableSpec(
        "entityaddress",
        {
            "nkey": Kind.ID,
            "addressee": Kind.TEXT,
            "addr1": Kind.TEXT,
            "addr2": Kind.TEXT,
            "city": Kind.TEXT,
            "state": Kind.TEXT,
            "zip": Kind.TEXT,
            "country": Kind.TEXT,
            "lastmodifieddate": Kind.TIMESTAMP,
        },
        key="nkey",
    ),
    "currency": TableSpec(
        "currency",
        {
            "id": Kind.ID,
            "name": Kind.TEXT,
            "symbol": Kind.TEXT,
            "isbasecurrency": Kind.BOOL,
            "isinactive": Kind.BOOL,
        },
    ),
    "item": TableSpec(
        "item",
        {
            **_COMMON,
            "itemid": Kind.TEXT,
            "itemtype": Kind.TEXT,
            "displayname": Kind.TEXT,
            "baseprice": Kind.MONEY,
            "custitem_term_months": Kind.INTEGER,
            "custitem_revenue_type": Kind.TEXT,
            "isinactive": Kind.BOOL,
        },
    ),
    "transaction": TableSpec(
        "txn",
        {
            **_COMMON,
            "tranid": Kind.TEXT,
            "type": Kind.TEXT,
            "entity": Kind.ID,
            "status": Kind.TEXT,
            "foreigntotal": Kind.MONEY,
            "amountremaining": Kind.MONEY,
            "currency": Kind.CURRENCY,
            "trandate": Kind.DATE,
            "createdfrom": Kind.ID,
            "memo": Kind.TEXT,
            "custbody_rejection_reason": Kind.TEXT,
        },
    ),
    # Item lines of sales orders and invoices, as NetSuite signs a sale: quantity and
    # foreignamount negative, rate positive. No mainline or tax rows are stored, but the
    # flags exist so a query written for a real account runs unchanged.
    "transactionline": TableSpec(
        "transactionline",
        {
            "id": Kind.ID,
            "uniquekey": Kind.ID,
            "transaction": Kind.ID,
            "linesequencenumber": Kind.INTEGER,
            "item": Kind.ID,
            "quantity": Kind.MONEY,
            "rate": Kind.MONEY,
            "foreignamount": Kind.MONEY,
            "memo": Kind.TEXT,
            "custcol_revenue_type": Kind.TEXT,
            "custcol_term_months": Kind.INTEGER,
            "mainline": Kind.BOOL,
            "taxline": Kind.BOOL,
        },
        sql_names={"transaction": "transaction_id"},
    ),
    # A transaction's field changes (the feed reads its status changes: when an order
    # left Pending Approval). ``date`` is stored as ``notedate``.
    "systemnote": TableSpec(
        "systemnote",
        {
            "id": Kind.ID,
            "recordid": Kind.ID,
            "recordtypeid": Kind.INTEGER,
            "field": Kind.TEXT,
            "oldvalue": Kind.TEXT,
            "newvalue": Kind.TEXT,
            "date": Kind.TIMESTAMP,
            "name": Kind.TEXT,
            "context": Kind.TEXT,
            "type": Kind.TEXT,
        },
        sql_names={"date": "notedate"},
    ),
    # Which document settled which (a payment, credit memo or refund applied to an
    # invoice or a credit memo): ``sandbox.netsuite.applying`` says how it is filled.
    "nexttransactionlinelink": _LINK,
    "previoustransactionlinelink": _LINK,
    "subscription": TableSpec(
        "subscription",
        {
            **_COMMON,
            "customer": Kind.ID,
            "salesorder": Kind.ID,
            "name": Kind.TEXT,
            "startdate": Kind.DATE,
            "enddate": Kind.DATE,
            "status": Kind.TEXT,
            "recurringamount": Kind.MONEY,
            "currency": Kind.CURRENCY,
        },
    ),
}


class _Compiler:
    def __init__(self, spec: TableSpec, table_name: str) -> None:
        self.spec = spec
        self.table_name = table_name
        self.params: list[Any] = []

    def column_kind(self, name: str) -> Kind:
        kind = self.spec.columns.get(name)
        if kind is None:
            raise SuiteQLError(f"Field '{name}' for record '{self.table_name}' was not found")
        return kind

    def expr(self, node: Expr) -> str:
        if isinstance(node, And):
            return "(" + " AND ".join(self.expr(item) for item in node.items) + ")"
        if isinstance(node, Or):
            return "(" + " OR ".join(self.expr(item) for item in node.items) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.expr(node.item)})"
        if isinstance(node, IsNull):
            return f"({self.operand(node.operand, None)} IS {'NOT ' if node.negated else ''}NULL)"
        if isinstance(node, Like):
            kind = self._kind_of(node.operand)
            sql = (
                f"({self.operand(node.operand, None)} {'NOT ' if node.negated else ''}"
                f"LIKE {self.operand(node.pattern, kind)})"
            )
            return sql
        if isinstance(node, InList):
            return self.in_list(node)
        return self.comparison(node)

    def _kind_of(self, node: Operand) -> Kind | None:
        return self.column_kind(node.name) if isinstance(node, Column) else None

    def comparison(self, node: Comparison) -> str:
        left_kind, right_kind = self._kind_of(node.left), self._kind_of(node.right)
        kind = left_kind or right_kind
        if isinstance(node.left, NullLiteral | Column) and isinstance(node.right, NullLiteral):
            return "(NULL)"  # comparing with NULL is never true, as in SQL
        # A date column meets a timestamp: compare both as timestamps.
        left = self.operand(node.left, kind, other=node.right)
        right = self.operand(node.right, kind, other=node.left)
        if kind is Kind.MONEY:
            return f"(deccmp({left}, {right}) {node.op} 0)"
        return f"({left} {node.op} {right})"

    def in_list(self, node: InList) -> str:
        kind = self._kind_of(node.operand)
        target = self.operand(node.operand, None)
        if kind is Kind.MONEY:
            tests = " OR ".join(
                f"deccmp({target}, {self.operand(v, kind)}) = 0" for v in node.values
            )
            sql = f"({tests})"
            return f"(NOT {sql})" if node.negated else sql
        values = ", ".join(self.operand(v, kind) for v in node.values)
        return f"({target} {'NOT ' if node.negated else ''}IN ({values}))"

    def operand(self, node: Operand, kind: Kind | None, other: Operand | None = None) -> str:
        if isinstance(node, Column):
            column_kind = self.column_kind(node.name)
            sql = self.spec.sql_name(node.name)  # checked against the catalogue above
            if column_kind is Kind.DATE and isinstance(other, TimestampLiteral):
                return f"({sql} || 'T00:00:00Z')"
            return sql
        if isinstance(node, NullLiteral):
            return "NULL"
        self.params.append(self.coerce(node, kind))
        return "?"

    def coerce(self, node: Literal | TimestampLiteral | DateLiteral, kind: Kind | None) -> Any:
        if isinstance(node, TimestampLiteral):
            return format_timestamp(node.value)
        if isinstance(node, DateLiteral):
            if kind is Kind.TIMESTAMP:
                return format_timestamp(
                    datetime(node.value.year, node.value.month, node.value.day, tzinfo=UTC)
                )
            return node.value.isoformat()
        value = node.value
        if kind is Kind.TIMESTAMP and isinstance(value, str):
            return format_timestamp(parse_timestamp(value))
        if kind is Kind.DATE and isinstance(value, str):
            return parse_date(value).isoformat()
        if kind is Kind.MONEY:
            try:
                return str(Decimal(str(value)))
            except InvalidOperation:
                raise SuiteQLError(f"{value!r} is not a number") from None
        if kind is Kind.ID or kind is Kind.INTEGER:
            try:
                return int(str(value))
            except ValueError:
                raise SuiteQLError(f"{value!r} is not a valid whole number") from None
        if kind is Kind.CURRENCY:
            # Compared by internal id; an id the account lacks matches nothing.
            if not str(value).strip().isdigit():
                raise SuiteQLError(f"{value!r} is not a valid whole number")
            return CURRENCIES.get(str(int(str(value))), "")
        if isinstance(value, Decimal):
            return str(value)
        return value

    def order_term(self, name: str, descending: bool) -> str:
        kind = self.column_kind(name)
        column = self.spec.sql_name(name)
        sql = f"CAST({column} AS REAL)" if kind is Kind.MONEY else column
        return f"{sql} {'DESC' if descending else 'ASC'}"


@dataclass(frozen=True)
class CompiledQuery:
    table: str
    select: tuple[tuple[str, Kind], ...]
    select_sql: str
    where_sql: str
    order_sql: str
    params: tuple[Any, ...]


def compile_query(query: Query) -> CompiledQuery:
    spec = TABLES.get(query.table)
    if spec is None:
        raise SuiteQLError(f"Record '{query.table}' was not found")
    compiler = _Compiler(spec, query.table)
    names = query.columns if query.columns is not None else tuple(spec.columns)
    select = tuple((name, compiler.column_kind(name)) for name in names)
    select_sql = ", ".join(spec.sql_name(name) for name, _ in select)
    where_sql = f"WHERE {compiler.expr(query.where)}" if query.where is not None else ""
    terms = [compiler.order_term(item.column, item.descending) for item in query.order_by]
    # The id as last key makes paging deterministic when the sort keys tie.
    terms.append(f"{spec.key} ASC")
    return CompiledQuery(
        spec.sql_table,
        select,
        select_sql,
        where_sql,
        "ORDER BY " + ", ".join(terms),
        tuple(compiler.params),
    )


def _output(value: Any, kind: Kind) -> Any:
    if value is None:
        return None
    if kind is Kind.ID:
        return str(value)
    if kind is Kind.MONEY:
        return Decimal(str(value))
    if kind is Kind.CURRENCY:
        return CURRENCY_IDS.get(str(value), str(value))
    return value


@dataclass(frozen=True)
class QueryPage:
    items: list[dict[str, Any]]
    total: int


def run_query(conn: sqlite3.Connection, text: str, limit: int, offset: int) -> QueryPage:
    """Parse, compile and run one page; runs inside a read transaction."""
    compiled = compile_query(parse(text))
    try:
        total = conn.execute(
            f"SELECT COUNT(*) FROM {compiled.table} {compiled.where_sql}", compiled.params
        ).fetchone()[0]
        rows = conn.execute(
            f"SELECT {compiled.select_sql} FROM {compiled.table} {compiled.where_sql} "
            f"{compiled.order_sql} LIMIT ? OFFSET ?",
            (*compiled.params, limit, offset),
        ).fetchall()
    except sqlite3.Error as exc:  # e.g. a comparison SQLite cannot evaluate
        raise SuiteQLError(f"the query could not be run: {exc}") from None
    items = [
        {name: _output(row[index], kind) for index, (name, kind) in enumerate(compiled.select)}
        for row in rows
    ]
    return QueryPage(items, int(total))
