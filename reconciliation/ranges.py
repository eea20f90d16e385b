"""Hashed key ranges: compare two large sides by range digests, and fetch in full only
the ranges whose digests differ.

Both sides answer, for a key range, how many rows it holds and a checksum of their row
hashes; equal answers mean equal ranges (up to a 64-bit checksum collision). A range
that differs is split at keys one side names, until it is small enough to fetch and
merge row by row. Memory holds the ranges still to visit and one leaf's rows, so it
stays flat however many keys there are; the rows read are those of differing leaves.

This needs sides that can digest a range where the data lives (a database: the
ledger, a warehouse copy, an ERP export). The CRM and ERP APIs cannot (SOQL and
SuiteQL have no hash function), so those sides stream through ``merge_join``.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from reconciliation.merge import Joined, merge_join, pages_of

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
L = TypeVar("L")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class RangeDigest:
    count: int
    checksum: int


@dataclass(frozen=True, slots=True)
class KeyRange:
    """Keys ``lo <= key < hi``; None is unbounded."""

    lo: str | None = None
    hi: str | None = None


class RangeSource(Protocol[T_co]):
    async def digest(self, span: KeyRange) -> RangeDigest: ...

    async def rows(self, span: KeyRange) -> Sequence[T_co]:
        """The rows in ``span``, in key order."""
        ...

    async def split_keys(self, span: KeyRange, parts: int) -> list[str]:
        """Up to ``parts - 1`` keys inside ``span`` cutting it into parts of about equal
        size, ascending."""
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
    leaf_rows: int = 2_000,
    fan_out: int = 16,
    stats: RangeStats | None = None,
) -> AsyncIterator[list[Joined[L, R]]]:
    """Every key of a differing leaf, joined, in key order, a batch per leaf. Keys of
    equal ranges are not visited; a consumer that needs per-key results for them is
    told they agree by their absence."""
    stats = stats if stats is not None else RangeStats()
    pending = [KeyRange()]
    while pending:
        span = pending.pop()
        a, b = await left.digest(span), await right.digest(span)
        stats.ranges_digested += 1
        if a == b:
            stats.ranges_equal += 1
            continue
        parts: list[KeyRange] = []
        if max(a.count, b.count) > leaf_rows:
            larger: RangeSource[L] | RangeSource[R] = left if a.count >= b.count else right
            parts = _subranges(span, await larger.split_keys(span, fan_out))
        if len(parts) >= 2:
            # Pushed in reverse so ranges are visited in key order (a stack, not a
            # queue: it holds at most depth x fan-out ranges).
            pending.extend(reversed(parts))
            continue
        # Small enough, or one key holds the whole range (no split can shrink it).
        lefts, rights = await left.rows(span), await right.rows(span)
        stats.leaves_fetched += 1
        stats.rows_fetched += len(lefts) + len(rights)
        async for batch in merge_join(
            pages_of(lefts, max(1, len(lefts))),
            pages_of(rights, max(1, len(rights))),
            left_key=left_key,
            right_key=right_key,
        ):
            yield batch


def _subranges(span: KeyRange, cuts: list[str]) -> list[KeyRange]:
    inner = sorted({c for c in cuts if _inside(span, c) and c != span.lo})
    bounds: list[str | None] = [span.lo, *inner, span.hi]
    return [KeyRange(lo, hi) for lo, hi in itertools.pairwise(bounds)]


def _inside(span: KeyRange, key: str) -> bool:
    return (span.lo is None or key >= span.lo) and (span.hi is None or key < span.hi)
