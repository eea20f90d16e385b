"""Merging shard summaries: counts add up, the wall time is the longest shard's, and
each violation keeps the shortest example any shard found."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lifecycle.shards import merge, shard_seeds, shard_sizes


def _summary(
    seed: int, sequences: int, violations: dict[str, int], example_steps: int
) -> dict[str, Any]:
    return {
        "seed": seed,
        "sequences": sequences,
        "operations": sequences * 10,
        "checks": sequences * 20,
        "sequences_with_violations": 1 if violations else 0,
        "violations": sum(violations.values()),
        "violations_by_kind": violations,
        "known_bugs": {},
        "new_violations_by_kind": violations,
        "seconds": 100.0 + seed,
        "examples": {f"new: {kind}": {"steps": [{}] * example_steps} for kind in violations},
    }


def test_shards_merge_into_one_summary() -> None:
    merged = merge(
        [
            _summary(1, 334, {"bookings": 2}, example_steps=9),
            _summary(2, 333, {}, example_steps=0),
            _summary(3, 333, {"bookings": 1, "write_back": 1}, example_steps=4),
        ]
    )
    assert merged["seeds"] == [1, 2, 3]
    assert merged["sequences"] == 1000
    assert merged["operations"] == 10_000
    assert merged["checks"] == 20_000
    assert merged["sequences_with_violations"] == 2
    assert merged["violations"] == 4
    assert merged["violations_by_kind"] == {"bookings": 3, "write_back": 1}
    assert merged["seconds"] == 103.0
    assert len(merged["examples"]["new: bookings"]["steps"]) == 4


def test_nothing_to_merge_is_an_error() -> None:
    with pytest.raises(ValueError):
        merge([])


@pytest.mark.parametrize(("sequences", "shards"), [(1000, 3), (7, 7), (5, 2), (1, 4)])
def test_shards_take_every_sequence_once(sequences: int, shards: int) -> None:
    sizes = shard_sizes(sequences, shards)
    assert sum(sizes) == sequences
    assert max(sizes) - min(sizes) <= 1
    assert shard_seeds(20261201, shards)[:2] == [20261201, 20261202][:shards]
