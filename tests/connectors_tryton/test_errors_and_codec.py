"""Tryton's answers mapped onto the error taxonomy, and its JSON read and written exactly."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

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
from connectors.tryton.errors import map_error
from models import tryton_json as codec


def _response(
    status: int, body: object = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode() if body else b""
    return httpx.Response(status, content=content, headers=headers)


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (
            _response(400, {"status": 400, "message": "Product is not salable", "description": ""}),
            RejectedError,
        ),
        (_response(401, b"<html>Unauthorized</html>"), AuthError),
        (_response(403, b"<html>Forbidden</html>"), AuthError),
        (_response(404, b"<html>Not Found</html>"), NotFoundError),
        (_response(429, b"", {"Retry-After": "3"}), RateLimitedError),
        # Tryton's ConcurrencyException and a locked database surface as a 500 or 503.
        (_response(500, b"<html>Internal Server Error</html>"), TransientError),
        (_response(503, b""), TransientError),
    ],
)
def test_each_answer_maps_onto_one_kind_of_error(
    response: httpx.Response, expected: type[ConnectorError]
) -> None:
    error = map_error(response)
    assert type(error) is expected
    assert error.system == "tryton" and error.status_code == response.status_code


def test_a_user_error_keeps_trytons_message_and_description() -> None:
    error = map_error(
        _response(
            400,
            {
                "status": 400,
                "message": "You must enter an invoice address.",
                "description": "Sale 7",
            },
        )
    )
    assert error.message == "You must enter an invoice address. Sale 7"


def test_a_rate_limit_says_how_long_to_wait() -> None:
    error = map_error(_response(429, b"", {"Retry-After": "3"}))
    assert isinstance(error, RateLimitedError) and error.retry_after == 3


def test_decimals_dates_and_datetimes_travel_exactly() -> None:
    moment = datetime(2026, 11, 23, 14, 5, 6, 789, tzinfo=UTC)
    text = codec.dumps({"amount": Decimal("1234.50"), "on": date(2026, 1, 31), "at": moment})
    assert '"decimal":"1234.50"' in text
    assert codec.loads(text) == {
        "amount": Decimal("1234.50"),
        "on": date(2026, 1, 31),
        "at": moment,
    }


def test_naive_datetimes_are_refused_and_read_ones_are_utc() -> None:
    with pytest.raises(ValueError, match="naive"):
        codec.dumps({"at": datetime(2026, 1, 1)})
    read = codec.loads(codec.dumps({"at": datetime(2026, 1, 1, tzinfo=UTC)}))
    assert read["at"].tzinfo is UTC


def test_plain_fractions_are_read_as_decimals() -> None:
    assert codec.loads('{"x": 0.1}') == {"x": Decimal("0.1")}
