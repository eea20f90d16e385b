"""A ``RangeSource`` over a database table: the digest and the split keys are computed
by the database, so only differing leaves travel.

The table carries a row hash: a 32-bit integer of the compared fields, kept by
whoever writes the rows (a Data Vault style hash-diff column), or computed in the query
(PostgreSQL: ``hashtext(...)``). Summing 32-bit values cannot overflow a 64-bit sum
below two billion rows, on any backend. Keys compare as bytes: PostgreSQL is told
``COLLATE "C"`` so its order is the same as Python's and the other side's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from reconciliation.ranges import KeyRange, RangeDigest

T = TypeVar("T")


class SqlRangeSource(Generic[T]):
    def __init__(
        self,
        engine: AsyncEngine,
        table: sa.FromClause,
        *,
        key: sa.ColumnElement[str],
        row_hash: sa.ColumnElement[int],
        columns: Sequence[sa.ColumnElement[Any]],
        to_row: Callable[[sa.Row[Any]], T],
    ) -> None:
        self._engine = engine
        self._table = table
        self._key = key.collate("C") if engine.dialect.name == "postgresql" else key
        self._raw_key = key
        self._row_hash = row_hash
        self._columns = columns
        self._to_row = to_row
        self._counts: dict[KeyRange, int] = {}

    def _where(self, span: KeyRange) -> list[sa.ColumnElement[bool]]:
        clauses = []
        if span.lo is not None:
            clauses.append(self._key >= span.lo)
        if span.hi is not None:
            clauses.append(self._key < span.hi)
        return clauses

    async def digest(self, span: KeyRange) -> RangeDigest:
        query = sa.select(
            sa.func.count(), sa.func.coalesce(sa.func.sum(self._row_hash), 0)
        ).select_from(self._table)
        async with self._engine.connect() as connection:
            count, checksum = (await connection.execute(query.where(*self._where(span)))).one()
        self._counts[span] = int(count)
        return RangeDigest(count=int(count), checksum=int(checksum))

    async def rows(self, span: KeyRange) -> list[T]:
        query = (
            sa.select(*self._columns)
            .select_from(self._table)
            .where(*self._where(span))
            .order_by(self._key)
        )
        async with self._engine.connect() as connection:
            result = await connection.execute(query)
            return [self._to_row(row) for row in result]

    async def split_keys(self, span: KeyRange, parts: int) -> list[str]:
        """Every n-th key of the range, numbered by the database in one pass."""
        count = self._counts.pop(span, None)
        if count is None:
            count = (await self.digest(span)).count
            self._counts.pop(span, None)
        step = max(1, math.ceil(count / parts))
        numbered = (
            sa.select(
                self._raw_key.label("k"),
                sa.func.row_number().over(order_by=self._key).label("n"),
            )
            .select_from(self._table)
            .where(*self._where(span))
            .subquery()
        )
        query = (
            sa.select(numbered.c.k)
            .where(numbered.c.n > 1, (numbered.c.n - 1) % step == 0)
            .order_by(numbered.c.n)
        )
        async with self._engine.connect() as connection:
            return [row[0] for row in await connection.execute(query)]
