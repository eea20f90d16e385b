"""Heartbeats for activities that wait on a remote system.

A CRM or ERP call can legitimately take a while (a slow ERP, a queue for an ERP
concurrency slot), so its start-to-close timeout is generous. Without heartbeats, a
worker killed mid-call would leave the deal waiting out that whole timeout before
Temporal retries it elsewhere; beating every third of the heartbeat timeout lets
Temporal notice a dead worker within seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from temporalio import activity

P = ParamSpec("P")
R = TypeVar("R")


def heartbeating(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        timeout = activity.info().heartbeat_timeout
        if not timeout:
            return await fn(*args, **kwargs)
        interval = timeout.total_seconds() / 3

        async def beat() -> None:
            while True:
                await asyncio.sleep(interval)
                activity.heartbeat()

        beating = asyncio.create_task(beat())
        try:
            return await fn(*args, **kwargs)
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating

    return wrapper
