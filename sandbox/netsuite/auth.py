"""Who may call the account: OAuth 2.0 client credentials (a signed JWT assertion
traded for a 60-minute bearer token) or token-based authentication (each request
signed). No shortcut: a client id and secret get no token, as on a real account.

A refused caller learns no more than NetSuite tells it (401 ``INVALID_LOGIN``, or the
token endpoint's OAuth error); the reason goes to the Login Audit Trail
(``GET /admin/login-audit-trail``), where a NetSuite administrator would look.

The token endpoint's error body is not documented for this flow. NetSuite documents
``{"error": "<value>"}`` with RFC 6749's values for its authorization-code flow, and
integrators report ``invalid_grant`` for refused assertions: the sandbox answers 400
with ``invalid_grant`` (``invalid_request`` / ``unsupported_grant_type`` for a
malformed request, ``invalid_scope`` for a scope it cannot serve). Uncertain.
"""

from __future__ import annotations

import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sandbox.netsuite import oauth2, tba
from sandbox.netsuite.credentials import Credentials
from sandbox.netsuite.errors import INVALID_LOGIN, NetSuiteError

logger = logging.getLogger(__name__)

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
_INVALID_LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI "
    "at Setup > Users/Roles > User Management > View Login Audit Trail."
)
TOKEN_EXPIRED = "TokenExpired"
TOKEN_INVALID = "InvalidToken"
NO_CREDENTIALS = "MissingCredentials"


class LoginAuditTrail:
    """The latest refused logins, newest last: what, who, and why."""

    def __init__(self, size: int = 500) -> None:
        self._entries: deque[dict[str, Any]] = deque(maxlen=size)

    def failure(self, method: str, detail: str, at: float, **who: str | None) -> None:
        entry = {
            "date": datetime.fromtimestamp(at, UTC).isoformat(),
            "status": "Failure",
            "method": method,
            "detail": detail,
            **{k: v for k, v in who.items() if v},
        }
        self._entries.append(entry)
        logger.info("login refused: %s", entry)

    def entries(self) -> list[dict[str, Any]]:
        return list(self._entries)

    def clear(self) -> None:
        self._entries.clear()


class Authenticator:
    """The check every record and query route runs, and the token endpoint."""

    def __init__(self, credentials: Credentials, account_id: str) -> None:
        self.credentials = credentials
        self.realm = account_id
        self.audit = LoginAuditTrail()
        self._nonces = tba.NonceLedger()

    async def require(self, request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme = header.partition(" ")[0].lower()
        if scheme == "bearer":
            await self._bearer(header.partition(" ")[2].strip())
        elif scheme == "oauth":
            self._tba(request, header)
        else:
            self._refuse("none", NO_CREDENTIALS)

    def _refuse(self, method: str, detail: str, **who: str | None) -> None:
        self.audit.failure(method, detail, self.credentials.clock(), **who)
        raise NetSuiteError(401, INVALID_LOGIN, _INVALID_LOGIN_DETAIL)

    async def _bearer(self, token: str) -> None:
        known = await self.credentials.access_token(token) if token else None
        if known is None:
            self._refuse("oauth2", TOKEN_INVALID)
        elif known.expires_at <= self.credentials.clock():
            self._refuse("oauth2", TOKEN_EXPIRED, certificate_id=known.certificate_id)

    def _secrets_of(self, consumer_key: str, token_id: str) -> tuple[str, str]:
        token = self.credentials.tba_token(token_id)
        if self.credentials.consumer_secret(consumer_key) is None:
            raise tba.TbaRefused(tba.CONSUMER_KEY_UNKNOWN)
        if token is None or token.consumer_key != consumer_key:
            raise tba.TbaRefused(tba.TOKEN_UNKNOWN)
        if token.revoked:
            raise tba.TbaRefused(tba.TOKEN_REVOKED)
        return token.consumer_secret, token.token_secret

    def _tba(self, request: Request, header: str) -> None:
        # The URL as the client signed it: the path still percent-encoded as sent
        # (ASGI's ``path`` is decoded), the host as addressed.
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        path = bytes(raw_path).decode("latin-1").partition("?")[0]
        signed = tba.SignedRequest(
            method=request.method,
            uri=tba.base_string_uri(
                request.url.scheme, request.url.hostname or "", request.url.port, path
            ),
            query=request.url.query,
            authorization=header,
        )
        try:
            tba.verify(
                signed,
                realm=self.realm,
                secrets_of=self._secrets_of,
                nonces=self._nonces,
                now=self.credentials.clock(),
            )
        except tba.TbaRefused as refused:
            params = _quiet_params(header)
            self._refuse(
                "tba",
                refused.reason,
                consumer_key=params.get("oauth_consumer_key"),
                token_id=params.get("oauth_token"),
            )

    async def token(self, request: Request) -> Response:
        """``POST /services/rest/auth/oauth2/v1/token`` (client credentials, JWT)."""
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if form.get("grant_type") != "client_credentials":
            return _oauth_error("unsupported_grant_type" if form.get("grant_type") else None)
        assertion = form.get("client_assertion")
        if form.get("client_assertion_type") != oauth2.JWT_BEARER or not assertion:
            # A client id and secret (Basic or in the form) land here: this grant
            # authenticates the client by a signed assertion only.
            self.audit.failure("oauth2", oauth2.MALFORMED, self.credentials.clock())
            return _oauth_error(None)
        token_url = f"{request.url.scheme}://{request.url.netloc}{TOKEN_PATH}"
        try:
            mapping = oauth2.verify_assertion(
                assertion,
                token_url=token_url,
                certificate=self.credentials.certificate,
                now=self.credentials.clock(),
            )
        except oauth2.AssertionRefused as refused:
            self.audit.failure("oauth2", refused.reason, self.credentials.clock())
            return _oauth_error(refused.error)
        access_token = await self.credentials.issue(mapping.client_id, mapping.certificate_id)
        # NetSuite's example answer gives ``expires_in`` as a string ("3600").
        return JSONResponse(
            {
                "access_token": access_token,
                "expires_in": str(self.credentials.ttl_seconds),
                "token_type": "bearer",
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )


def _quiet_params(header: str) -> dict[str, str]:
    """The header's parameters for the audit trail, or none if it does not parse."""
    try:
        return tba.parse_header(header)
    except tba.TbaRefused:
        return {}


def _oauth_error(error: str | None) -> Response:
    return JSONResponse(
        {"error": error or "invalid_request"},
        status_code=400,
        headers={"Cache-Control": "no-store"},
    )


def auth_router(auth: Authenticator) -> APIRouter:
    router = APIRouter(tags=["auth"])
    router.add_api_route(TOKEN_PATH, auth.token, methods=["POST"])
    return router
