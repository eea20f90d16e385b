"""The OAuth grant the Salesforce connector posts to ``/services/oauth2/token``.

Two grants, chosen by configuration:

* ``ClientCredentials``: the connected app's consumer key and secret; the token acts
  as the app's run-as user. The secret travels with every token request.
* ``JwtBearer``: an assertion signed (RS256) with the private key whose certificate is
  uploaded to the connected app: ``iss`` the consumer key, ``sub`` the integration
  user's username, ``aud`` the login URL, ``exp`` a few minutes out. No shared secret
  travels, and a stolen assertion is worthless minutes later.

Neither the secret, the key nor an assertion ever appears in a ``repr``, an error
message or a log line.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import jwt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce documents the assertion's expiry as "within 3 minutes"; a shorter life
# also narrows what a leaked assertion is worth.
ASSERTION_LIFETIME_SECONDS = 180


class TokenGrant(Protocol):
    """What the token request's form says, built afresh for every request."""

    def form(self) -> dict[str, str]: ...


class ClientCredentials:
    def __init__(self, client_id: str, client_secret: str) -> None:
        self._client_id = client_id
        self._client_secret = client_secret

    def __repr__(self) -> str:  # never the secret
        return f"ClientCredentials(client_id={self._client_id!r})"

    def form(self) -> dict[str, str]:
        return {
            "grant_type": "client_credentials",
            "client_id": self._client_id,
            "client_secret": self._client_secret,
        }


def load_private_key(pem: bytes) -> rsa.RSAPrivateKey:
    """An unencrypted PEM RSA private key; ``ValueError`` (quoting nothing of the file)
    for anything else, so a misplaced file cannot leak into a start-up error."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise ValueError(
            "the Salesforce private key is not an unencrypted PEM private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the Salesforce private key must be an RSA key (the JWT is RS256)")
    return key


class JwtBearer:
    """The JWT bearer grant (RFC 7523) as Salesforce takes it."""

    def __init__(
        self,
        consumer_key: str,
        username: str,
        private_key: bytes,
        audience: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not consumer_key or not username:
            raise ValueError("the JWT bearer grant needs the consumer key and a username")
        self._consumer_key = consumer_key
        self._username = username
        self._key = load_private_key(private_key)
        # Salesforce compares the audience as a URL: no trailing slash.
        self._audience = audience.rstrip("/")
        self._clock = clock

    def __repr__(self) -> str:  # never the key
        return f"JwtBearer(consumer_key={self._consumer_key!r}, username={self._username!r})"

    def form(self) -> dict[str, str]:
        claims = {
            "iss": self._consumer_key,
            "sub": self._username,
            "aud": self._audience,
            "exp": int(self._clock()) + ASSERTION_LIFETIME_SECONDS,
        }
        assertion = jwt.encode(claims, self._key, algorithm="RS256")
        return {"grant_type": JWT_BEARER_GRANT, "assertion": assertion}
