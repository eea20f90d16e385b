"""Token-based authentication: each request signed (OAuth 1.0a, HMAC-SHA256), checked
against Oracle's published example, and against the sandbox's own implementation of
RFC 5849, which shares no code with the library the connector signs with."""

from __future__ import annotations

import logging
import re
import time
from urllib.parse import unquote

import httpx
import pytest

from connectors.errors import AuthError, ConnectorError
from connectors.netsuite import CredentialError, TbaCredentials
from connectors.netsuite.auth import TbaSigner
from sandbox.netsuite import tba as sandbox_tba

from .fake import BASE_URL, FakeNetSuite, ns_error

# Oracle's example in the NetSuite Help Center, "The Signature for Web Services and
# RESTlets" and "The Authorization Headers" (the REST web services header example).
# Read here as two independent open-source test suites quote it, verbatim and in
# agreement; the page itself could not be read in full from this machine.
ORACLE = TbaCredentials(
    account_id="123456",
    consumer_key="ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4",
    consumer_secret="d26ad321a4b2f23b0741c8d38392ce01c3e23e109df6c96eac6d099e9ab9e8b5",
    token_id="2b0ce516420110bcbd36b69e99196d1b7f6de3c6234c5afb799b73d87569f5cc",
    token_secret="c29a677df7d5439a458c063654187e3d678d73aca8e3c9d8bea1478a3eb0d295",
)
NONCE, TIMESTAMP = "fjaLirsIcCGVZWzBX0pg", "1508242306"
REST_URL = "https://123456.suitetalk.api.netsuite.com/services/rest/record/v1/employee/40"
REST_SIGNATURE = "B5OIWznZ2YP0OB7VrJrGkYsTh+8H+5T9Hag+o92q0zY="
REST_BASE_STRING = (
    "GET&https%3A%2F%2F123456.suitetalk.api.netsuite.com%2Fservices%2Frest%2Frecord%2Fv1"
    "%2Femployee%2F40&oauth_consumer_key%3Def40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf3"
    "8c20aae6b67e4%26oauth_nonce%3DfjaLirsIcCGVZWzBX0pg%26oauth_signature_method%3DHMAC-SHA256"
    "%26oauth_timestamp%3D1508242306%26oauth_token%3D2b0ce516420110bcbd36b69e99196d1b7f6de3c62"
    "34c5afb799b73d87569f5cc%26oauth_version%3D1.0"
)
# The same credentials on Oracle's RESTlet URL, whose query parameters are signed too.
RESTLET_URL = (
    "https://123456.restlets.api.netsuite.com/app/site/hosting/restlet.nl"
    "?script=6&deploy=1&customParam=someValue&testParam=someOtherValue"
)
RESTLET_SIGNATURE = "+KK4SKNgz4ZiILGLwOMtfYlgcXSy1eis8ldE9X90azQ="


def params(header: str) -> dict[str, str]:
    return {k: unquote(v) for k, v in re.findall(r'(\w+)="([^"]*)"', header)}


def test_the_connector_signs_oracles_example_as_published() -> None:
    header = TbaSigner(ORACLE).sign("GET", REST_URL, nonce=NONCE, timestamp=TIMESTAMP)
    assert header.startswith('OAuth realm="123456", ')
    assert params(header) == {
        "realm": "123456",
        "oauth_consumer_key": ORACLE.consumer_key,
        "oauth_token": ORACLE.token_id,
        "oauth_nonce": NONCE,
        "oauth_timestamp": TIMESTAMP,
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_version": "1.0",
        "oauth_signature": REST_SIGNATURE,
    }
    restlet = TbaSigner(ORACLE).sign("POST", RESTLET_URL, nonce=NONCE, timestamp=TIMESTAMP)
    assert params(restlet)["oauth_signature"] == RESTLET_SIGNATURE


def test_the_sandbox_computes_oracles_example_on_its_own() -> None:
    oauth = {
        "oauth_consumer_key": ORACLE.consumer_key,
        "oauth_token": ORACLE.token_id,
        "oauth_nonce": NONCE,
        "oauth_timestamp": TIMESTAMP,
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_version": "1.0",
        "realm": "123456",  # never signed
    }
    base = sandbox_tba.signature_base_string("GET", REST_URL, "", oauth)
    assert base == REST_BASE_STRING
    assert sandbox_tba.sign(base, ORACLE.consumer_secret, ORACLE.token_secret) == REST_SIGNATURE
    uri, _, query = RESTLET_URL.partition("?")
    restlet = sandbox_tba.signature_base_string("POST", uri, query, oauth)
    assert sandbox_tba.sign(restlet, ORACLE.consumer_secret, ORACLE.token_secret) == (
        RESTLET_SIGNATURE
    )


def test_rfc_5849_encoding_of_awkward_parameters() -> None:
    """RFC 5849 §3.4.1.1's example request, without its form body (the REST API
    sends JSON, which is never signed): double encoding, ``+`` as a space, an empty
    value, an encoded name, all sorted by their encoded form."""
    oauth = {
        "oauth_consumer_key": "9djdj82h48djs9d2",
        "oauth_token": "kkk9d7dh3k39sjv7",
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": "137131201",
        "oauth_nonce": "7d8f3e4a",
        "oauth_signature": "djosJKDKJSD8743243%2Fjdk33klY%3D",
        "realm": "Example",
    }
    base = sandbox_tba.signature_base_string(
        "post", "http://example.com/request", "b5=%3D%253D&a3=a&c%40=&a2=r%20b", oauth
    )
    assert base == (
        "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3Da%26b5%3D%253D%25253D"
        "%26c%2540%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a"
        "%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201"
        "%26oauth_token%3Dkkk9d7dh3k39sjv7"
    )
    assert sandbox_tba.base_string_uri("HTTP", "Example.COM", 80, "/r%20v/X") == (
        "http://example.com/r%20v/X"
    )


CREDENTIALS = TbaCredentials(
    account_id="1234567-sb1",
    consumer_key="ck",
    consumer_secret="consumer-secret-value",
    token_id="tk",
    token_secret="token-secret-value",
)


def test_realm_is_the_account_id_as_netsuite_writes_it() -> None:
    assert CREDENTIALS.realm == "1234567_SB1"
    with pytest.raises(CredentialError, match="token_secret"):
        TbaCredentials(
            account_id="1", consumer_key="ck", consumer_secret="cs", token_id="t", token_secret=""
        )
    assert "secret-value" not in repr(CREDENTIALS)


def item(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"id": "1"}, headers={"Location": f"{BASE_URL}/x/1"})


async def test_every_request_is_signed_afresh_and_verifies() -> None:
    fake = FakeNetSuite(item)
    client = fake.client(credentials=CREDENTIALS)
    await client.get_record("inventoryItem", "1")
    await client.suiteql_page("SELECT id FROM item WHERE itemid = 'A B'", limit=5, offset=10)
    await client.upsert_record("customer", "A/B c", {"companyName": "X"})
    await client.aclose()
    assert fake.tokens_issued == 0  # nothing to fetch: no token endpoint in TBA
    nonces = set()
    for request in fake.requests:
        header = request.headers["authorization"]
        nonces.add(params(header)["oauth_nonce"])
        # What the connector (oauthlib) signed, the sandbox's RFC 5849 code accepts.
        signed = sandbox_tba.SignedRequest(
            method=request.method,
            uri=sandbox_tba.base_string_uri(
                request.url.scheme,
                request.url.host,
                request.url.port,
                request.url.raw_path.decode().partition("?")[0],
            ),
            query=request.url.query.decode(),
            authorization=header,
        )
        assert sandbox_tba.verify(
            signed,
            realm="1234567_SB1",
            secrets_of=lambda ck, tk: ("consumer-secret-value", "token-secret-value"),
            nonces=sandbox_tba.NonceLedger(),
        ) == ("ck", "tk")
    assert len(nonces) == len(fake.requests) == 3
    assert fake.requests[-1].url.raw_path.startswith(b"/services/rest/record/v1/customer/eid:A%2FB")


async def test_a_401_is_tried_once_more_with_a_new_signature() -> None:
    calls: list[str] = []

    def refuse_first(request: httpx.Request) -> httpx.Response:
        calls.append(request.headers["authorization"])
        if len(calls) == 1:
            return ns_error(401, "INVALID_LOGIN", "Invalid login attempt.")
        return item(request)

    client = FakeNetSuite(refuse_first).client(credentials=CREDENTIALS)
    assert (await client.get_record("inventoryItem", "1"))["id"] == "1"
    await client.aclose()
    assert len(calls) == 2 and params(calls[0])["oauth_nonce"] != params(calls[1])["oauth_nonce"]

    refused = FakeNetSuite(lambda r: ns_error(401, "INVALID_LOGIN", "Invalid login attempt."))
    client = refused.client(credentials=CREDENTIALS)
    with pytest.raises(AuthError):
        await client.get_record("inventoryItem", "1")
    await client.aclose()
    assert len(refused.requests) == 2


async def test_secrets_never_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    def echo(request: httpx.Request) -> httpx.Response:  # a server that echoes too much
        return ns_error(
            400, "USER_ERROR", f"bad {CREDENTIALS.consumer_secret} {CREDENTIALS.token_secret}"
        )

    client = FakeNetSuite(echo).client(credentials=CREDENTIALS)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ConnectorError) as info:
        await client.get_record("inventoryItem", "1")
    await client.aclose()
    for secret in (CREDENTIALS.consumer_secret, CREDENTIALS.token_secret):
        assert secret not in str(info.value) and secret not in caplog.text
        assert secret not in repr(client)


def test_the_timestamp_is_now() -> None:
    header = TbaSigner(CREDENTIALS).sign("GET", f"{BASE_URL}/x")
    assert abs(int(params(header)["oauth_timestamp"]) - time.time()) < 5
    assert len(params(header)["oauth_nonce"]) == 20
