"""A company identity provider for the tests: an RSA key whose public half is published as
a JWKS over HTTP on 127.0.0.1 (what Syncline fetches in production), and tokens signed
with it, or deliberately wrong in one way each."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

ISSUER = "https://idp.example.test/realms/acme"
AUDIENCE = "syncline-api"
KEY_ID = "acme-2026"


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class IdentityProvider:
    jwks_url: str
    key: rsa.RSAPrivateKey
    requests: list[str]
    """The paths Syncline fetched, to see it caches the keys."""

    def settings(self) -> dict[str, str]:
        """The values ``Settings`` takes (without the SYNCLINE_ prefix)."""
        return {"oidc_issuer": ISSUER, "oidc_audience": AUDIENCE, "oidc_jwks_url": self.jwks_url}

    def env(self) -> dict[str, str]:
        return {f"SYNCLINE_{name.upper()}": value for name, value in self.settings().items()}

    def token(
        self,
        role: Any = "operator",
        *,
        email: str = "olivia@example.com",
        expires_in: float = 600,
        audience: str = AUDIENCE,
        issuer: str = ISSUER,
        key: rsa.RSAPrivateKey | None = None,
        key_id: str = KEY_ID,
        claims: dict[str, Any] | None = None,
    ) -> str:
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "sub": f"user-{uuid.uuid5(uuid.NAMESPACE_DNS, email).hex[:12]}",
            "email": email,
            "iat": now,
            "exp": now + int(expires_in),
            **({"syncline_role": role} if role is not None else {}),
            **(claims or {}),
        }
        return jwt.encode(payload, key or self.key, algorithm="RS256", headers={"kid": key_id})


def unsigned(token: str) -> str:
    """The same claims with ``alg: none`` and no signature, as an attacker would send."""
    _, body, _ = token.split(".")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header.decode().rstrip('=')}.{body}."


def other_key() -> rsa.RSAPrivateKey:
    """A key the provider never published (an attacker's), used with its key id."""
    return _rsa_key()


@contextmanager
def identity_provider() -> Iterator[IdentityProvider]:
    key = _rsa_key()
    jwk = {**RSAAlgorithm.to_jwk(key.public_key(), as_dict=True), "kid": KEY_ID, "use": "sig"}
    body = json.dumps({"keys": [jwk]}).encode()
    requests: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            found = self.path == "/jwks.json"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body if found else b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the test's output stays the test's

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield IdentityProvider(f"http://127.0.0.1:{server.server_port}/jwks.json", key, requests)
    finally:
        server.shutdown()
        server.server_close()
