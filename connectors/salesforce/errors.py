"""Salesforce failures mapped into the connector error taxonomy, in one place."""

from __future__ import annotations

import json
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
from connectors.http import retry_after_seconds, transport_error

SYSTEM = "salesforce"
_MAX_MESSAGE = 500


def _error_details(response: httpx.Response) -> tuple[str | None, str, tuple[str, ...]]:
    """(errorCode, message, fields) from a Salesforce or OAuth error body."""
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        fields = first.get("fields") or ()
        return (
            first.get("errorCode"),
            str(first.get("message") or ""),
            tuple(str(f) for f in fields),
        )
    if isinstance(body, list) and body and all(isinstance(item, str) for item in body):
        return "MULTIPLE_CHOICES", f"{len(body)} records match", ()  # 300 from an upsert
    if isinstance(body, dict) and "error" in body:
        return str(body["error"]), str(body.get("error_description") or ""), ()
    return None, response.reason_phrase or f"HTTP {response.status_code}", ()


def map_error(
    failure: httpx.Response | httpx.TransportError, *, token_request: bool = False
) -> ConnectorError:
    """The one mapping from a failed Salesforce call to a ``ConnectorError``.

    A 401 reaching this function has already survived one token refresh (the client
    retries once), so it means the credentials themselves are refused. On the token
    endpoint any 4xx (``invalid_client``, ``invalid_grant``) is a credentials problem.
    """
    if isinstance(failure, httpx.TransportError):
        return transport_error(SYSTEM, failure)
    status = failure.status_code
    code, message, fields = _error_details(failure)
    message = (message or code or f"HTTP {status}")[:_MAX_MESSAGE]
    if status == 429 or (status == 403 and code == "REQUEST_LIMIT_EXCEEDED"):
        return RateLimitedError(
            message,
            system=SYSTEM,
            status_code=status,
            code=code,
            retry_after=retry_after_seconds(failure.headers.get("Retry-After")),
        )
    if status >= 500:
        return TransientError(message, system=SYSTEM, status_code=status, code=code)
    if status == 404 or code == "NOT_FOUND":
        return NotFoundError(message, system=SYSTEM, status_code=status, code=code)
    if status in (401, 403) or (token_request and 400 <= status < 500):
        return AuthError(message, system=SYSTEM, status_code=status, code=code)
    return RejectedError(message, system=SYSTEM, status_code=status, code=code, fields=fields)
