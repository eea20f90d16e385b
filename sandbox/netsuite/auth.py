"""OAuth 2.0 client credentials, NetSuite-style, with tokens persisted in SQLite.

Simplification: real NetSuite's client-credentials flow (M2M) authenticates the
client with a signed JWT (``client_assertion_type=urn:ietf:params:oauth:client-
assertion-type:jwt-bearer``, certificate uploaded in the account). The sandbox
accepts the client id and secret instead, by HTTP Basic or as form fields
(RFC 6749 §2.3.1); the token response and the ``Bearer`` use are the same.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
import sqlite3
import time
from urllib.parse import parse_qs, unquote_plus

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sandbox.netsuite.errors import INVALID_LOGIN, NetSuiteError
from sandbox.netsuite.store import Store

logger = logging.getLogger(__name__)

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
_INVALID_LOGIN_DETAIL = (
    "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI "
    "at Setup > Users/Roles > User Management > View Login Audit Trail."
)


class TokenRegistry:
    """Issues and checks bearer tokens; an in-memory cache in front of the table."""

    def __init__(self, store: Store, client_id: str, client_secret: str, ttl_seconds: int) -> None:
        self._store = store
        self.client_id = client_id
        self._client_secret = client_secret
        self.ttl_seconds = ttl_seconds
        self._cache: dict[str, float] = {}
        self.enabled = True
        """False while an administrator has revoked the client (``/admin/client``)."""

    def client_matches(self, client_id: str, client_secret: str) -> bool:
        # Both compared in constant time, so timing says nothing about either.
        id_ok = secrets.compare_digest(client_id.encode(), self.client_id.encode())
        secret_ok = secrets.compare_digest(client_secret.encode(), self._client_secret.encode())
        return id_ok and secret_ok and self.enabled

    async def issue(self) -> str:
        token = secrets.token_urlsafe(32)
        expires_at = time.time() + self.ttl_seconds

        def save(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM token WHERE expires_at < ?", (time.time(),))
            conn.execute(
                "INSERT INTO token (token, client_id, expires_at) VALUES (?, ?, ?)",
                (token, self.client_id, expires_at),
            )

        await self._store.write(save)
        self._cache[token] = expires_at
        return token

    async def is_valid(self, token: str) -> bool:
        expires_at = self._cache.get(token)
        if expires_at is None:  # issued before a restart, or unknown
            row = await self._store.read(
                lambda conn: conn.execute(
                    "SELECT expires_at FROM token WHERE token = ?", (token,)
                ).fetchone()
            )
            if row is None:
                return False
            expires_at = float(row[0])
            self._cache[token] = expires_at
        return expires_at > time.time()

    async def revoke_all(self) -> int:
        def revoke(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM token").rowcount

        count = await self._store.write(revoke)
        self._cache.clear()
        return count

    async def require(self, request: Request) -> None:
        """The check every record and query route runs; 401 in NetSuite's shape."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token or not await self.is_valid(token.strip()):
            raise NetSuiteError(401, INVALID_LOGIN, _INVALID_LOGIN_DETAIL)


def _oauth_error(status: int, error: str, description: str) -> Response:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="netsuite"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _basic_credentials(header: str) -> tuple[str, str] | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return unquote_plus(client_id), unquote_plus(secret)


def auth_router(tokens: TokenRegistry) -> APIRouter:
    router = APIRouter(tags=["auth"])

    @router.post(TOKEN_PATH)
    async def token(request: Request) -> Response:
        form = {
            k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()
        }
        if form.get("grant_type") != "client_credentials":
            return _oauth_error(
                400, "unsupported_grant_type", "grant_type must be client_credentials"
            )
        credentials = _basic_credentials(request.headers.get("authorization", ""))
        if credentials is None and "client_id" in form:
            credentials = (form["client_id"], form.get("client_secret", ""))
        if credentials is None:
            return _oauth_error(401, "invalid_client", "client authentication is required")
        if not tokens.client_matches(*credentials):
            logger.info("token request refused: invalid client")
            return _oauth_error(401, "invalid_client", "invalid client credentials")
        access_token = await tokens.issue()
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": tokens.ttl_seconds,
            },
            headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    return router
