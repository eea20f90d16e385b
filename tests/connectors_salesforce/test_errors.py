"""Every Salesforce failure maps to exactly one connector error."""

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
from connectors.http import retry_after_seconds
from connectors.salesforce import SalesforceClient
from connectors.salesforce.errors import map_error

from .fake import DATA, FakeSalesforce, sf_error

PATH = f"{DATA}/sobjects/Opportunity/006000000000001AAA"


@pytest.mark.parametrize(
    ("reply", "expected", "code"),
    [
        (httpx.Response(500, text="oops"), TransientError, None),
        (sf_error(503, "SERVER_UNAVAILABLE"), TransientError, "SERVER_UNAVAILABLE"),
        (sf_error(502, "UNKNOWN_EXCEPTION"), TransientError, "UNKNOWN_EXCEPTION"),
        (httpx.Response(429, text="slow down"), RateLimitedError, None),
        (
            sf_error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded."),
            RateLimitedError,
            "REQUEST_LIMIT_EXCEEDED",
        ),
        (sf_error(404, "NOT_FOUND"), NotFoundError, "NOT_FOUND"),
        (
            sf_error(400, "NOT_FOUND", "Provided external ID field does not exist"),
            NotFoundError,
            "NOT_FOUND",
        ),
        (sf_error(403, "INSUFFICIENT_ACCESS"), AuthError, "INSUFFICIENT_ACCESS"),
        (sf_error(401, "INVALID_SESSION_ID"), AuthError, "INVALID_SESSION_ID"),
        (sf_error(400, "MALFORMED_QUERY"), RejectedError, "MALFORMED_QUERY"),
        (
            httpx.Response(300, json=[f"{DATA}/sobjects/Account/1", f"{DATA}/sobjects/Account/2"]),
            RejectedError,
            "MULTIPLE_CHOICES",
        ),
        (httpx.Response(415, text="<html>unsupported</html>"), RejectedError, None),
    ],
)
def test_status_and_error_code_mapping(
    reply: httpx.Response, expected: type[ConnectorError], code: str | None
) -> None:
    error = map_error(reply)
    assert type(error) is expected
    assert (error.system, error.status_code, error.code) == ("salesforce", reply.status_code, code)


def test_rejection_keeps_error_code_fields_and_message() -> None:
    error = map_error(
        sf_error(
            400,
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            "Stage: bad value for restricted picklist field: Won-ish",
            ["StageName"],
        )
    )
    assert isinstance(error, RejectedError)
    assert error.fields == ("StageName",)
    assert str(error) == (
        "salesforce: Stage: bad value for restricted picklist field: Won-ish "
        "[INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST] (HTTP 400)"
    )


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("cut"),
    ],
)
def test_network_errors_are_transient(failure: httpx.TransportError) -> None:
    error = map_error(failure)
    assert type(error) is TransientError and error.status_code is None


def test_retry_after_seconds_and_http_date() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    value = retry_after_seconds(later)
    assert value is not None and 25 <= value <= 30
    error = map_error(httpx.Response(429, headers={"Retry-After": "12"}))
    assert isinstance(error, RateLimitedError) and error.retry_after == 12.0


async def test_client_raises_the_mapped_error(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    fake.on(
        "GET",
        PATH,
        sf_error(403, "REQUEST_LIMIT_EXCEEDED", headers={"Retry-After": "3"}),
        sf_error(400, "INVALID_FIELD", "No such column 'Nope'", ["Nope"]),
    )
    with pytest.raises(RateLimitedError) as limited:
        await client.get("Opportunity", "006000000000001AAA")
    assert limited.value.retry_after == 3.0
    with pytest.raises(RejectedError) as rejected:
        await client.get("Opportunity", "006000000000001AAA")
    assert (rejected.value.code, rejected.value.fields) == ("INVALID_FIELD", ("Nope",))
    with pytest.raises(NotFoundError):
        await client.get_opportunity("006000000000009AAA")


async def test_client_maps_network_failures_during_data_calls(
    fake: FakeSalesforce, client: SalesforceClient
) -> None:
    def cut(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadError("connection reset", request=request)

    fake.on("GET", PATH, cut)
    with pytest.raises(TransientError) as raised:
        await client.get("Opportunity", "006000000000001AAA")
    assert "ReadError" in str(raised.value)
