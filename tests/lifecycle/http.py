"""The harness's HTTP reads, retried when the connection breaks.

A long exploration runs for hours beside other stacks; a sandbox or the API closing a
keep-alive connection under that load once ended a whole run on the harness's own
``ReadError``. A broken connection is retried for reads only (a GET asks again; a POST
might act twice), a refused one for anything (nothing was sent); an answer, whatever
its status, is the system's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import httpx

from connectors.errors import TransientError

ATTEMPTS = 3
T = TypeVar("T")


class RetryingReads(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        attempt = 1
        while True:
            try:
                return await super().handle_async_request(request)
            except httpx.ConnectError:
                if attempt >= ATTEMPTS:  # never sent: safe to send again, whatever it is
                    raise
            except (httpx.ReadError, httpx.RemoteProtocolError):
                if request.method != "GET" or attempt >= ATTEMPTS:
                    raise
            await asyncio.sleep(0.2 * attempt)
            attempt += 1


async def read_again(read: Callable[[], Awaitable[T]]) -> T:
    """A harness read of the ERP through Syncline's own connector (which leaves retries
    to Temporal), asked again when the connection broke: the run of 1,000 lost a shard
    to one ``ReadError`` of a SuiteQL read (a POST, so ``RetryingReads`` may not)."""
    attempt = 1
    while True:
        try:
            return await read()
        except TransientError:
            if attempt >= ATTEMPTS:
                raise
        await asyncio.sleep(0.2 * attempt)
        attempt += 1
