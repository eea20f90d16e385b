"""What every HTTP connector shares: the correlation header, timeouts, transport errors."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Self

import httpx

from connectors.errors import TransientError
from telemetry.correlation import CORRELATION_HEADER, current_correlation_id
from telemetry.metrics import HTTP_CLIENT_DURATION, operation_of, timed

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)
KEEPALIVE_EXPIRY = 5.0
"""Seconds an idle connection is kept for reuse (httpx's default). A server closing
idle connections sooner races the reuse; the servers Syncline starts wait longer."""


async def _add_correlation_id(request: httpx.Request) -> None:
    correlation_id = current_correlation_id()
    if correlation_id and CORRELATION_HEADER not in request.headers:
        request.headers[CORRELATION_HEADER] = correlation_id


class MeasuredTransport(httpx.AsyncBaseTransport):
    """Times every call into ``http.client.request.duration``, failures included (a
    timeout or a refused connection never reaches a response hook)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, system: str) -> None:
        self._inner = inner
        self._system = system

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        attributes: dict[str, str | int] = {
            "syncline.system": self._system,
            "syncline.operation": operation_of(request.method, request.url.path),
            "http.request.method": request.method,
            "server.address": request.url.host,
        }
        with timed() as elapsed:
            try:
                response = await self._inner.handle_async_request(request)
            except Exception as error:
                attributes["error.type"] = type(error).__name__
                HTTP_CLIENT_DURATION.record(elapsed[0], attributes)
                raise
        attributes["http.response.status_code"] = response.status_code
        if response.status_code >= 500:
            attributes["error.type"] = str(response.status_code)
        HTTP_CLIENT_DURATION.record(elapsed[0], attributes)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def build_http_client(
    base_url: str,
    *,
    system: str,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: httpx.Timeout = DEFAULT_TIMEOUT,
    max_connections: int = 50,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that stamps every request with the correlation id and
    measures every call as ``system``."""
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY,
    )
    return httpx.AsyncClient(
        base_url=base_url,
        transport=MeasuredTransport(transport or httpx.AsyncHTTPTransport(limits=limits), system),
        timeout=timeout,
        limits=limits,
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
