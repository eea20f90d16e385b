"""OAuth 2.0 client-credentials tokens: fetched lazily, cached, refreshed on demand."""

from __future__ import annotations

import asyncio
import logging
import time

import httpx

from connectors.errors import TransientError
from connectors.governor import ConcurrencyGovernor
from connectors.http import transport_error
from connectors.netsuite.errors import SYSTEM, map_error
from models import exact_json

logger = logging.getLogger(__name__)

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"


class TokenProvider:
    """One token shared by all of a client's requests.

    A lock makes concurrent callers wait for a single token request instead of each
    fetching one. The token request holds a governor slot like every other call
    (it counts against the account's concurrency too); callers never hold a slot
    while waiting here, so this cannot deadlock the governor.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        client_id: str,
        client_secret: str,
        governor: ConcurrencyGovernor,
    ) -> None:
        self._http = http
        self._client_id = client_id
        self._client_secret = client_secret
        self._governor = governor
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never appear in a message or a log line."""
        return tuple(s for s in (self._client_secret, self._token) if s)

    def _fresh(self) -> str | None:
        if self._token is not None and time.monotonic() < self._refresh_at:
            return self._token
        return None

    async def get(self) -> str:
        token = self._fresh()
        if token is not None:
            return token
        async with self._lock:
            return self._fresh() or await self._fetch()

    async def refresh(self, rejected: str) -> str:
        """A new token after ``rejected`` got a 401 (unless another caller renewed it)."""
        async with self._lock:
            if self._token is not None and self._token != rejected:
                return self._token
            self._token = None
            return await self._fetch()

    async def _fetch(self) -> str:
        async with self._governor.slot():
            try:
                response = await self._http.post(
                    TOKEN_PATH,
                    data={"grant_type": "client_credentials"},
                    auth=(self._client_id, self._client_secret),
                    headers={"Accept": "application/json"},
                )
            except httpx.TransportError as exc:
                raise transport_error(SYSTEM, exc) from exc
        if response.status_code != 200:
            raise map_error(response, auth_endpoint=True, secrets=self.secrets)
        try:
            body = exact_json.loads(response.content)
            token = str(body["access_token"])
            expires_in = float(body.get("expires_in", 3600))
        except (ValueError, KeyError, TypeError):
            raise TransientError(
                "the token response could not be read",
                system=SYSTEM,
                status_code=response.status_code,
            ) from None
        # Renew a little early, so a token does not expire in flight.
        self._refresh_at = time.monotonic() + expires_in - min(60.0, expires_in * 0.1)
        self._token = token
        logger.debug("obtained a NetSuite access token valid for %.0f s", expires_in)
        return token
