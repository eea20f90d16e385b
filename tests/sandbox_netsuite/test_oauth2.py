"""OAuth 2.0 client credentials as NetSuite enforces them: a JWT assertion signed with a
mapped certificate's key buys a 60-minute token; every flaw is refused, and the reason
goes to the Login Audit Trail, never to the caller."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from fastapi import FastAPI

from connectors.governor import UnlimitedGovernor
from connectors.netsuite import OAuth2Credentials
from connectors.netsuite.auth import TokenProvider
from sandbox.netsuite.certificates import KeyPair, make_key_pair
from sandbox.netsuite.provision import CERTIFICATES, map_certificate

from .helpers import (
    CLIENT_ID,
    KEYS,
    RECORD,
    TOKEN_PATH,
    assertion,
    register,
    request_token,
)

BASE = "http://netsuite.test"
AUDIENCE = f"{BASE}{TOKEN_PATH}"


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as h:
        yield h


@pytest.fixture
async def credentials(http: httpx.AsyncClient) -> OAuth2Credentials:
    return await register(http)


@pytest.fixture(scope="module")
def rsa_keys() -> KeyPair:
    return make_key_pair("rsa")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def audit(http: httpx.AsyncClient) -> list[str]:
    return [entry["detail"] for entry in (await http.get("/admin/login-audit-trail")).json()]


async def read_item(http: httpx.AsyncClient, token: str) -> httpx.Response:
    return await http.get(f"{RECORD}/inventoryItem/1", headers={"Authorization": f"Bearer {token}"})


async def test_a_valid_assertion_buys_a_60_minute_token(
    http: httpx.AsyncClient, credentials: OAuth2Credentials
) -> None:
    response = await request_token(http, assertion(credentials, AUDIENCE))
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["token_type"] == "bearer" and int(answer["expires_in"]) == 3600
    assert (await read_item(http, answer["access_token"])).status_code == 200


@pytest.mark.parametrize(
    "scope",
    ["rest_webservices", "restlets,rest_webservices", ["restlets", "rest_webservices"]],
)
async def test_scope_as_a_string_or_an_array(
    http: httpx.AsyncClient, credentials: OAuth2Credentials, scope: Any
) -> None:
    response = await request_token(http, assertion(credentials, AUDIENCE, scope=scope))
    assert response.status_code == 200, response.text


async def test_exactly_60_minutes_is_accepted(
    http: httpx.AsyncClient, credentials: OAuth2Credentials
) -> None:
    now = int(time.time())
    token = assertion(credentials, AUDIENCE, iat=now, exp=now + 3600)
    assert (await request_token(http, token)).status_code == 200


OTHER_KEY = ec.generate_private_key(ec.SECP256R1())


class FromNow(int):
    """A time claim as seconds from when the test runs, not from when it was collected
    (half an hour earlier in the whole suite: a claim 20 minutes ahead had expired)."""


def _claims(flaw: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time())
    return {k: now + v if isinstance(v, FromNow) else v for k, v in flaw.items()}


@pytest.mark.parametrize(
    ("flaw", "error", "reason"),
    [
        ({"key": OTHER_KEY}, "invalid_grant", "InvalidSignature"),
        ({"headers": {"kid": "no-such-certificate"}}, "invalid_grant", "UnknownCertificate"),
        ({"aud": "https://1234567.suitetalk.api.netsuite.com" + TOKEN_PATH}, "invalid_grant",
         "InvalidAudience"),
        ({"exp": FromNow(3601), "iat": FromNow(0)}, "invalid_grant", "InvalidExpiration"),
        ({"iat": FromNow(-900), "exp": FromNow(-600)}, "invalid_grant", "AssertionExpired"),
        ({"iat": FromNow(900), "exp": FromNow(1200)}, "invalid_grant", "InvalidIssuedAt"),
        ({"iss": "another-integration"}, "invalid_grant", "InvalidIssuer"),
        ({"headers": {"typ": "JOSE"}}, "invalid_grant", "InvalidAssertion"),
        ({"key": "a shared secret NetSuite never takes", "algorithm": "HS256"}, "invalid_grant",
         "UnsupportedAlgorithm"),
        ({"scope": "restlets"}, "invalid_scope", "InvalidScope"),
        ({"scope": "rest_webservices,everything"}, "invalid_scope", "InvalidScope"),
    ],
)  # fmt: skip
async def test_a_flawed_assertion_is_refused(
    http: httpx.AsyncClient,
    credentials: OAuth2Credentials,
    flaw: dict[str, Any],
    error: str,
    reason: str,
) -> None:
    response = await request_token(http, assertion(credentials, AUDIENCE, **_claims(flaw)))
    assert response.status_code == 400
    assert response.json() == {"error": error}
    assert (await audit(http))[-1] == reason


async def test_an_es256_assertion_needs_a_p256_certificate(http: httpx.AsyncClient) -> None:
    p384 = ec.generate_private_key(ec.SECP384R1())
    pair = _pair(p384, days=365)
    certificate_id = await map_certificate(http, CLIENT_ID, pair.certificate_pem)
    credentials = OAuth2Credentials(CLIENT_ID, certificate_id, pair.private_key_pem)
    assert credentials.algorithm == "ES384"
    assert (await request_token(http, assertion(credentials, AUDIENCE))).status_code == 200
    # Signed by the same key, under another curve's name: refused.
    _, claims, signature = assertion(credentials, AUDIENCE).split(".")
    header = {"typ": "JWT", "alg": "ES512", "kid": certificate_id}
    relabelled = ".".join((base64url(json.dumps(header).encode()), claims, signature))
    assert (await request_token(http, relabelled)).status_code == 400
    assert (await audit(http))[-1] == "UnsupportedAlgorithm"


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_rs256_is_no_longer_accepted(http: httpx.AsyncClient, rsa_keys: KeyPair) -> None:
    certificate_id = await map_certificate(http, CLIENT_ID, rsa_keys.certificate_pem)
    credentials = OAuth2Credentials(CLIENT_ID, certificate_id, rsa_keys.private_key_pem)
    refused = await request_token(http, assertion(credentials, AUDIENCE, algorithm="RS256"))
    assert refused.status_code == 400 and refused.json() == {"error": "invalid_grant"}
    assert (await audit(http))[-1] == "UnsupportedAlgorithm"
    for algorithm in ("PS256", "PS384", "PS512"):
        accepted = await request_token(http, assertion(credentials, AUDIENCE, algorithm=algorithm))
        assert accepted.status_code == 200, algorithm


async def test_a_client_secret_gets_no_token(http: httpx.AsyncClient) -> None:
    """The shortcut the sandbox once took: NetSuite's client-credentials grant
    authenticates the client by a signed assertion only."""
    basic = await http.post(
        TOKEN_PATH, data={"grant_type": "client_credentials"}, auth=(CLIENT_ID, "secret")
    )
    form = await http.post(
        TOKEN_PATH,
        data={"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": "s"},
    )
    for response in (basic, form):
        assert response.status_code == 400 and response.json() == {"error": "invalid_request"}
    wrong_grant = await http.post(TOKEN_PATH, data={"grant_type": "password"})
    assert wrong_grant.json() == {"error": "unsupported_grant_type"}


async def test_access_tokens_expire_after_60_minutes(
    app: FastAPI, http: httpx.AsyncClient, credentials: OAuth2Credentials
) -> None:
    clock = Clock()
    app.state.sandbox.credentials.clock = clock
    answer = (await request_token(http, assertion(credentials, AUDIENCE))).json()
    clock.now += 3599
    assert (await read_item(http, answer["access_token"])).status_code == 200
    clock.now += 1
    expired = await read_item(http, answer["access_token"])
    assert expired.status_code == 401
    assert expired.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
    assert (await audit(http))[-1] == "TokenExpired"


async def test_a_revoked_certificate_locks_the_integration_out_until_restored(
    http: httpx.AsyncClient, credentials: OAuth2Credentials
) -> None:
    token = (await request_token(http, assertion(credentials, AUDIENCE))).json()["access_token"]
    kid = credentials.certificate_id
    revoked = await http.post(f"{CERTIFICATES}/{kid}/revoke")
    assert revoked.json()["revoked"] is True
    assert (await read_item(http, token)).status_code == 401  # its tokens end with it
    refused = await request_token(http, assertion(credentials, AUDIENCE))
    assert refused.status_code == 400 and (await audit(http))[-1] == "CertificateRevoked"
    listed = (await http.get(CERTIFICATES)).json()
    assert [(c["certificate_id"], c["revoked"]) for c in listed] == [(kid, True)]
    await http.post(f"{CERTIFICATES}/{kid}/restore")
    again = await request_token(http, assertion(credentials, AUDIENCE))
    assert (await read_item(http, again.json()["access_token"])).status_code == 200
    assert (await http.post(f"{CERTIFICATES}/unknown/revoke")).status_code == 404


async def test_mapping_is_per_integration_and_certificate(http: httpx.AsyncClient) -> None:
    first = await map_certificate(http, CLIENT_ID, KEYS.certificate_pem)
    assert await map_certificate(http, CLIENT_ID, KEYS.certificate_pem) == first
    other = await map_certificate(http, "another-integration", KEYS.certificate_pem)
    assert other != first


def _pair(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, *, days: int, ago: int = 0
) -> KeyPair:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test")])
    start = datetime.now(UTC) - timedelta(days=ago)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return KeyPair(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        certificate.public_bytes(serialization.Encoding.PEM),
    )


@pytest.mark.parametrize(
    ("certificate", "reason"),
    [
        (lambda: _pair(rsa.generate_private_key(65537, 2048), days=365), "3072 or 4096"),
        (lambda: _pair(ec.generate_private_key(ec.SECP256R1()), days=10, ago=20), "expired"),
        (lambda: KeyPair(b"", b"not a certificate"), "x.509"),
    ],
)
async def test_an_upload_netsuite_refuses_is_refused(
    http: httpx.AsyncClient, certificate: Any, reason: str
) -> None:
    response = await http.post(
        CERTIFICATES,
        json={"client_id": CLIENT_ID, "certificate": certificate().certificate_pem.decode()},
    )
    assert response.status_code == 400
    assert reason in response.json()["o:errorDetails"][0]["detail"]


async def test_a_certificate_valid_longer_than_two_years_is_cut_to_two(
    http: httpx.AsyncClient,
) -> None:
    pair = _pair(ec.generate_private_key(ec.SECP256R1()), days=5 * 365)
    response = await http.post(
        CERTIFICATES, json={"client_id": CLIENT_ID, "certificate": pair.certificate_pem.decode()}
    )
    valid_until = datetime.fromisoformat(response.json()["valid_until"])
    assert abs(valid_until - (datetime.now(UTC) + timedelta(days=730))) < timedelta(minutes=5)


async def test_the_assertion_the_connector_signs_is_accepted(
    http: httpx.AsyncClient, credentials: OAuth2Credentials
) -> None:
    """Not a hand-made test assertion: the one ``NetSuiteClient`` makes."""
    signed = TokenProvider(http, credentials, UnlimitedGovernor()).assertion()
    assert jwt.get_unverified_header(signed)["kid"] == credentials.certificate_id
    assert (await request_token(http, signed)).status_code == 200
