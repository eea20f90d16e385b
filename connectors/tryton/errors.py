"""Tryton's failures, mapped onto the connector error taxonomy in one place.

Tryton's REST API answers a ``UserError`` (a validation the business would make: a
product that cannot be sold, a party without an address, a unique code taken) with
400 and ``{"status", "message", "description"}``; a refused application key with
401; a record rule or access right with 403; rate limiting of logins with 429.
"""

from __future__ import annotations

from typing import Any

import httpx

from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from connectors.http import retry_after_seconds
from models import tryton_json as codec

SYSTEM = "tryton"


def _message(response: httpx.Response) -> str:
    try:
        body: Any = codec.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and body.get("message"):
        text = str(body["message"])
        description = body.get("description")
        return f"{text} {description}".strip() if description else text
    return f"HTTP {response.status_code} {response.reason_phrase}".strip()


def map_error(response: httpx.Response) -> ConnectorError:
    status = response.status_code
    message = _message(response)
    if status == 429:
        return RateLimitedError(
            message,
            system=SYSTEM,
            status_code=status,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
    if status >= 500 or status == 408:
        return TransientError(message, system=SYSTEM, status_code=status)
    if status == 401:
        return AuthError(
            "the application key was refused (is it validated in Tryton?)",
            system=SYSTEM,
            status_code=status,
        )
    if status == 403:
        return AuthError(
            f"access denied: the Syncline user lacks a right in Tryton ({message})",
            system=SYSTEM,
            status_code=status,
        )
    if status == 404:
        return NotFoundError(message, system=SYSTEM, status_code=status)
    return RejectedError(message, system=SYSTEM, status_code=status, code="UserError")
