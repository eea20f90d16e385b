"""Hashed key ranges: compare two large sides by range digests, and fetch in full only
the ranges whose digests differ.

Both sides answer, for a key range, how many rows it holds and the sum of their 32-bit
row hashes; equal answers mean equal ranges, but for a 2^-32 chance that a changed row
hashes to the same sum (the count catches added and missing rows). A range
that differs is cut into parts of about equal size by the side holding more of it (one
read); each side then digests all the parts in one read. Parts small enough are fetched
and merged row by row. Memory holds the ranges still to visit and one leaf's rows, so
it stays flat however many keys there are; the rows read are those of differing leaves.

This needs sides that can digest a range where the data lives (a database: the
ledger, a warehouse copy, an ERP export). The CRM and ERP APIs cannot (SOQL and
SuiteQL have no hash function), so those sides stream through ``merge_join``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from reconciliation.merge import Joined, merge_join, pages_of

L = TypeVar("L")
R = TypeVar("R")
T_co = TypeVar("T_co", covariant=True)


@dataclass(frozen=True, slots=True)
class RangeDigest:
    count: int
    checksum: int


EMPTY = RangeDigest(0, 0)


@dataclass(frozen=True, slots=True)
class KeyRange:
    """Keys ``lo <= key < hi``; None is unbounded."""

    lo: str | None = None
    hi: str | None = None


class RangeSource(Protocol[T_co]):
    async def digest(self, span: KeyRange) -> RangeDigest: ...

    async def split(self, span: KeyRange, parts: int, rows: int | None = None) -> list[KeyRange]:
        """``span`` cut into at most ``parts`` adjacent ranges of about equal size on
        this side, covering all of it (a key is never cut in two). ``rows``: how many
        rows this side holds in ``span``, when known (its digest's count)."""
        ...

    async def digests(self, spans: Sequence[KeyRange]) -> list[RangeDigest]:
        """The digest of each of these adjacent ranges, in order."""
        ...

    async def rows(self, span: KeyRange) -> Sequence[T_co]:
        """The rows in ``span``, in key order."""
        ...


@dataclass
class RangeStats:
    ranges_digested: int = 0
    ranges_equal: int = 0
    leaves_fetched: int = 0
    rows_fetched: int = 0


async def compare_ranges(
    left: RangeSource[L],
    right: RangeSource[R],
    *,
    left_key: Callable[[L], str],
    right_key: Callable[[R], str],
    leaf_rows: int = 256,
    fan_out: int = 32,
    stats: RangeStats | None = None,
) -> AsyncIterator[list[Joined[L, R]]]:
    """Every key of a differing leaf, joined, in key order, a batch per leaf. Keys of
    equal ranges are not visited: they agree."""
    stats = stats if stats is not None else RangeStats()
    whole = KeyRange()
    a, b = await asyncio.gather(left.digest(whole), right.digest(whole))
    pending = [(whole, a, b)]
    stats.ranges_digested += 1
    while pending:
        span, a, b = pending.pop()
        if a == b:
            stats.ranges_equal += 1
            continue
        parts = (
            await _cut(left, right, span, a, b, fan_out)
            if max(a.count, b.count) > leaf_rows
            else []
        )
        if len(parts) >= 2:
            stats.ranges_digested += len(parts)
            # Pushed in reverse so ranges are visited in key order (a stack, not a
            # queue: it holds at most depth x fan-out ranges).
            pending.extend(reversed(parts))
            continue
        # Small enough, or one key holds the whole range (no cut can shrink it).
        lefts, rights = await asyncio.gather(left.rows(span), right.rows(span))
        stats.leaves_fetched += 1
        stats.rows_fetched += len(lefts) + len(rights)
        async for batch in merge_join(
            pages_of(lefts, max(1, len(lefts))),
            pages_of(rights, max(1, len(rights))),
            left_key=left_key,
            right_key=right_key,
        ):
            yield batch


async def _cut(
    left: RangeSource[L],
    right: RangeSource[R],
    span: KeyRange,
    a: RangeDigest,
    b: RangeDigest,
    fan_out: int,
) -> list[tuple[KeyRange, RangeDigest, RangeDigest]]:
    """The side holding more of ``span`` cuts it; both digest the same parts (at the
    same time: each side is its own database, or at least its own connection)."""
    larger: RangeSource[L] | RangeSource[R] = left if a.count >= b.count else right
    parts = await larger.split(span, fan_out, max(a.count, b.count))
    if len(parts) < 2:
        return []
    lefts, rights = await asyncio.gather(left.digests(parts), right.digests(parts))
    return list(zip(parts, lefts, rights, strict=True))
