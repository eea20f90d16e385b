"""The keyset merge over several stamp columns, against an in-memory Tryton search."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.tryton import keyset

T0 = datetime(2025, 1, 1, tzinfo=UTC)


def _at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _maybe(minutes: int | None) -> datetime | None:
    """A ``write_date``: empty until the record's first change."""
    return None if minutes is None else _at(minutes)


def _get(record: dict[str, Any], dotted: str) -> Any:
    value: Any = record
    for name in dotted.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value


def _matches(record: dict[str, Any], clause: Any) -> bool:
    """The few domain shapes the keyset sends: AND lists, OR lists, leaves."""
    if isinstance(clause, tuple):
        name, operator, value = clause
        actual = _get(record, name)
        if operator == "=":
            return bool(actual == value)
        if actual is None:
            return False  # SQL: NULL compares false
        return bool(actual > value)
    if clause and clause[0] == "OR":
        return any(_matches(record, c) for c in clause[1:])
    return all(_matches(record, c) for c in clause)


class FakeTryton:
    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records
        self.calls = 0

    async def search(
        self, domain: list[Any], order: list[tuple[str, str]], size: int
    ) -> list[dict[str, Any]]:
        self.calls += 1
        found = [r for r in self.records if _matches(r, domain)]
        found.sort(key=lambda r: tuple(_get(r, name) for name, _ in order))
        return found[:size]


def _product(
    record_id: int, write: int | None, create: int, t_write: int | None, t_create: int
) -> dict[str, Any]:
    """A variant and its template, each stamped (in minutes after ``T0``)."""
    return {
        "id": record_id,
        "write_date": _maybe(write),
        "create_date": _at(create),
        "template": {"write_date": _maybe(t_write), "create_date": _at(t_create)},
    }


async def _read_all(
    fake: FakeTryton, stamps: keyset.Stamps, after: keyset.Key, limit: int
) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    while True:
        records, has_more = await keyset.page(fake.search, stamps, after, limit)
        assert records or not has_more, "an empty page must be the last"
        seen += records
        if records:
            after = stamps.key(records[-1])
        if not has_more:
            return seen


async def test_unwritten_records_count_by_their_creation_and_templates_by_theirs() -> None:
    stamps = keyset.Stamps(tables=("", "template."))
    fake = FakeTryton(
        [
            _product(1, None, 1, None, 1),  # never edited: created at 1
            _product(2, 5, 1, None, 1),  # the variant edited at 5
            _product(3, None, 2, 4, 2),  # the template edited (repriced) at 4
            _product(4, 3, 3, 9, 3),  # both edited: the later wins
        ]
    )
    seen = await _read_all(fake, stamps, (_at(0), 0), limit=1)
    assert [r["id"] for r in seen] == [1, 3, 2, 4]
    assert [stamps.modified_at(r) for r in seen] == [_at(1), _at(4), _at(5), _at(9)]
    later = await _read_all(fake, stamps, (_at(4), 3), limit=10)
    assert [r["id"] for r in later] == [2, 4]


async def test_records_sharing_a_timestamp_are_split_across_pages_by_id() -> None:
    stamps = keyset.Stamps()
    fake = FakeTryton(
        [{"id": i, "write_date": _at(7), "create_date": _at(1)} for i in (5, 2, 9, 4)]
    )
    first, more = await keyset.page(fake.search, stamps, (T0, 0), 2)
    assert [r["id"] for r in first] == [2, 4] and more
    rest, more = await keyset.page(fake.search, stamps, stamps.key(first[-1]), 2)
    assert [r["id"] for r in rest] == [5, 9] and not more


async def test_a_source_full_of_records_stamped_later_elsewhere_does_not_stall_the_page() -> None:
    # Every variant was edited early and every template late: the variant source
    # fills up with records whose time lies past the template source's bound.
    stamps = keyset.Stamps(tables=("", "template."))
    records = [_product(i, 1, 0, 100 - i, 0) for i in range(1, 8)]
    records.append(_product(50, 2, 0, None, 0))
    fake = FakeTryton(records)
    seen = await _read_all(fake, stamps, (T0, 0), limit=2)
    assert [r["id"] for r in seen] == [50, 7, 6, 5, 4, 3, 2, 1]


@pytest.mark.parametrize("seed", range(40))
async def test_any_history_is_read_once_in_order_whatever_the_page_size(seed: int) -> None:
    rng = random.Random(seed)
    records = []
    for record_id in rng.sample(range(1, 200), 25):
        create = rng.randint(0, 5)
        t_create = rng.randint(0, 5)
        write = rng.choice([None, create + rng.randint(0, 5)])
        t_write = rng.choice([None, t_create + rng.randint(0, 5)])
        records.append(_product(record_id, write, create, t_write, t_create))
    stamps = keyset.Stamps(tables=("", "template."))
    start = (_at(rng.randint(0, 4)), rng.randint(0, 200))
    expected = sorted((r for r in records if stamps.key(r) > start), key=stamps.key)
    seen = await _read_all(FakeTryton(records), stamps, start, limit=rng.randint(1, 6))
    assert [r["id"] for r in seen] == [r["id"] for r in expected]


async def test_a_kind_always_written_reads_one_source() -> None:
    stamps = keyset.Stamps(always_written=True)
    fake = FakeTryton([{"id": 1, "write_date": _at(2), "create_date": _at(1)}])
    records, more = await keyset.page(fake.search, stamps, (T0, 0), 5)
    assert [r["id"] for r in records] == [1] and not more
    assert fake.calls == 1
