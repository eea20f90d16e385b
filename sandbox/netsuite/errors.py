"""NetSuite's error body, and the exception the sandbox raises to produce it.

NetSuite answers REST failures with an RFC 9457-style problem document whose
``o:errorDetails`` carry the human reason, an error code and the field path; the
connector maps on the code, so the sandbox reproduces the shape exactly.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response

from sandbox.netsuite.jsonutil import ExactJSONResponse

_TITLES = {
    400: ("Bad Request", "15.5.1"),
    401: ("Unauthorized", "15.5.2"),
    403: ("Forbidden", "15.5.4"),
    404: ("Not Found", "15.5.5"),
    405: ("Method Not Allowed", "15.5.6"),
    406: ("Not Acceptable", "15.5.7"),
    409: ("Conflict", "15.5.10"),
    429: ("Too Many Requests", "rfc6585#section-4"),
    500: ("Internal Server Error", "15.6.1"),
    502: ("Bad Gateway", "15.6.3"),
    503: ("Service Unavailable", "15.6.4"),
    504: ("Gateway Timeout", "15.6.5"),
}

# The codes the sandbox uses, named once so tests and the connector agree on them.
USER_ERROR = "USER_ERROR"
INVALID_KEY_OR_REF = "INVALID_KEY_OR_REF"
INVALID_FLD_VALUE = "INVALID_FLD_VALUE"
INVALID_CONTENT = "INVALID_CONTENT"
INVALID_PARAMETER = "INVALID_PARAMETER"
INVALID_SEARCH = "INVALID_SEARCH"
NONEXISTENT_ID = "NONEXISTENT_ID"
DUP_ITEM = "DUP_ITEM"
INVALID_LOGIN = "INVALID_LOGIN"
SSS_REQUEST_LIMIT_EXCEEDED = "SSS_REQUEST_LIMIT_EXCEEDED"
UNEXPECTED_ERROR = "UNEXPECTED_ERROR"
CLOSED_PERIOD = USER_ERROR  # NetSuite reports a closed period as a user error


def error_body(status: int, code: str, detail: str, path: str | None = None) -> dict[str, Any]:
    title, section = _TITLES.get(status, ("Error", "15"))
    if section.startswith("rfc"):
        doc, _, anchor = section.partition("#")
        type_url = f"https://www.rfc-editor.org/rfc/{doc}.html#{anchor}"
    else:
        type_url = f"https://www.rfc-editor.org/rfc/rfc9110.html#section-{section}"
    item: dict[str, Any] = {"detail": detail, "o:errorCode": code}
    if path is not None:
        item["o:errorPath"] = path
    return {"type": type_url, "title": title, "status": status, "o:errorDetails": [item]}


def error_response(
    status: int,
    code: str,
    detail: str,
    path: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return ExactJSONResponse(
        error_body(status, code, detail, path), status_code=status, headers=headers
    )


class NetSuiteError(Exception):
    """Raised anywhere in the sandbox; the app turns it into NetSuite's error body."""

    def __init__(self, status: int, code: str, detail: str, path: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path

    def response(self) -> Response:
        return error_response(self.status, self.code, self.detail, self.path)


def bad_request(code: str, detail: str, path: str | None = None) -> NetSuiteError:
    return NetSuiteError(400, code, detail, path)


def not_found(
    detail: str = "The record instance does not exist. Provide a valid record instance ID.",
) -> NetSuiteError:
    return NetSuiteError(404, NONEXISTENT_ID, detail)


async def handle_netsuite_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NetSuiteError)
    return exc.response()
