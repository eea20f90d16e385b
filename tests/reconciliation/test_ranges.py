"""Hashed key ranges over two real databases: exactly the differing keys, and only the
differing leaves read."""

from __future__ import annotations

import hashlib
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from reconciliation.merge import Joined
from reconciliation.ranges import KeyRange, RangeStats, compare_ranges
from reconciliation.sql_ranges import SqlRangeSource

META = sa.MetaData()
ORDERS = sa.Table(
    "orders",
    META,
    sa.Column("key", sa.String, primary_key=True),
    sa.Column("amount", sa.String, nullable=False),
    sa.Column("row_hash", sa.Integer, nullable=False),
)


def _hash(key: str, amount: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{key}|{amount}".encode(), digest_size=4).digest())


def _row(key: str, amount: str) -> dict[str, Any]:
    return {"key": key, "amount": amount, "row_hash": _hash(key, amount)}


async def _database(path: Path, rows: list[dict[str, Any]]) -> AsyncEngine:
    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:
        await connection.run_sync(META.create_all)
        if rows:
            await connection.execute(ORDERS.insert(), rows)
    return engine


def _source(engine: AsyncEngine) -> SqlRangeSource[tuple[str, str]]:
    return SqlRangeSource(
        engine,
        ORDERS,
        key=ORDERS.c.key,
        row_hash=ORDERS.c.row_hash,
        columns=[ORDERS.c.key, ORDERS.c.amount],
        to_row=lambda row: (str(row.key), str(row.amount)),
    )


@pytest.fixture
async def sides(tmp_path: Path) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine, set[str]]]:
    rng = random.Random(7)
    keys = sorted(
        {"006" + "".join(rng.choices("0123456789ABCDEFabcdef", k=12)) for _ in range(20_000)}
    )
    left = [_row(k, f"{rng.randint(1, 10_000)}.00") for k in keys]
    right = [dict(r) for r in left]
    drifted: set[str] = set()
    for index in rng.sample(range(len(right)), 12):
        right[index] = _row(right[index]["key"], "1.01")
        drifted.add(right[index]["key"])
    missing = rng.sample(range(len(right)), 5)
    drifted |= {right[i]["key"] for i in missing}
    right = [r for i, r in enumerate(right) if i not in set(missing)]
    extra = [_row("006zz" + str(n), "5.00") for n in range(3)]
    drifted |= {r["key"] for r in extra}
    a = await _database(tmp_path / "left.db", left)
    b = await _database(tmp_path / "right.db", right + extra)
    yield a, b, drifted
    await a.dispose()
    await b.dispose()


async def _differences(
    a: AsyncEngine, b: AsyncEngine, stats: RangeStats
) -> tuple[set[str], list[Joined[tuple[str, str], tuple[str, str]]]]:
    found: set[str] = set()
    visited: list[Joined[tuple[str, str], tuple[str, str]]] = []
    async for batch in compare_ranges(
        _source(a),
        _source(b),
        left_key=lambda r: r[0],
        right_key=lambda r: r[0],
        leaf_rows=200,
        fan_out=8,
        stats=stats,
    ):
        visited.extend(batch)
        for joined in batch:
            if [r[1] for r in joined.left] != [r[1] for r in joined.right]:
                found.add(joined.key)
    return found, visited


async def test_finds_exactly_the_differing_keys_reading_a_fraction_of_the_rows(
    sides: tuple[AsyncEngine, AsyncEngine, set[str]],
) -> None:
    a, b, drifted = sides
    stats = RangeStats()
    found, visited = await _differences(a, b, stats)
    assert found == drifted
    keys = [j.key for j in visited]
    assert keys == sorted(keys)  # leaves come out in key order
    assert stats.rows_fetched < 0.25 * 40_000
    assert stats.ranges_equal > 0


async def test_equal_sides_read_no_rows(tmp_path: Path) -> None:
    rows = [_row(f"k{n:05d}", "1.00") for n in range(5_000)]
    a = await _database(tmp_path / "a.db", rows)
    b = await _database(tmp_path / "b.db", rows)
    stats = RangeStats()
    found, _ = await _differences(a, b, stats)
    assert found == set()
    assert stats.rows_fetched == 0 and stats.ranges_digested == 1
    await a.dispose()
    await b.dispose()


async def test_one_empty_side_reports_every_key(tmp_path: Path) -> None:
    rows = [_row(f"k{n:04d}", "1.00") for n in range(1_000)]
    a = await _database(tmp_path / "a.db", rows)
    b = await _database(tmp_path / "b.db", [])
    found, _ = await _differences(a, b, RangeStats())
    assert found == {r["key"] for r in rows}
    await a.dispose()
    await b.dispose()


async def test_a_large_range_is_cut_from_a_sample_into_parts_of_about_equal_size(
    tmp_path: Path,
) -> None:
    rng = random.Random(11)
    keys = sorted({f"k{rng.randrange(10**9):09d}" for _ in range(30_000)})
    engine = await _database(tmp_path / "a.db", [_row(k, "1.00") for k in keys])
    source = _source(engine)
    span = KeyRange(keys[100], keys[-100])
    inside = [k for k in keys if k >= keys[100] and k < keys[-100]]
    parts = await source.split(span, 8, len(inside))
    assert [p.lo for p in parts[1:]] == [p.hi for p in parts[:-1]]  # adjacent
    assert (parts[0].lo, parts[-1].hi) == (span.lo, span.hi)  # covering
    sizes = [sum(1 for k in inside if p.lo <= k and (p.hi is None or k < p.hi)) for p in parts]
    assert len(parts) == 8
    assert max(sizes) < 2 * len(inside) / 8  # about equal: no part twice its share
    digests = await source.digests(parts)
    assert [d.count for d in digests] == sizes
    await engine.dispose()


async def test_hashes_that_sample_nothing_still_cut_the_range(tmp_path: Path) -> None:
    """A row hash that is the same for every row gives no sample: the cut falls back to
    numbering the rows, and still covers the range."""
    rows = [{"key": f"k{n:05d}", "amount": "1.00", "row_hash": 7} for n in range(5_000)]
    engine = await _database(tmp_path / "a.db", rows)
    parts = await _source(engine).split(KeyRange(), 4, len(rows))
    assert [(p.lo, p.hi) for p in parts] == [
        (None, "k01250"),
        ("k01250", "k02500"),
        ("k02500", "k03750"),
        ("k03750", None),
    ]
    await engine.dispose()
