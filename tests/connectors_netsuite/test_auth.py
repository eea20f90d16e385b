"""OAuth 2.0 client credentials: a signed assertion (never a secret) buys a token that is
lazy, cached, shared, renewed before it expires and once on 401; secrets never leak."""

from __future__ import annotations

import asyncio
import logging
import types
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from connectors.errors import AuthError, ConnectorError
from connectors.netsuite import CredentialError, OAuth2Credentials
from sandbox.netsuite.certificates import KeyPair, make_key_pair

from .fake import (
    BASE_URL,
    CERTIFICATE_ID,
    CLIENT_ID,
    CREDENTIALS,
    KEYS,
    TOKEN_PATH,
    FakeNetSuite,
    ns_error,
)

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def item(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"id": "1", "itemId": "SKU"})


def assertion_of(request: httpx.Request) -> str:
    form = parse_qs(request.content.decode())
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == [JWT_BEARER]
    assert set(form) == {"grant_type", "client_assertion_type", "client_assertion"}
    return form["client_assertion"][0]


def verified(token: str, keys: KeyPair = KEYS) -> dict[str, Any]:
    public = serialization.load_pem_private_key(keys.private_key_pem, None).public_key()
    header = jwt.get_unverified_header(token)
    claims: dict[str, Any] = jwt.decode(
        token,
        public,  # type: ignore[arg-type]
        algorithms=[header["alg"]],
        audience=f"{BASE_URL}{TOKEN_PATH}",
    )
    return {"header": header, **claims}


async def test_one_token_for_many_concurrent_requests() -> None:
    fake = FakeNetSuite(item)
    client = fake.client()
    await asyncio.gather(*(client.get_record("inventoryItem", "1") for _ in range(10)))
    await client.aclose()
    assert fake.tokens_issued == 1
    token_request = fake.requests[0]
    assert token_request.url.path == TOKEN_PATH and token_request.method == "POST"
    assert "authorization" not in token_request.headers  # no client secret, no Basic
    assert {r.headers["authorization"] for r in fake.api_requests} == {"Bearer tok-1"}


async def test_the_assertion_is_what_netsuite_documents() -> None:
    fake = FakeNetSuite(item)
    client = fake.client()
    await client.get_record("inventoryItem", "1")
    await client.aclose()
    token = verified(assertion_of(fake.requests[0]))
    assert token["header"] == {"typ": "JWT", "alg": "ES256", "kid": CERTIFICATE_ID}
    assert token["iss"] == CLIENT_ID and token["scope"] == "rest_webservices"
    assert token["aud"] == f"{BASE_URL}{TOKEN_PATH}"
    assert 0 < token["exp"] - token["iat"] <= 3600


@pytest.fixture(scope="module")
def rsa_keys() -> KeyPair:
    return make_key_pair("rsa")  # 3072 bits: most of a second, so once


async def test_an_rsa_key_signs_with_pss(rsa_keys: KeyPair) -> None:
    fake = FakeNetSuite(item)
    credentials = OAuth2Credentials(CLIENT_ID, CERTIFICATE_ID, rsa_keys.private_key_pem)
    client = fake.client(credentials=credentials)
    await client.get_record("inventoryItem", "1")
    await client.aclose()
    # RS256 (PKCS#1 v1.5) is what NetSuite stopped accepting: PS256 it is.
    assert verified(assertion_of(fake.requests[0]), rsa_keys)["header"]["alg"] == "PS256"


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_the_curve_chooses_the_algorithm() -> None:
    p384 = pem(ec.generate_private_key(ec.SECP384R1()))
    assert OAuth2Credentials(CLIENT_ID, CERTIFICATE_ID, p384).algorithm == "ES384"


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        (lambda: pem(rsa.generate_private_key(65537, 2048)), "3072 or 4096"),
        (lambda: pem(ec.generate_private_key(ec.SECP256K1())), "P-256, P-384 or P-521"),
        (lambda: b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n", "PEM"),
    ],
)
def test_a_key_netsuite_refuses_fails_at_start(key: Any, reason: str) -> None:
    with pytest.raises(CredentialError, match=reason) as refused:
        OAuth2Credentials(CLIENT_ID, CERTIFICATE_ID, key())
    assert "c2VjcmV0" not in str(refused.value)


def test_an_unreadable_key_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match=r"key\.pem"):
        OAuth2Credentials.from_key_file(CLIENT_ID, CERTIFICATE_ID, tmp_path / "key.pem")
    (tmp_path / "key.pem").write_bytes(KEYS.private_key_pem)
    loaded = OAuth2Credentials.from_key_file(CLIENT_ID, CERTIFICATE_ID, tmp_path / "key.pem")
    assert loaded.algorithm == "ES256"


async def test_401_refreshes_once_and_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer tok-1":
            return ns_error(401, "INVALID_LOGIN", "Invalid login attempt.")
        return item(request)

    fake = FakeNetSuite(handler)
    client = fake.client()
    assert (await client.get_record("inventoryItem", "1"))["id"] == "1"
    await client.aclose()
    assert fake.tokens_issued == 2
    assert [r.headers["authorization"] for r in fake.api_requests] == [
        "Bearer tok-1",
        "Bearer tok-2",
    ]


async def test_401_after_refresh_is_auth_error() -> None:
    fake = FakeNetSuite(lambda request: ns_error(401, "INVALID_LOGIN", "Invalid login."))
    client = fake.client()
    with pytest.raises(AuthError):
        await client.get_record("inventoryItem", "1")
    await client.aclose()
    assert len(fake.api_requests) == 2 and fake.tokens_issued == 2


async def test_the_token_is_renewed_before_its_60_minutes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1_800_000_000.0]
    # Only the token provider's clocks move; the event loop keeps the real one.
    monkeypatch.setattr(
        "connectors.netsuite.auth.time",
        types.SimpleNamespace(monotonic=lambda: now[0], time=lambda: now[0]),
    )
    fake = FakeNetSuite(item, expires_in=3600)
    client = fake.client()
    await client.get_record("inventoryItem", "1")
    now[0] += 3539  # a minute before expiry: still the cached token
    await client.get_record("inventoryItem", "1")
    assert fake.tokens_issued == 1
    now[0] += 2  # inside the last minute: renewed before NetSuite would refuse it
    await client.get_record("inventoryItem", "1")
    await client.aclose()
    assert fake.tokens_issued == 2
    token_requests = [r for r in fake.requests if r.url.path == TOKEN_PATH]
    issued = [
        jwt.decode(assertion_of(r), options={"verify_signature": False}) for r in token_requests
    ]
    # Each token request signs a fresh assertion at the time it is made.
    assert [claims["iat"] for claims in issued] == [1_800_000_000, 1_800_003_541]
    assert [r.headers["authorization"] for r in fake.api_requests][-1] == "Bearer tok-2"


async def test_refused_credentials_do_not_leak(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    async def token_refused(request: httpx.Request) -> httpx.Response:
        # A server that echoes what it was sent, and the key, in its error.
        seen.append(assertion_of(request))
        return httpx.Response(
            400,
            json={
                "error": "invalid_grant",
                "error_description": f"bad {seen[-1]} {KEYS.private_key_pem.decode()}",
            },
        )

    client = FakeNetSuite(item).client()
    client._http._transport = httpx.MockTransport(token_refused)  # every call is refused
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthError) as info:
        await client.get_record("inventoryItem", "1")
    await client.aclose()
    key_body = KEYS.private_key_pem.decode().splitlines()[1]
    for secret in (seen[0], key_body):
        assert secret not in str(info.value) and secret not in repr(info.value)
        assert secret not in caplog.text
        assert secret not in repr(client) and secret not in repr(CREDENTIALS)
    assert info.value.code == "invalid_grant" and info.value.status_code == 400


async def test_token_never_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    def echo(request: httpx.Request) -> httpx.Response:  # a server that echoes the header
        return ns_error(400, "USER_ERROR", f"bad request {request.headers['authorization']}")

    fake = FakeNetSuite(echo)
    client = fake.client()
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConnectorError) as info:
        await client.update_record("customer", "1", {"companyName": "X"})
    await client.aclose()
    assert "tok-1" not in str(info.value)
    assert "tok-1" not in caplog.text
