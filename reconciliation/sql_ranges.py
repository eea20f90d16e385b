"""A ``RangeSource`` over a database table: digests and cuts are computed by the
database, all the parts of a range in one query, so only differing leaves travel.

The table carries a row hash: a 32-bit integer of the compared fields, kept by
whoever writes the rows (a Data Vault style hash-diff column), or computed in the query
(PostgreSQL: ``hashtext(...)``). Summing 32-bit values cannot overflow a 64-bit sum
below two billion rows, on any backend. Keys compare as bytes: PostgreSQL is told
``COLLATE "C"`` so its order is the same as Python's and the other side's.

Each statement is built once per shape (which bounds a range has, how many parts) with
its bounds as parameters: a comparison runs thousands of small queries, and building a
32-part statement took longer than running it on a small range (20 against 2 ms).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from reconciliation.ranges import EMPTY, KeyRange, RangeDigest

T = TypeVar("T")

SAMPLE_PER_PART = 16
"""Sampled keys per part when a large range is cut: enough that parts come out within a
few tens of percent of each other, few enough to travel in one small answer."""


def _ranges(span: KeyRange, cuts: Sequence[str]) -> list[KeyRange]:
    bounds: list[str | None] = [span.lo, *cuts, span.hi]
    return [KeyRange(lo, hi) for lo, hi in itertools.pairwise(bounds)]


def _bounds(span: KeyRange, suffix: str = "") -> dict[str, str]:
    found = {f"lo{suffix}": span.lo, f"hi{suffix}": span.hi}
    return {name: value for name, value in found.items() if value is not None}


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
        self._statements: dict[tuple[object, ...], sa.Executable] = {}

    def _statement(self, shape: tuple[object, ...], build: Callable[[], sa.Executable]) -> Any:
        """The statement of this shape (its kind first), built on first use."""
        found = self._statements.get(shape)
        if found is None:
            found = self._statements[shape] = build()
        return found

    def _where(self, span: KeyRange, suffix: str = "") -> list[sa.ColumnElement[bool]]:
        """The range's bounds as parameters (``lo``/``hi`` and the suffix), those it has."""
        clauses = []
        if span.lo is not None:
            clauses.append(self._key >= sa.bindparam(f"lo{suffix}"))
        if span.hi is not None:
            clauses.append(self._key < sa.bindparam(f"hi{suffix}"))
        return clauses

    def _sums(self) -> tuple[Any, Any]:
        return sa.func.count(), sa.func.coalesce(sa.func.sum(self._row_hash), 0)

    @staticmethod
    def _shape(span: KeyRange) -> KeyRange:
        """What a statement depends on: whether each bound is there, not its value."""
        return KeyRange("" if span.lo is not None else None, "" if span.hi is not None else None)

    async def _run(self, statement: Any, parameters: dict[str, Any]) -> list[Any]:
        async with self._engine.connect() as connection:
            return list((await connection.execute(statement, parameters)).all())

    async def digest(self, span: KeyRange) -> RangeDigest:
        shape = self._shape(span)
        statement = self._statement(("digest", shape), lambda: self._build_digest(shape))
        [(count, checksum)] = await self._run(statement, _bounds(span))
        return RangeDigest(int(count), int(checksum))

    def _build_digest(self, shape: KeyRange) -> sa.Select[Any]:
        return sa.select(*self._sums()).select_from(self._table).where(*self._where(shape))

    async def split(self, span: KeyRange, parts: int, rows: int | None = None) -> list[KeyRange]:
        """Cuts from a sample of the range's keys when it is large (one scan of the
        (key, row hash) index, nothing numbered), else from NTILE over all of them."""
        if rows is not None and rows > parts * SAMPLE_PER_PART:
            cuts = await self._sampled_cuts(span, parts, rows)
            if cuts:
                return _ranges(span, cuts)
        return _ranges(span, await self._tiled_cuts(span, parts))

    async def _sampled_cuts(self, span: KeyRange, parts: int, rows: int) -> list[str]:
        """The keys whose row hash is a multiple of ``every`` are a sample of about
        ``SAMPLE_PER_PART`` keys a part, spread as the keys are (the hash does not
        follow the key's order); evenly spaced sample keys cut the range into parts of
        about equal size. Far cheaper than numbering every row (measured at 1M rows in
        SQLite: 0.36 s against 7.4 s for NTILE). Hashes that do not spread (a constant
        column) give too few keys, or a first stretch only (the LIMIT bounds memory):
        the cuts are then uneven or missing, the next level evens them out, or the
        caller falls back to NTILE."""
        parameters = {
            **_bounds(span),
            "every": rows // (parts * SAMPLE_PER_PART),
            "most": parts * SAMPLE_PER_PART * 4,
        }
        shape = self._shape(span)
        statement = self._statement(("sample", shape), lambda: self._build_sample(shape))
        found = await self._run(statement, parameters)
        sample = [str(row[0]) for row in found]
        if not sample:
            return []
        chosen = {sample[len(sample) * index // parts] for index in range(1, parts)}
        return sorted(key for key in chosen if key != span.lo)

    def _build_sample(self, shape: KeyRange) -> sa.Select[Any]:
        return (
            sa.select(self._key)
            .select_from(self._table)
            .where(*self._where(shape), self._row_hash % sa.bindparam("every") == 0)
            .order_by(self._key)
            .limit(sa.bindparam("most"))
        )

    async def _tiled_cuts(self, span: KeyRange, parts: int) -> list[str]:
        """NTILE numbers the range's rows into ``parts`` equal groups in one pass; each
        group's first key is a cut (a key repeated across groups cuts once)."""
        shape = self._shape(span)
        statement = self._statement(
            ("tiles", shape, parts), lambda: self._build_tiles(shape, parts)
        )
        found = await self._run(statement, _bounds(span))
        firsts = [str(row[0]) for row in found]
        return sorted({key for key in firsts[1:] if key != span.lo})

    def _build_tiles(self, shape: KeyRange, parts: int) -> sa.Select[Any]:
        tiled = (
            sa.select(
                self._key.label("k"),
                sa.func.ntile(parts).over(order_by=self._key).label("tile"),
            )
            .select_from(self._table)
            .where(*self._where(shape))
            .subquery()
        )
        return sa.select(sa.func.min(tiled.c.k)).group_by(tiled.c.tile).order_by(tiled.c.tile)

    async def digests(self, spans: Sequence[KeyRange]) -> list[RangeDigest]:
        """One statement, a range scan per part (``UNION ALL``): each scan reads only its
        part of the index. A single grouped pass with a ``CASE`` over the cuts reads the
        same rows but tests every row against every cut (measured at 1M rows in SQLite:
        0.2 s against 3.4 s for 32 parts)."""
        if len(spans) < 2:
            return [await self.digest(span) for span in spans]
        shape = (spans[0].lo is None, spans[-1].hi is None, len(spans))
        parameters: dict[str, str] = {}
        for index, span in enumerate(spans):
            parameters |= _bounds(span, str(index))
        statement = self._statement(("digests", *shape), lambda: self._build_digests(*shape))
        found = {
            int(p): RangeDigest(int(n), int(h))
            for p, n, h in await self._run(statement, parameters)
        }
        return [found.get(index, EMPTY) for index in range(len(spans))]

    def _build_digests(
        self, open_below: bool, open_above: bool, parts: int
    ) -> sa.CompoundSelect[Any]:
        def shape(index: int) -> KeyRange:
            lo = None if index == 0 and open_below else ""
            return KeyRange(lo, None if index == parts - 1 and open_above else "")

        return sa.union_all(
            *(
                sa.select(sa.literal(index).label("part"), *self._sums())
                .select_from(self._table)
                .where(*self._where(shape(index), str(index)))
                for index in range(parts)
            )
        )

    async def rows(self, span: KeyRange) -> list[T]:
        shape = self._shape(span)
        statement = self._statement(("rows", shape), lambda: self._build_rows(shape))
        found = await self._run(statement, _bounds(span))
        return [self._to_row(row) for row in found]

    def _build_rows(self, shape: KeyRange) -> sa.Select[Any]:
        return (
            sa.select(*self._columns)
            .select_from(self._table)
            .where(*self._where(shape))
            .order_by(self._key)
        )
