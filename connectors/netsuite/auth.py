"""How each request proves who sends it: a bearer token from OAuth 2.0 client
credentials (fetched lazily, cached, renewed before it expires), or a token-based
authentication signature made afresh for every request."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Protocol

import httpx
import jwt
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, SIGNATURE_TYPE_AUTH_HEADER
from oauthlib.oauth1 import Client as OAuth1Client

from connectors.errors import TransientError
from connectors.governor import ConcurrencyGovernor
from connectors.http import transport_error
from connectors.netsuite.credentials import (
    NetSuiteCredentials,
    OAuth2Credentials,
    TbaCredentials,
)
from connectors.netsuite.errors import SYSTEM, map_error
from models import exact_json

logger = logging.getLogger(__name__)

TOKEN_PATH = "/services/rest/auth/oauth2/v1/token"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# NetSuite refuses an assertion whose ``exp`` is 60 minutes or more past its ``iat``.
# A short one is only good for a few minutes if it leaks; longer would add nothing,
# since a fresh one is signed for every token request.
ASSERTION_SECONDS = 300
# Renew this long before the token expires (at most a tenth of its life), so a token
# never expires while a request is in flight.
RENEW_EARLY_SECONDS = 60.0


class RequestAuth(Protocol):
    """What ``NetSuiteClient`` needs of an authentication method."""

    @property
    def secrets(self) -> tuple[str, ...]:
        """What must never appear in a message or a log line."""
        ...

    async def credential(self) -> str:
        """What the next request will carry, fetched if need be (outside any slot: a
        token request takes a slot of its own)."""
        ...

    def apply(self, request: httpx.Request, credential: str) -> None:
        """Set ``request``'s ``Authorization``, just before it is sent."""
        ...

    async def renew(self, refused: str) -> None:
        """``refused`` got a 401: have a fresh credential ready for one more try."""
        ...


def request_auth(
    credentials: NetSuiteCredentials, http: httpx.AsyncClient, governor: ConcurrencyGovernor
) -> RequestAuth:
    if isinstance(credentials, TbaCredentials):
        return TbaSigner(credentials)
    return TokenProvider(http, credentials, governor)


class TokenProvider:
    """OAuth 2.0 client credentials: one access token shared by all of a client's requests.

    A lock makes concurrent callers wait for a single token request instead of each
    fetching one. The token request holds a governor slot like every other call
    (it counts against the account's concurrency too); callers never hold a slot
    while waiting here, so this cannot deadlock the governor.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        credentials: OAuth2Credentials,
        governor: ConcurrencyGovernor,
    ) -> None:
        self._http = http
        self._credentials = credentials
        self._governor = governor
        self._token: str | None = None
        self._assertion: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    @property
    def token_url(self) -> str:
        """The token endpoint, which is also the assertion's audience."""
        return str(self._http.base_url.join(TOKEN_PATH))

    @property
    def secrets(self) -> tuple[str, ...]:
        # The assertion is a credential too until it expires: it buys a token.
        pem = self._credentials.private_key_pem.decode("ascii", "replace")
        return tuple(s for s in (self._token, self._assertion, pem) if s)

    def assertion(self) -> str:
        """A freshly signed JWT for the token request (NetSuite's "request token")."""
        issued = int(time.time())
        claims = {
            "iss": self._credentials.client_id,
            # NetSuite documents a comma-separated string (and shows a JSON array in an
            # example); Syncline only needs REST web services.
            "scope": self._credentials.scope,
            "aud": self.token_url,
            "iat": issued,
            "exp": issued + ASSERTION_SECONDS,
        }
        headers = {"typ": "JWT", "kid": self._credentials.certificate_id}
        return jwt.encode(
            claims,
            self._credentials.private_key,
            algorithm=self._credentials.algorithm,
            headers=headers,
        )

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

    async def credential(self) -> str:
        return await self.get()

    def apply(self, request: httpx.Request, credential: str) -> None:
        request.headers["Authorization"] = f"Bearer {credential}"

    async def renew(self, refused: str) -> None:
        await self.refresh(refused)

    async def _fetch(self) -> str:
        self._assertion = self.assertion()
        async with self._governor.slot():
            try:
                response = await self._http.post(
                    TOKEN_PATH,
                    data={
                        "grant_type": "client_credentials",
                        "client_assertion_type": JWT_BEARER,
                        "client_assertion": self._assertion,
                    },
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
        early = min(RENEW_EARLY_SECONDS, expires_in * 0.1)
        self._refresh_at = time.monotonic() + expires_in - early
        self._token = token
        logger.debug("obtained a NetSuite access token valid for %.0f s", expires_in)
        return token


class TbaSigner:
    """Token-based authentication: each request signed on its own, nothing to fetch.

    oauthlib builds the signature (RFC 5849: the base string from the method, the URL
    and the sorted oauth and query parameters, realm excluded; HMAC-SHA256 keyed with
    ``consumerSecret&tokenSecret``). The JSON body is not signed: RFC 5849 signs only
    form-encoded bodies, and NetSuite's examples sign none.
    """

    def __init__(self, credentials: TbaCredentials) -> None:
        self._credentials = credentials

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self._credentials.consumer_secret, self._credentials.token_secret)

    def sign(
        self, method: str, url: str, *, nonce: str | None = None, timestamp: str | None = None
    ) -> str:
        """The ``Authorization`` header for one request."""
        credentials = self._credentials
        client = OAuth1Client(
            credentials.consumer_key,
            client_secret=credentials.consumer_secret,
            resource_owner_key=credentials.token_id,
            resource_owner_secret=credentials.token_secret,
            signature_method=SIGNATURE_HMAC_SHA256,
            signature_type=SIGNATURE_TYPE_AUTH_HEADER,
            realm=credentials.realm,
            # NetSuite wants at least 6 characters, ideally 20, and refuses a nonce it
            # has seen with the same timestamp: 80 random bits.
            nonce=nonce or secrets.token_hex(10),
            timestamp=timestamp or str(int(time.time())),
        )
        _, headers, _ = client.sign(url, method.upper())
        header: str = headers["Authorization"]
        return header

    async def credential(self) -> str:
        return ""

    def apply(self, request: httpx.Request, credential: str) -> None:
        # Signed at the last moment: NetSuite refuses a timestamp five minutes old, and
        # a request may have waited for a governor slot.
        request.headers["Authorization"] = self.sign(request.method, str(request.url))

    async def renew(self, refused: str) -> None:
        """Nothing to renew: the next try is signed with a new nonce and timestamp."""
