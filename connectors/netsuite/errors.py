"""NetSuite's failures, mapped onto the connector error taxonomy in one place."""

from __future__ import annotations

from collections.abc import Iterable
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
from models import exact_json

SYSTEM = "netsuite"

# Over the account's concurrency pool NetSuite answers 400 SSS_REQUEST_LIMIT_EXCEEDED
# (RESTlets, SOAP) or 429 CONCURRENCY_LIMIT_EXCEEDED (REST): rate limiting, to be
# retried with backoff, never a business failure.
RATE_LIMIT_CODES = frozenset(
    {
        "SSS_REQUEST_LIMIT_EXCEEDED",
        "CONCURRENCY_LIMIT_EXCEEDED",
        "REQUEST_LIMIT_EXCEEDED",
        "SSS_CONCURRENCY_LIMIT_EXCEEDED",
    }
)
# Optimistic-locking collisions: the same request succeeds when tried again.
TRANSIENT_CODES = frozenset({"RCRD_HAS_BEEN_CHANGED"})


def _details(response: httpx.Response) -> list[dict[str, Any]]:
    try:
        body = exact_json.loads(response.content)
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    details = body.get("o:errorDetails")
    if isinstance(details, list):
        return [d for d in details if isinstance(d, dict)]
    if isinstance(body.get("error"), str):  # OAuth 2.0 token endpoint (RFC 6749 §5.2)
        return [
            {"detail": body.get("error_description") or body["error"], "o:errorCode": body["error"]}
        ]
    return []


def _scrub(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def map_error(
    response: httpx.Response,
    *,
    auth_endpoint: bool = False,
    secrets: Iterable[str] = (),
) -> ConnectorError:
    """The one error for an unsuccessful NetSuite response.

    ``auth_endpoint``: a 400/401/403 from the token endpoint means the client
    credentials were refused. ``secrets`` are redacted from the message, in case a
    server ever echoes one back.
    """
    status = response.status_code
    details = _details(response)
    codes = [str(d["o:errorCode"]) for d in details if d.get("o:errorCode")]
    code = codes[0] if codes else None
    paths = tuple(str(d["o:errorPath"]) for d in details if d.get("o:errorPath"))
    text = "; ".join(str(d["detail"]) for d in details if d.get("detail"))
    message = _scrub(text or f"HTTP {status} {response.reason_phrase}".strip(), list(secrets))

    if status == 429 or (status in (400, 403) and RATE_LIMIT_CODES.intersection(codes)):
        return RateLimitedError(
            message,
            system=SYSTEM,
            status_code=status,
            code=code,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
    if status >= 500 or status == 408 or TRANSIENT_CODES.intersection(codes):
        return TransientError(message, system=SYSTEM, status_code=status, code=code)
    if status in (401, 403) or (auth_endpoint and status == 400):
        return AuthError(message, system=SYSTEM, status_code=status, code=code)
    if status == 404:
        return NotFoundError(message, system=SYSTEM, status_code=status, code=code)
    return RejectedError(message, system=SYSTEM, status_code=status, code=code, fields=paths)
