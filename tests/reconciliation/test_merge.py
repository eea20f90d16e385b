"""The streaming merge-join: every key once, in order, whatever the page boundaries."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Sequence

import pytest

from reconciliation.merge import Joined, UnsortedSourceError, merge_join, pages_of


async def _join(
    left: list[str], right: list[str], left_page: int, right_page: int
) -> list[Joined[str, str]]:
    joined: list[Joined[str, str]] = []
    async for batch in merge_join(
        pages_of(left, left_page),
        pages_of(right, right_page),
        left_key=lambda k: k,
        right_key=lambda k: k,
    ):
        joined.extend(batch)
    return joined


def _expected(left: list[str], right: list[str]) -> list[tuple[str, int, int]]:
    return [(k, left.count(k), right.count(k)) for k in sorted(set(left) | set(right))]


@pytest.mark.parametrize("seed", range(25))
async def test_every_key_once_in_order_with_its_rows_from_both_sides(seed: int) -> None:
    rng = random.Random(seed)
    universe = [f"k{n:04d}" for n in range(300)]
    left = sorted(rng.choices(universe, k=rng.randint(0, 400)))
    right = sorted(rng.choices(universe, k=rng.randint(0, 400)))
    joined = await _join(left, right, rng.randint(1, 50), rng.randint(1, 50))
    assert [(j.key, len(j.left), len(j.right)) for j in joined] == _expected(left, right)


async def test_a_key_repeated_across_a_page_boundary_is_one_group() -> None:
    joined = await _join(["a", "b", "b", "b", "c"], ["b"], 2, 1)
    assert [(j.key, len(j.left), len(j.right)) for j in joined] == [
        ("a", 1, 0),
        ("b", 3, 1),
        ("c", 1, 0),
    ]


async def test_ordinal_order_puts_upper_case_first() -> None:
    keys = sorted(["a", "Z", "0", "b"])
    assert keys == ["0", "Z", "a", "b"]
    joined = await _join(keys, ["Z", "b"], 1, 1)
    assert [j.key for j in joined] == keys


async def test_batches_end_on_complete_keys_so_a_checkpoint_is_safe() -> None:
    left = [f"k{n:03d}" for n in range(100)]
    right = left[::3]
    seen: list[str] = []
    async for batch in merge_join(
        pages_of(left, 7), pages_of(right, 5), left_key=lambda k: k, right_key=lambda k: k
    ):
        # Everything up to the batch's last key is final: no later batch goes back.
        assert not seen or batch[0].key > seen[-1]
        seen.extend(j.key for j in batch)
    assert seen == left


async def test_an_unsorted_side_stops_the_comparison() -> None:
    with pytest.raises(UnsortedSourceError, match="'a' after 'b'"):
        await _join(["b", "a"], [], 5, 5)


async def test_pages_are_pulled_only_as_needed() -> None:
    pulled: list[int] = []

    async def counted(rows: Sequence[str], size: int) -> AsyncIterator[Sequence[str]]:
        for start in range(0, len(rows), size):
            pulled.append(start)
            yield rows[start : start + size]

    left = [f"k{n:04d}" for n in range(1000)]
    nothing: list[str] = []
    stream = merge_join(
        counted(left, 10), pages_of(nothing, 1), left_key=lambda k: k, right_key=lambda k: k
    )
    first = await anext(stream)
    assert first  # some rows came out before the whole side was read
    assert len(pulled) <= 2


async def test_the_next_page_is_read_while_the_current_one_is_compared() -> None:
    """One page ahead per side: a page's round trip overlaps the comparison of the last."""
    asked: list[int] = []
    second_asked = asyncio.Event()

    async def pages(rows: Sequence[str], size: int) -> AsyncIterator[Sequence[str]]:
        for start in range(0, len(rows), size):
            asked.append(start)
            if start == size:
                second_asked.set()
            yield rows[start : start + size]

    keys = [f"k{n:03d}" for n in range(30)]
    stream = merge_join(
        pages(keys, 10), pages_of(keys, 30), left_key=lambda k: k, right_key=lambda k: k
    )
    first = await anext(stream)
    assert [j.key for j in first] == keys[:9]  # k009 held back: page two might go on with it
    # While the caller holds the first batch, the side reads on, but only one page ahead.
    await asyncio.wait_for(second_asked.wait(), timeout=5)
    for _ in range(10):
        await asyncio.sleep(0)
    assert asked == [0, 10]
    await stream.aclose()


async def test_a_join_stopped_early_drops_the_page_it_was_reading() -> None:
    never = asyncio.Event()
    reading = asyncio.Event()
    dropped = asyncio.Event()

    async def slow(rows: Sequence[str]) -> AsyncIterator[Sequence[str]]:
        yield rows
        try:
            reading.set()
            await never.wait()  # a round trip that does not come back
            yield rows
        finally:
            dropped.set()

    stream = merge_join(
        slow(["a", "b"]), pages_of(["a", "b"], 2), left_key=lambda k: k, right_key=lambda k: k
    )
    assert [j.key for j in await anext(stream)] == ["a"]
    await asyncio.wait_for(reading.wait(), timeout=5)
    await stream.aclose()
    assert dropped.is_set()
