"""The JWT bearer grant: the assertion Salesforce receives, refusals, and configuration."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from connectors.errors import AuthError
from connectors.salesforce import SalesforceClient
from connectors.salesforce.auth import (
    ASSERTION_LIFETIME_SECONDS,
    JWT_BEARER_GRANT,
    JwtBearer,
)
from workers.settings import Settings
from workers.wiring import build_crm_grant

from .fake import DATA, LOGIN_URL, FakeSalesforce

ACCOUNT_PATH = f"{DATA}/sobjects/Account/001000000000001AAA"
CONSUMER_KEY = "3MVG9-consumer-key"
USERNAME = "syncline@acme.example"
NOW = 1_800_000_000


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def grant(key: rsa.RSAPrivateKey, audience: str = "https://login.salesforce.com/") -> JwtBearer:
    return JwtBearer(CONSUMER_KEY, USERNAME, pem(key), audience, clock=lambda: NOW + 0.7)


def jwt_client(fake: FakeSalesforce, key: rsa.RSAPrivateKey) -> SalesforceClient:
    return SalesforceClient(
        LOGIN_URL, transport=httpx.MockTransport(fake.handler), grant=grant(key)
    )


async def test_the_token_request_carries_a_signed_assertion_and_no_secret(
    fake: FakeSalesforce, rsa_key: rsa.RSAPrivateKey
) -> None:
    fake.on_json("GET", ACCOUNT_PATH, {"Id": "001000000000001AAA"})
    sf = jwt_client(fake, rsa_key)
    await sf.get("Account", "001000000000001AAA")
    await sf.aclose()

    [token_request] = fake.token_requests
    form = parse_qs(token_request.content.decode())
    assert set(form) == {"grant_type", "assertion"}  # no client_id, no client_secret
    assert form["grant_type"] == [JWT_BEARER_GRANT]
    [assertion] = form["assertion"]
    assert jwt.get_unverified_header(assertion)["alg"] == "RS256"
    claims = jwt.decode(
        assertion,
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
        options={"verify_exp": False},
    )
    assert claims == {
        "iss": CONSUMER_KEY,
        "sub": USERNAME,
        "aud": "https://login.salesforce.com",  # the trailing slash is not Salesforce's URL
        "exp": NOW + ASSERTION_LIFETIME_SECONDS,
    }


async def test_every_token_request_gets_a_fresh_assertion(
    fake: FakeSalesforce, rsa_key: rsa.RSAPrivateKey
) -> None:
    clock = iter([NOW, NOW + 3600.0])
    bearer = JwtBearer(CONSUMER_KEY, USERNAME, pem(rsa_key), LOGIN_URL, clock=lambda: next(clock))
    sf = SalesforceClient(LOGIN_URL, transport=httpx.MockTransport(fake.handler), grant=bearer)
    fake.on_json("GET", ACCOUNT_PATH, {"Id": "001000000000001AAA"})
    await sf.get("Account", "001000000000001AAA")
    fake.expire_sessions()  # an hour later the session is gone: a new assertion is signed
    await sf.get("Account", "001000000000001AAA")
    await sf.aclose()
    expiries = [
        jwt.decode(
            parse_qs(r.content.decode())["assertion"][0],
            options={"verify_signature": False},
        )["exp"]
        for r in fake.token_requests
    ]
    assert expiries == [NOW + 180, NOW + 3600 + 180]


async def test_a_refused_assertion_is_an_auth_error_that_quotes_salesforce_not_the_jwt(
    fake: FakeSalesforce, rsa_key: rsa.RSAPrivateKey
) -> None:
    fake.token_reply = httpx.Response(
        400, json={"error": "invalid_grant", "error_description": "audience is invalid"}
    )
    sf = jwt_client(fake, rsa_key)
    with pytest.raises(AuthError) as raised:
        await sf.get("Account", "001000000000001AAA")
    await sf.aclose()
    assert raised.value.code == "invalid_grant"
    assert "audience is invalid" in str(raised.value)
    assertion = parse_qs(fake.token_requests[0].content.decode())["assertion"][0]
    for part in assertion.split("."):
        assert part not in str(raised.value)
    assert fake.data_requests == []


def test_the_grant_never_shows_its_key(rsa_key: rsa.RSAPrivateKey) -> None:
    bearer = grant(rsa_key)
    key_text = pem(rsa_key).decode()
    assert CONSUMER_KEY in repr(bearer) and key_text not in repr(bearer)
    assert "PRIVATE" not in repr(bearer)


@pytest.mark.parametrize(
    "key_file",
    [
        b"-----BEGIN PRIVATE KEY-----\nnot base64 at all\n-----END PRIVATE KEY-----\n",
        b"hunter2-the-secret-someone-pasted",
    ],
)
def test_an_unreadable_key_is_refused_without_quoting_it(key_file: bytes) -> None:
    with pytest.raises(ValueError) as raised:
        JwtBearer(CONSUMER_KEY, USERNAME, key_file, LOGIN_URL)
    assert "hunter2" not in str(raised.value) and "base64" not in str(raised.value)


def test_an_ec_key_is_refused_because_the_assertion_is_rs256() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ValueError, match="RSA"):
        JwtBearer(CONSUMER_KEY, USERNAME, pem(key), LOGIN_URL)


# --- configuration ------------------------------------------------------------------------


def test_jwt_settings_need_a_username_and_a_key_file() -> None:
    with pytest.raises(ValidationError, match="SYNCLINE_CRM_PRIVATE_KEY_FILE"):
        Settings(environment="test", crm_auth="jwt", crm_username=USERNAME)


def test_production_with_jwt_does_not_ask_for_a_crm_client_secret(tmp_path: Path) -> None:
    key_file = tmp_path / "salesforce.key"
    settings = Settings(
        environment="production",
        api_token="a-real-token",
        webhook_secret="a-real-webhook-secret",
        erp_kind="tryton",
        erp_client_secret="a-real-erp-secret",
        crm_auth="jwt",
        crm_username=USERNAME,
        crm_private_key_file=key_file,
    )
    assert settings.crm_auth == "jwt"
    with pytest.raises(ValidationError, match="SYNCLINE_CRM_CLIENT_SECRET"):
        Settings(
            environment="production",
            api_token="a-real-token",
            webhook_secret="a-real-webhook-secret",
            erp_kind="tryton",
            erp_client_secret="a-real-erp-secret",
        )


def test_wiring_builds_the_jwt_grant_from_the_key_file(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    key_file = tmp_path / "salesforce.key"
    key_file.write_bytes(pem(rsa_key))
    settings = Settings(
        environment="test",
        crm_base_url="https://acme.my.salesforce.com",
        crm_client_id=CONSUMER_KEY,
        crm_auth="jwt",
        crm_username=USERNAME,
        crm_private_key_file=key_file,
        crm_jwt_audience="https://login.salesforce.com",
    )
    bearer = build_crm_grant(settings)
    assert isinstance(bearer, JwtBearer)
    claims = jwt.decode(
        bearer.form()["assertion"],
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience="https://login.salesforce.com",
    )
    assert (claims["iss"], claims["sub"]) == (CONSUMER_KEY, USERNAME)
    default_audience = settings.model_copy(update={"crm_jwt_audience": None})
    fallback = build_crm_grant(default_audience)
    assert fallback is not None
    assert (
        jwt.decode(fallback.form()["assertion"], options={"verify_signature": False})["aud"]
        == "https://acme.my.salesforce.com"
    )
    assert build_crm_grant(Settings(environment="test")) is None
