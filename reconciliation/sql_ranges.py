"""A ``RangeSource`` over a database table: digests and cuts are computed by the
database, all the parts of a range in one query, so only differing leaves travel.

The table carries a row hash: a 32-bit integer of the compared fields, kept by
whoever writes the rows (a Data Vault style hash-diff column), or computed in the query
(PostgreSQL: ``hashtext(...)``). Summing 32-bit values cannot overflow a 64-bit sum
below two billion rows, on any backend. Keys compare as bytes: PostgreSQL is told
``COLLATE "C"`` so its order is the same as Python's and the other side's.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from reconciliation.ranges import EMPTY, KeyRange, RangeDigest

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
        self._row_hash = row_hash
        self._columns = columns
        self._to_row = to_row

    def _where(self, span: KeyRange) -> list[sa.ColumnElement[bool]]:
        clauses = []
        if span.lo is not None:
            clauses.append(self._key >= span.lo)
        if span.hi is not None:
            clauses.append(self._key < span.hi)
        return clauses

    def _sums(self) -> tuple[Any, Any]:
        return sa.func.count(), sa.func.coalesce(sa.func.sum(self._row_hash), 0)

    async def digest(self, span: KeyRange) -> RangeDigest:
        query = sa.select(*self._sums()).select_from(self._table).where(*self._where(span))
        async with self._engine.connect() as connection:
            count, checksum = (await connection.execute(query)).one()
        return RangeDigest(int(count), int(checksum))

    async def split(self, span: KeyRange, parts: int) -> list[KeyRange]:
        """NTILE numbers the range's rows into ``parts`` equal groups in one pass; each
        group's first key is a cut (a key repeated across groups cuts once)."""
        tiled = (
            sa.select(
                self._key.label("k"),
                sa.func.ntile(parts).over(order_by=self._key).label("tile"),
            )
            .select_from(self._table)
            .where(*self._where(span))
            .subquery()
        )
        query = sa.select(sa.func.min(tiled.c.k)).group_by(tiled.c.tile).order_by(tiled.c.tile)
        async with self._engine.connect() as connection:
            firsts = [str(row[0]) for row in await connection.execute(query)]
        cuts = sorted({key for key in firsts[1:] if key != span.lo})
        bounds: list[str | None] = [span.lo, *cuts, span.hi]
        return [KeyRange(lo, hi) for lo, hi in itertools.pairwise(bounds)]

    async def digests(self, spans: Sequence[KeyRange]) -> list[RangeDigest]:
        """One pass over the ranges' union, each row counted in the range it falls in."""
        if len(spans) < 2:
            return [await self.digest(span) for span in spans]
        cuts = [span.lo for span in spans[1:]]
        part = sa.case(
            *((self._key < cut, index) for index, cut in enumerate(cuts)), else_=len(cuts)
        ).label("part")
        whole = KeyRange(spans[0].lo, spans[-1].hi)
        query = (
            sa.select(part, *self._sums())
            .select_from(self._table)
            .where(*self._where(whole))
            .group_by(part)
        )
        async with self._engine.connect() as connection:
            found = {
                int(p): RangeDigest(int(n), int(h)) for p, n, h in await connection.execute(query)
            }
        return [found.get(index, EMPTY) for index in range(len(spans))]

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
