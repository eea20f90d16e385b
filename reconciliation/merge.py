"""A streaming merge-join of two sides read in the same key order, page by page.

Neither side is ever held whole: each keeps one page (plus the rows of its last key,
held back until the next page shows whether that key goes on). Memory is bounded by
the page size, whatever the number of records. A side that is not in key order would
turn every record into a false difference, so it stops the comparison instead.

Each side's next page is read while the current one is merged (one page ahead, no
more): against an API a page is a round trip, against a database a query that runs in
the driver's thread, and either overlaps the comparison instead of following it.
"""

from __future__ import annotations

import asyncio
import operator
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Generic, TypeVar

L = TypeVar("L")
R = TypeVar("R")
T = TypeVar("T")


class UnsortedSourceError(RuntimeError):
    """A side returned keys out of order: comparing it would report false differences."""


@dataclass(slots=True)
class Joined(Generic[L, R]):
    """Everything both sides hold under one key (more than one row is a duplicate)."""

    key: str
    left: list[L]
    right: list[R]


@dataclass
class _Side(Generic[T]):
    """One side's rows whose keys are complete: no later page can add to them."""

    name: str
    pages: AsyncIterator[Sequence[T]]
    key_of: Callable[[T], str]
    rows: list[T] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    at: int = 0
    held_rows: list[T] = field(default_factory=list)
    held_keys: list[str] = field(default_factory=list)
    last_key: str | None = None
    exhausted: bool = False
    read: int = 0
    ahead: asyncio.Task[Sequence[T] | None] | None = None
    """The next page, being read while this one is merged."""

    @property
    def empty(self) -> bool:
        return self.at >= len(self.rows)

    async def fill(self) -> None:
        """Read pages until some complete rows are visible or the side is done."""
        while self.empty and not self.exhausted:
            ahead, self.ahead = self.ahead, None
            page = await (ahead if ahead is not None else _next_page(self.pages))
            if page is None:
                self.exhausted = True
                self._show(self.held_rows, self.held_keys)
                self.held_rows, self.held_keys = [], []
                return
            self.ahead = asyncio.ensure_future(_next_page(self.pages))
            keys = list(map(self.key_of, page))
            self._check_order(keys)
            self.read += len(page)
            rows = self.held_rows + list(page)
            keys = self.held_keys + keys
            if not keys:
                continue
            # The last key's rows may go on in the next page: hold them back.
            cut = len(keys)
            while cut > 0 and keys[cut - 1] == keys[-1]:
                cut -= 1
            self._show(rows[:cut], keys[:cut])
            self.held_rows, self.held_keys = rows[cut:], keys[cut:]

    def _show(self, rows: list[T], keys: list[str]) -> None:
        self.rows, self.keys, self.at = rows, keys, 0

    def _check_order(self, keys: list[str]) -> None:
        if not keys:
            return
        chained = keys if self.last_key is None else [self.last_key, *keys]
        # One pass in C for the common, ordered case; the offending pair only on failure.
        if not all(map(operator.le, chained, chained[1:])):
            previous = chained[0]
            for key in chained[1:]:
                if key < previous:
                    raise UnsortedSourceError(
                        f"{self.name} returned {key!r} after {previous!r}: not in key order"
                    )
                previous = key
        self.last_key = keys[-1]

    def take_group(self) -> tuple[str, list[T]]:
        keys, at = self.keys, self.at
        key = keys[at]
        end = at + 1
        count = len(keys)
        while end < count and keys[end] == key:
            end += 1
        self.at = end
        return key, self.rows[at:end]

    async def stop(self) -> None:
        """Drop a page read ahead that nobody will merge (the join ended early)."""
        ahead, self.ahead = self.ahead, None
        if ahead is None:
            return
        ahead.cancel()
        await asyncio.wait([ahead])
        if not ahead.cancelled():
            ahead.exception()  # retrieved: the join's own error is the one to report


async def _next_page(pages: AsyncIterator[Sequence[T]]) -> Sequence[T] | None:
    """The next page, or None at the end (a task cannot raise StopAsyncIteration)."""
    try:
        return await anext(pages)
    except StopAsyncIteration:
        return None


async def merge_join(
    left: AsyncIterator[Sequence[L]],
    right: AsyncIterator[Sequence[R]],
    *,
    left_key: Callable[[L], str],
    right_key: Callable[[R], str],
    names: tuple[str, str] = ("left", "right"),
) -> AsyncIterator[list[Joined[L, R]]]:
    """Yield every key of either side, in key order, in batches: all keys up to the last
    of a batch are complete, so a consumer may checkpoint after it."""
    a: _Side[L] = _Side(names[0], left, left_key)
    b: _Side[R] = _Side(names[1], right, right_key)
    try:
        async with aclosing(_join(a, b)) as batches:
            async for batch in batches:
                yield batch
    finally:
        await a.stop()
        await b.stop()


async def _join(a: _Side[L], b: _Side[R]) -> AsyncGenerator[list[Joined[L, R]]]:
    await a.fill()
    await b.fill()
    while not (a.empty and b.empty):
        batch: list[Joined[L, R]] = []
        # Compare only while both sides show rows (or one is done): a side with no
        # visible rows might still hold a smaller key in its next page.
        while (not a.empty or a.exhausted) and (not b.empty or b.exhausted):
            if a.empty and b.empty:
                break
            if b.empty or (not a.empty and a.keys[a.at] < b.keys[b.at]):
                key, lefts = a.take_group()
                batch.append(Joined(key, lefts, []))
            elif a.empty or b.keys[b.at] < a.keys[a.at]:
                key, rights = b.take_group()
                batch.append(Joined(key, [], rights))
            else:
                key, lefts = a.take_group()
                _, rights = b.take_group()
                batch.append(Joined(key, lefts, rights))
        if batch:
            yield batch
        await a.fill()
        await b.fill()


async def pages_of(items: Sequence[T], size: int) -> AsyncIterator[Sequence[T]]:
    """A list as pages (tests, and sides already in memory)."""
    for start in range(0, len(items), size):
        yield items[start : start + size]
