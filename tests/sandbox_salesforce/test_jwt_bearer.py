"""The JWT bearer grant, verified for real against the connected app's uploaded certificate."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from connectors.errors import AuthError
from connectors.salesforce import SalesforceClient
from connectors.salesforce.auth import JWT_BEARER_GRANT, JwtBearer
from sandbox.salesforce import build_app
from sandbox.salesforce.server import DEFAULT_USERNAME, close_sandbox

from .helpers import BASE_URL, CLIENT_ID, DATA, make_config
from .signing_keys import signing_key

LOGIN = "https://login.salesforce.com"
CERTIFICATE_ROUTE = "/admin/connected-app/certificate"


async def upload(http: httpx.AsyncClient, certificate_pem: str) -> httpx.Response:
    return await http.post(
        CERTIFICATE_ROUTE, json={"consumerKey": CLIENT_ID, "certificate": certificate_pem}
    )


@pytest.fixture
async def http(sf_app: FastAPI) -> Any:
    transport = httpx.ASGITransport(app=sf_app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
        yield client


def assertion(key: Any = None, **overrides: Any) -> str:
    """A well-formed assertion, signed with the registered key unless ``key`` is given;
    a claim overridden with None is left out."""
    claims: dict[str, Any] = {
        "iss": CLIENT_ID,
        "sub": DEFAULT_USERNAME,
        "aud": LOGIN,
        "exp": int(time.time()) + 180,
        **overrides,
    }
    present = {name: value for name, value in claims.items() if value is not None}
    return jwt.encode(present, key or signing_key().key, algorithm="RS256")


def forged(algorithm: str, claims: dict[str, Any], certificate_pem: str) -> str:
    """A JWT PyJWT refuses to make: HS256 keyed with the public certificate, or unsigned."""

    def part(value: bytes) -> str:
        return base64.urlsafe_b64encode(value).rstrip(b"=").decode()

    header = part(json.dumps({"alg": algorithm, "typ": "JWT"}).encode())
    signed = f"{header}.{part(json.dumps(claims).encode())}"
    if algorithm == "none":
        return signed + "."
    mac = hmac.new(certificate_pem.encode(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{part(mac)}"


async def token(http: httpx.AsyncClient, signed: str) -> httpx.Response:
    return await http.post(
        "/services/oauth2/token", data={"grant_type": JWT_BEARER_GRANT, "assertion": signed}
    )


async def test_the_connector_logs_in_with_the_jwt_bearer_grant(
    http: httpx.AsyncClient, sf_app: FastAPI
) -> None:
    assert (await upload(http, signing_key().certificate_pem)).status_code == 200
    bearer = JwtBearer(CLIENT_ID, DEFAULT_USERNAME, signing_key().key_pem, LOGIN)
    sf = SalesforceClient(BASE_URL, transport=httpx.ASGITransport(app=sf_app), grant=bearer)
    account_id = await sf.create("Account", {"Name": "Signed In Corp"})
    assert (await sf.get("Account", account_id))["Name"] == "Signed In Corp"
    await sf.aclose()


async def test_the_answer_has_no_refresh_token_and_a_working_session(
    http: httpx.AsyncClient,
) -> None:
    await upload(http, signing_key().certificate_pem)
    answer = await token(http, assertion())
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["instance_url"] == BASE_URL
    assert "refresh_token" not in body
    data = await http.get(
        f"{DATA}/limits", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert data.status_code == 200


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        ({"aud": "https://acme.my.salesforce.com"}, "invalid_grant", "audience is invalid"),
        ({"sub": "intruder@acme.example"}, "invalid_grant", "user hasn't approved this consumer"),
        ({"exp": int(time.time()) - 60}, "invalid_grant", "expired authorization code"),
        ({"exp": None}, "invalid_grant", "expired authorization code"),
        ({"exp": str(int(time.time()) - 60)}, "invalid_grant", "expired authorization code"),
        ({"exp": "soon"}, "invalid_grant", "expired authorization code"),
        ({"iss": "3MVG9-someone-elses-app"}, "invalid_client_id", "client identifier invalid"),
        ({"key": signing_key("stranger").key}, "invalid_grant", "invalid assertion"),
    ],
    ids=[
        "wrong-aud",
        "unknown-sub",
        "expired",
        "no-exp",
        "expired-as-text",
        "exp-not-a-time",
        "unknown-iss",
        "bad-signature",
    ],
)
async def test_refusals_have_salesforce_oauth_shapes(
    http: httpx.AsyncClient, claims: dict[str, Any], error: str, description: str
) -> None:
    await upload(http, signing_key().certificate_pem)
    answer = await token(http, assertion(**claims))
    assert answer.status_code == 400
    assert answer.json() == {"error": error, "error_description": description}


async def test_the_test_login_url_and_the_orgs_own_url_are_audiences_too(
    http: httpx.AsyncClient,
) -> None:
    await upload(http, signing_key().certificate_pem)
    for audience in ("https://test.salesforce.com", BASE_URL + "/"):
        assert (await token(http, assertion(aud=audience))).status_code == 200


async def test_no_certificate_no_login(http: httpx.AsyncClient) -> None:
    answer = await token(http, assertion())
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


@pytest.mark.parametrize("algorithm", ["HS256", "none"])
async def test_only_rs256_is_accepted(http: httpx.AsyncClient, algorithm: str) -> None:
    """HS256 keyed with the (public) certificate, or no signature at all, would let anyone
    who saw the certificate log in."""
    await upload(http, signing_key().certificate_pem)
    claims = {"iss": CLIENT_ID, "sub": DEFAULT_USERNAME, "aud": LOGIN, "exp": time.time() + 60}
    answer = await token(http, forged(algorithm, claims, signing_key().certificate_pem))
    assert answer.json() == {"error": "invalid_grant", "error_description": "invalid assertion"}
    assert (await token(http, "not.a.jwt")).status_code == 400


async def test_the_connector_reports_a_refusal_as_an_auth_error(
    http: httpx.AsyncClient, sf_app: FastAPI
) -> None:
    await upload(http, signing_key("stranger").certificate_pem)
    bearer = JwtBearer(CLIENT_ID, DEFAULT_USERNAME, signing_key().key_pem, LOGIN)
    sf = SalesforceClient(BASE_URL, transport=httpx.ASGITransport(app=sf_app), grant=bearer)
    with pytest.raises(AuthError, match="invalid assertion"):
        await sf.get("Account", "001000000000001AAA")
    await sf.aclose()


async def test_the_upload_route_refuses_what_is_not_an_rsa_certificate(
    http: httpx.AsyncClient,
) -> None:
    garbage = await upload(http, "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----")
    assert garbage.status_code == 400
    assert garbage.json()[0]["errorCode"] == "INVALID_CERTIFICATE"
    key_instead = await upload(http, signing_key().key_pem.decode())
    assert key_instead.status_code == 400
    other_app = await http.post(
        CERTIFICATE_ROUTE,
        json={"consumerKey": "someone-else", "certificate": signing_key().certificate_pem},
    )
    assert other_app.status_code == 404
    accepted = (await upload(http, signing_key().certificate_pem)).json()
    assert accepted["consumerKey"] == CLIENT_ID and len(accepted["sha256Fingerprint"]) == 64


async def test_the_certificate_survives_a_restart(tmp_path: Path) -> None:
    config = make_config(tmp_path / "sf.db")
    first = build_app(config)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=first), base_url=BASE_URL
    ) as client:
        assert (await upload(client, signing_key().certificate_pem)).status_code == 200
    await close_sandbox(first.state.sandbox)

    second = build_app(config)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=second), base_url=BASE_URL
    ) as client:
        assert (await token(client, assertion())).status_code == 200
    await close_sandbox(second.state.sandbox)


async def test_a_rotated_certificate_refuses_the_old_key(http: httpx.AsyncClient) -> None:
    await upload(http, signing_key().certificate_pem)
    await upload(http, signing_key("rotated").certificate_pem)
    assert (await token(http, assertion())).status_code == 400
    assert (await token(http, assertion(key=signing_key("rotated").key))).status_code == 200


def test_the_orgs_users_come_from_the_environment() -> None:
    from sandbox.salesforce.server import _usernames_from_env

    env = {"SYNCLINE_SF_USERNAMES": " a@acme.example, ,b@acme.example "}
    assert _usernames_from_env(env) == ("a@acme.example", "b@acme.example")
    assert _usernames_from_env({}) == ()
