"""A scripted Salesforce behind ``httpx.MockTransport``: tokens, sessions, canned replies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx

LOGIN_URL = "https://login.salesforce.test"
INSTANCE_URL = "https://acme.my.salesforce.test"
CLIENT_ID = "client-id-visible"
CLIENT_SECRET = "client-secret-NEVER-LOG-ME"
DATA = "/services/data/v59.0"

Reply = httpx.Response | Callable[[httpx.Request], httpx.Response]


def sf_error(
    status: int,
    code: str,
    message: str = "boom",
    fields: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = [{"message": message, "errorCode": code, "fields": fields or []}]
    return httpx.Response(status, json=body, headers=headers)


class FakeSalesforce:
    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.token_requests: list[httpx.Request] = []
        self.valid_tokens: set[str] = set()
        self.token_reply: httpx.Response | None = None
        self.routes: dict[tuple[str, str], list[Reply]] = {}
        self.reject_every_session = False

    # Scripting ---------------------------------------------------------------------------

    def on(self, method: str, path: str, *replies: Reply) -> None:
        """Answer ``method path`` with these replies in turn (the last one repeats)."""
        self.routes[(method, path)] = list(replies)

    def on_json(self, method: str, path: str, body: Any, status: int = 200) -> None:
        self.on(
            method,
            path,
            httpx.Response(
                status,
                content=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            ),
        )

    def expire_sessions(self) -> None:
        self.valid_tokens.clear()

    @property
    def data_requests(self) -> list[httpx.Request]:
        return [r for r in self.requests if r not in self.token_requests]

    # Transport ---------------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/services/oauth2/token":
            self.token_requests.append(request)
            if self.token_reply is not None:
                return self.token_reply
            token = f"00Dxx!token-{len(self.token_requests)}-SECRET"
            self.valid_tokens.add(token)
            return httpx.Response(
                200,
                json={
                    "access_token": token,
                    "instance_url": INSTANCE_URL,
                    "token_type": "Bearer",
                    "issued_at": "1795430000000",
                    "id": f"{LOGIN_URL}/id/00D/005",
                    "signature": "sig",
                },
            )
        header = request.headers.get("Authorization", "")
        if self.reject_every_session or header.removeprefix("Bearer ") not in self.valid_tokens:
            return sf_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
        replies = self.routes.get((request.method, request.url.path))
        if not replies:
            return sf_error(404, "NOT_FOUND", "The requested resource does not exist")
        reply = replies.pop(0) if len(replies) > 1 else replies[0]
        return reply(request) if callable(reply) else reply
