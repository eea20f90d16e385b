"""What every HTTP connector shares: the correlation header, timeouts, transport errors."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Self

import httpx

from connectors.context import CORRELATION_HEADER, current_correlation_id
from connectors.errors import TransientError

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


async def _add_correlation_id(request: httpx.Request) -> None:
    correlation_id = current_correlation_id()
    if correlation_id and CORRELATION_HEADER not in request.headers:
        request.headers[CORRELATION_HEADER] = correlation_id


def build_http_client(
    base_url: str,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    max_connections: int = 50,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that stamps every request with the correlation id."""
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=timeout,
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        event_hooks={"request": [_add_correlation_id]},
    )


def retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header as seconds: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def transport_error(system: str, exc: httpx.TransportError) -> TransientError:
    """A network failure says nothing about the data: always worth a retry.

    A connection cut after the server committed (a lost response) lands here too; the
    callers' find-or-create writes make the retry safe.
    """
    return TransientError(f"{type(exc).__name__} talking to {system}", system=system)


class HttpConnector:
    """What every connector owning one ``httpx.AsyncClient`` does to close it."""

    _http: httpx.AsyncClient

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
