"""Keyset paging over Tryton's modification stamps: strictly after (modified_at, id).

A record's modification time in Tryton is its ``write_date``, or its ``create_date``
until its first change: Tryton leaves ``write_date`` empty until then, so a domain on
``write_date`` alone never finds a record nobody has edited. Some records also take
their time from a second table: a product (variant) shows its template's name and list
price, and an edit of the template stamps only the template.

Tryton's domains cannot order by COALESCE or GREATEST of columns, so each stamp column
is read as its own *source* — ordered by that column, then id — and the sources are
merged here by the record's modification time: the greatest of its tables' stamps.

Why the merge is exact: a record's time is the stamp of one of its sources, so every
record up to the smallest "last key read" among the sources that still have more
(``bound``) has been read by that source. Records past the bound wait for a later page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

Record = dict[str, Any]
Key = tuple[datetime, int]
Search = Callable[[list[Any], list[tuple[str, str]], int], Awaitable[list[Record]]]
"""``search(domain, order, limit)`` over the model being paged, with its own filters."""


@dataclass(frozen=True)
class Source:
    """One stamp column, read in (column, id) order."""

    stamp: str
    unwritten: str | None = None
    """For a ``create_date``: the ``write_date`` that must still be empty."""

    def domain(self, after: Key) -> list[Any]:
        moment, record_id = after
        later: list[Any] = [
            "OR",
            (self.stamp, ">", moment),
            [(self.stamp, "=", moment), ("id", ">", record_id)],
        ]
        return [later] if self.unwritten is None else [(self.unwritten, "=", None), later]

    @property
    def order(self) -> list[tuple[str, str]]:
        return [(self.stamp, "ASC"), ("id", "ASC")]

    def key(self, record: Record) -> Key:
        value = _path(record, self.stamp)
        if not isinstance(value, datetime):
            raise ValueError(f"record {record.get('id')} has no {self.stamp}")
        return value, int(record["id"])


@dataclass(frozen=True)
class Stamps:
    """Where one kind of record keeps its modification time."""

    tables: tuple[str, ...] = ("",)
    """Field prefixes: ``""`` for the record itself, ``"template."`` for its template."""
    always_written: bool = False
    """True when the kind's domain only matches records Tryton has written since
    creation (a posted invoice, a confirmed sale): ``create_date`` is then never the
    stamp, and reading it as a source would cost a call for nothing."""

    @property
    def sources(self) -> tuple[Source, ...]:
        sources: list[Source] = []
        for table in self.tables:
            sources.append(Source(f"{table}write_date"))
            if not self.always_written:
                sources.append(Source(f"{table}create_date", unwritten=f"{table}write_date"))
        return tuple(sources)

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(f"{table}{name}" for table in self.tables for name in _STAMPS)

    def modified_at(self, record: Record) -> datetime:
        return max(_stamp(record, table) for table in self.tables)

    def key(self, record: Record) -> Key:
        return self.modified_at(record), int(record["id"])


_STAMPS = ("write_date", "create_date")


class _SourceRead:
    """How far one source has been read."""

    def __init__(self, source: Source, after: Key) -> None:
        self.source = source
        self.after = after
        self.last: Key | None = None
        self.exhausted = False
        self.due = True

    async def next(self, search: Search, size: int) -> list[Record]:
        records = await search(self.source.domain(self.after), self.source.order, size)
        self.due = False
        if len(records) < size:
            self.exhausted = True
        else:
            self.last = self.after = self.source.key(records[-1])
        return records


async def page(search: Search, stamps: Stamps, after: Key, limit: int) -> tuple[list[Record], bool]:
    """Up to ``limit`` records strictly after ``after`` in (modified_at, id) order, and
    whether more may follow. Never an empty page while more follow: the caller's next
    cursor is the last record's key."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    reads = [_SourceRead(source, after) for source in stamps.sources]
    found: dict[int, Record] = {}
    while True:
        for read in reads:
            if read.due:
                found.update((int(r["id"]), r) for r in await read.next(search, limit + 1))
        bound = min((r.last for r in reads if not r.exhausted and r.last is not None), default=None)
        ready = sorted(
            (r for r in found.values() if bound is None or stamps.key(r) <= bound),
            key=stamps.key,
        )
        if ready or bound is None:
            return ready[:limit], len(ready) > limit or bound is not None
        # Everything read so far lies past the bound: read on in the sources holding it.
        for read in reads:
            read.due = not read.exhausted and read.last == bound


def _stamp(record: Record, table: str) -> datetime:
    """A table's stamp: ``write_date``, or ``create_date`` before the first write."""
    stamp = _path(record, f"{table}write_date") or _path(record, f"{table}create_date")
    if not isinstance(stamp, datetime):
        raise ValueError(f"record {record.get('id')} has no {table or 'own '}timestamp")
    return stamp


def _path(record: Record, dotted: str) -> Any:
    """A dotted field as Tryton's REST API nests it: ``template.write_date``."""
    value: Any = record
    for name in dotted.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value


def merge_fields(*groups: Sequence[str]) -> list[str]:
    """Field names without repeats, in order."""
    return list(dict.fromkeys(name for group in groups for name in group))
