"""An ERP concurrency governor shared by every worker, on PostgreSQL advisory locks.

Each in-flight ERP call holds one of ``limit`` session-level advisory locks on a
connection of its own. The database is already shared by all workers, so no other
coordinator is needed; and a lock lives exactly as long as its connection, so a worker
that is killed mid-call gives its slots back when the server notices the dropped
connection, instead of leaking them until some lease expires.
"""

from __future__ import annotations

import asyncio
import random
import zlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import asyncpg


class PostgresGovernor:
    def __init__(
        self,
        database_url: str,
        limit: int,
        *,
        scope: str = "erp",
        poll_interval: float = 0.02,
    ) -> None:
        if limit < 1:
            raise ValueError("an ERP concurrency limit must be at least 1")
        self.limit = limit
        self._dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        # Two Syncline deployments against different ERP accounts must not share slots.
        self._key = zlib.crc32(f"syncline-governor:{scope}".encode()) & 0x7FFFFFFF
        self._poll_interval = poll_interval
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    async def _get_pool(self) -> asyncpg.Pool:
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(self._dsn, min_size=0, max_size=self.limit)
            return self._pool

    @asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        pool = await self._get_pool()
        async with pool.acquire() as connection:
            slot = await self._acquire(connection)
            try:
                yield
            finally:
                await connection.execute("SELECT pg_advisory_unlock($1, $2)", self._key, slot)

    async def _acquire(self, connection: asyncpg.Connection) -> int:
        while True:
            first = random.randrange(self.limit)
            for offset in range(self.limit):
                slot = (first + offset) % self.limit
                if await connection.fetchval(
                    "SELECT pg_try_advisory_lock($1, $2)", self._key, slot
                ):
                    return slot
            await asyncio.sleep(self._poll_interval * (1 + random.random()))

    def slot(self) -> AbstractAsyncContextManager[None]:
        return self._slot()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
