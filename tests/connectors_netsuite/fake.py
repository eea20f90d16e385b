"""A scripted NetSuite for ``httpx.MockTransport``: answers the token call, records
every request and hands the rest to a per-test handler."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from connectors.governor import ConcurrencyGovernor
from connectors.netsuite import NetSuiteClient, NetSuiteCredentials, OAuth2Credentials
from sandbox.netsuite.certificates import make_key_pair

BASE_URL = "https://1234567.suitetalk.api.netsuite.com"
CLIENT_ID = "client-id-abc"
CERTIFICATE_ID = "cert-id-123"
TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
KEYS = make_key_pair()
CREDENTIALS = OAuth2Credentials(CLIENT_ID, CERTIFICATE_ID, KEYS.private_key_pem)

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def ns_error(
    status: int,
    code: str,
    detail: str,
    path: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    item: dict[str, Any] = {"detail": detail, "o:errorCode": code}
    if path is not None:
        item["o:errorPath"] = path
    return httpx.Response(
        status,
        headers=headers,
        json={
            "type": "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1",
            "title": "Error",
            "status": status,
            "o:errorDetails": [item],
        },
    )


def raw_json(status: int, text: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """A response whose JSON text is exactly ``text`` (numbers digit for digit)."""
    return httpx.Response(
        status,
        content=text.encode(),
        headers={"Content-Type": "application/json", **(headers or {})},
    )


class FakeNetSuite:
    def __init__(self, handler: Handler, *, expires_in: int = 3600) -> None:
        self.handler = handler
        self.expires_in = expires_in
        self.requests: list[httpx.Request] = []
        self.tokens_issued = 0

    @property
    def api_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path != TOKEN_PATH]

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == TOKEN_PATH:
            self.tokens_issued += 1
            return httpx.Response(
                200,
                json={
                    "access_token": f"tok-{self.tokens_issued}",
                    "token_type": "Bearer",
                    "expires_in": self.expires_in,
                },
            )
        response = self.handler(request)
        if not isinstance(response, httpx.Response):
            response = await response
        return response

    def client(
        self,
        governor: ConcurrencyGovernor | None = None,
        credentials: NetSuiteCredentials = CREDENTIALS,
    ) -> NetSuiteClient:
        return NetSuiteClient(
            BASE_URL, credentials, governor=governor, transport=httpx.MockTransport(self)
        )


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content)
