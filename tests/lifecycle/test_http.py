"""The harness's retried reads: a dropped connection is asked again for a GET, never
for a POST."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connectors.errors import TransientError
from tests.lifecycle.http import RetryingReads, read_again


async def test_a_dropped_read_is_asked_again_and_a_dropped_write_is_not() -> None:
    served = 0

    async def drop_every_other(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal served
        served += 1
        await reader.readuntil(b"\r\n\r\n")
        if served % 2 == 1:  # the connection breaks before any answer
            writer.close()
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(drop_every_other, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/"
    try:
        async with httpx.AsyncClient(transport=RetryingReads()) as client:
            assert (await client.get(url)).text == "ok"
            assert served == 2
            with pytest.raises(httpx.RemoteProtocolError):
                await client.post(url)
            assert served == 3
    finally:
        server.close()
        await server.wait_closed()


async def test_a_connector_read_that_broke_is_asked_again_and_gives_up_in_the_end() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TransientError("ReadError talking to netsuite", system="netsuite")
        return "rows"

    assert await read_again(flaky) == "rows"
    assert calls == 3

    async def broken() -> str:
        raise TransientError("ReadError talking to netsuite", system="netsuite")

    with pytest.raises(TransientError):
        await read_again(broken)
