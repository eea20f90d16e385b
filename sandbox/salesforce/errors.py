"""Salesforce's error bodies: a JSON list of ``{"message", "errorCode", "fields"}``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class SalesforceApiError(Exception):
    """Raised anywhere in the sandbox; the app turns it into Salesforce's error response."""

    def __init__(
        self,
        status_code: int,
        error_code: str,
        message: str,
        fields: Sequence[str] | None = None,
        raw_body: Any = None,
    ) -> None:
        super().__init__(f"{error_code}: {message}")
        self.status_code = status_code
        self.error_code = error_code
        self.message = message
        self.fields = list(fields) if fields is not None else None
        self.raw_body = raw_body

    def body(self) -> Any:
        if self.raw_body is not None:
            return self.raw_body
        error: dict[str, Any] = {"message": self.message, "errorCode": self.error_code}
        if self.fields is not None:
            error["fields"] = self.fields
        return [error]


def bad_request(error_code: str, message: str, fields: Sequence[str] = ()) -> SalesforceApiError:
    return SalesforceApiError(400, error_code, message, fields)


def not_found() -> SalesforceApiError:
    return SalesforceApiError(404, "NOT_FOUND", "The requested resource does not exist")


def malformed_query(message: str) -> SalesforceApiError:
    return SalesforceApiError(400, "MALFORMED_QUERY", message)


def invalid_session() -> SalesforceApiError:
    return SalesforceApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
