"""Every NetSuite failure maps to exactly one connector error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from connectors.netsuite import map_error

from .fake import FakeNetSuite, ns_error


async def error_from(response: httpx.Response | Exception) -> ConnectorError:
    def handler(request: httpx.Request) -> httpx.Response:
        if isinstance(response, Exception):
            raise response
        return response

    client = FakeNetSuite(handler).client()
    try:
        with pytest.raises(ConnectorError) as info:
            await client.get_record("salesOrder", "1")
    finally:
        await client.aclose()
    return info.value


async def test_sss_request_limit_exceeded_is_rate_limiting() -> None:
    error = await error_from(
        ns_error(
            400, "SSS_REQUEST_LIMIT_EXCEEDED", "Concurrent request limit exceeded. Request blocked."
        )
    )
    assert type(error) is RateLimitedError
    assert not isinstance(error, RejectedError)
    assert error.code == "SSS_REQUEST_LIMIT_EXCEEDED" and error.status_code == 400


async def test_429_with_retry_after() -> None:
    error = await error_from(
        ns_error(429, "CONCURRENCY_LIMIT_EXCEEDED", "slow down", headers={"Retry-After": "7"})
    )
    assert isinstance(error, RateLimitedError) and error.retry_after == 7.0
    plain = await error_from(httpx.Response(429))
    assert isinstance(plain, RateLimitedError) and plain.retry_after is None


def test_retry_after_as_http_date() -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    error = map_error(httpx.Response(429, headers={"Retry-After": when}))
    assert isinstance(error, RateLimitedError)
    assert error.retry_after is not None and 25 <= error.retry_after <= 30


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_transient(status: int) -> None:
    error = await error_from(httpx.Response(status, text="<html>upstream</html>"))
    assert type(error) is TransientError
    assert error.status_code == status and f"HTTP {status}" in error.message


async def test_transport_errors_are_transient() -> None:
    for exc in (
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("peer closed connection"),
    ):
        error = await error_from(exc)
        assert type(error) is TransientError


async def test_business_rejection_carries_detail_code_and_fields() -> None:
    response = httpx.Response(
        400,
        json={
            "status": 400,
            "o:errorDetails": [
                {
                    "detail": "Invalid item reference key 99.",
                    "o:errorCode": "INVALID_KEY_OR_REF",
                    "o:errorPath": "item.items[0].item",
                },
                {
                    "detail": "The accounting period Oct 2026 is closed.",
                    "o:errorCode": "USER_ERROR",
                    "o:errorPath": "tranDate",
                },
            ],
        },
    )
    error = await error_from(response)
    assert isinstance(error, RejectedError)
    assert error.code == "INVALID_KEY_OR_REF"
    assert error.fields == ("item.items[0].item", "tranDate")
    assert error.message == (
        "Invalid item reference key 99.; The accounting period Oct 2026 is closed."
    )


async def test_not_found_and_forbidden() -> None:
    assert type(await error_from(ns_error(404, "NONEXISTENT_ID", "gone"))) is NotFoundError
    assert type(await error_from(ns_error(403, "INSUFFICIENT_PERMISSION", "no"))) is AuthError


def test_record_changed_is_transient() -> None:
    error = map_error(ns_error(400, "RCRD_HAS_BEEN_CHANGED", "Record has been changed"))
    assert type(error) is TransientError


def test_token_endpoint_refusal_is_auth() -> None:
    response = httpx.Response(400, json={"error": "invalid_grant"})
    assert type(map_error(response, auth_endpoint=True)) is AuthError
    assert type(map_error(response)) is RejectedError
