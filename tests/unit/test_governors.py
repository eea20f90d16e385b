"""The ERP concurrency limit holds within one worker and across several."""

from __future__ import annotations

import asyncio

import pytest

from connectors.governor import ConcurrencyGovernor, LocalGovernor
from store.pg_governor import PostgresGovernor
from tests.conftest import postgres_url


class InFlight:
    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    async def call(self, governor: ConcurrencyGovernor) -> None:
        async with governor.slot():
            self.now += 1
            self.peak = max(self.peak, self.now)
            await asyncio.sleep(0.01)
            self.now -= 1


async def test_local_governor_caps_in_flight_calls() -> None:
    governor = LocalGovernor(3)
    meter = InFlight()
    await asyncio.gather(*(meter.call(governor) for _ in range(30)))
    assert meter.peak == 3 and governor.peak == 3


@pytest.mark.postgres
async def test_postgres_governor_caps_calls_across_workers() -> None:
    url = postgres_url()
    # Two governors stand for two worker processes: each could run 3 at once alone.
    workers = [
        PostgresGovernor(url, 3, scope="test-cap"),
        PostgresGovernor(url, 3, scope="test-cap"),
    ]
    meter = InFlight()
    try:
        await asyncio.gather(*(meter.call(workers[i % 2]) for i in range(40)))
    finally:
        for governor in workers:
            await governor.close()
    assert meter.peak == 3


@pytest.mark.postgres
async def test_a_dead_workers_slots_come_back() -> None:
    url = postgres_url()
    crashed = PostgresGovernor(url, 1, scope="test-crash")
    survivor = PostgresGovernor(url, 1, scope="test-crash")
    holding = crashed.slot()
    await holding.__aenter__()
    assert crashed._pool is not None
    crashed._pool.terminate()  # the process dies holding the slot: no unlock is sent
    await asyncio.wait_for(survivor.slot().__aenter__(), timeout=5)
    await survivor.close()
