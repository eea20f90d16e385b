"""Token-based authentication as NetSuite enforces it: each request signed (OAuth 1.0a,
HMAC-SHA256, realm = the account), within five minutes of the server's clock, never
twice with the same nonce; the connector's signatures pass end to end."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1
from oauthlib.oauth1 import Client as OAuth1Client

from connectors.errors import AuthError
from connectors.netsuite import NetSuiteClient, TbaCredentials
from connectors.netsuite.auth import TbaSigner
from models.erp import CustomerUpsert
from sandbox.netsuite.provision import TBA_TOKENS, create_tba_token

from .helpers import ACCOUNT_ID, RECORD, SUITEQL

BASE = "http://netsuite.test"
ITEM = f"{BASE}{RECORD}/inventoryItem/1"


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as h:
        yield h


@pytest.fixture
async def tba(http: httpx.AsyncClient) -> TbaCredentials:
    return TbaCredentials(account_id=ACCOUNT_ID, **await create_tba_token(http))


async def audit(http: httpx.AsyncClient) -> list[str]:
    return [entry["detail"] for entry in (await http.get("/admin/login-audit-trail")).json()]


async def get(http: httpx.AsyncClient, authorization: str, url: str = ITEM) -> httpx.Response:
    return await http.get(url, headers={"Authorization": authorization})


async def test_the_connector_reads_queries_and_upserts_with_tba(
    app: FastAPI, tba: TbaCredentials
) -> None:
    client = NetSuiteClient(BASE, tba, transport=httpx.ASGITransport(app=app))
    try:
        customer = await client.upsert_customer(
            CustomerUpsert(external_id="001/TBA ü", company_name="Signed & Co", currency="USD")
        )
        assert (await client.get_record("customer", customer.id))["companyName"] == "Signed & Co"
        # A query string with spaces, quotes and commas is part of what is signed.
        items = await client.find_items(["SL-SEAT-PRO", "SL-ONBOARDING"])
        assert set(items) == {"SL-SEAT-PRO", "SL-ONBOARDING"}
    finally:
        await client.aclose()


async def test_a_replayed_request_is_refused(http: httpx.AsyncClient, tba: TbaCredentials) -> None:
    header = TbaSigner(tba).sign("GET", ITEM)
    assert (await get(http, header)).status_code == 200
    replayed = await get(http, header)
    assert replayed.status_code == 401
    assert replayed.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
    assert (await audit(http))[-1] == "NonceUsed"


@pytest.mark.parametrize(("skew", "accepted"), [(-299, True), (-301, False), (301, False)])
async def test_the_timestamp_must_be_within_five_minutes(
    http: httpx.AsyncClient, tba: TbaCredentials, skew: int, accepted: bool
) -> None:
    header = TbaSigner(tba).sign("GET", ITEM, timestamp=str(int(time.time()) + skew))
    response = await get(http, header)
    assert (response.status_code == 200) is accepted
    if not accepted:
        assert (await audit(http))[-1] == "InvalidTimestamp"


async def test_the_realm_must_name_the_account(
    http: httpx.AsyncClient, tba: TbaCredentials
) -> None:
    header = TbaSigner(tba).sign("GET", ITEM)
    # The realm is not signed: only the account check can catch it. NetSuite writes
    # it in upper case with an underscore, never as the host's "1234567-sb1".
    for realm in ("1234567-sb1", "7654321"):
        wrong = header.replace(f'realm="{ACCOUNT_ID}"', f'realm="{realm}"')
        assert (await get(http, wrong)).status_code == 401
        assert (await audit(http))[-1] == "InvalidAccount"


async def test_a_wrong_secret_or_a_changed_url_fails_the_signature(
    http: httpx.AsyncClient, tba: TbaCredentials
) -> None:
    forged = TbaCredentials(
        account_id=ACCOUNT_ID,
        consumer_key=tba.consumer_key,
        consumer_secret=tba.consumer_secret,
        token_id=tba.token_id,
        token_secret="guessed",
    )
    assert (await get(http, TbaSigner(forged).sign("GET", ITEM))).status_code == 401
    signed_for_another = TbaSigner(tba).sign("GET", f"{BASE}{RECORD}/inventoryItem/2")
    assert (await get(http, signed_for_another)).status_code == 401
    signed_without_query = TbaSigner(tba).sign("GET", ITEM)
    assert (
        await get(http, signed_without_query, f"{ITEM}?expandSubResources=true")
    ).status_code == 401
    assert await audit(http) == ["InvalidSignature"] * 3


def oauthlib_header(tba: TbaCredentials, **options: str) -> str:
    client = OAuth1Client(
        tba.consumer_key,
        client_secret=tba.consumer_secret,
        resource_owner_key=tba.token_id,
        resource_owner_secret=tba.token_secret,
        realm=tba.realm,
        **options,
    )
    header: str = client.sign(ITEM, "GET")[1]["Authorization"]
    return header


async def test_hmac_sha1_and_short_nonces_are_refused(
    http: httpx.AsyncClient, tba: TbaCredentials
) -> None:
    sha1 = oauthlib_header(tba, signature_method=SIGNATURE_HMAC_SHA1)
    assert (await get(http, sha1)).status_code == 401
    short = oauthlib_header(tba, signature_method="HMAC-SHA256", nonce="abc12")
    assert (await get(http, short)).status_code == 401
    assert await audit(http) == ["InvalidSignatureMethod", "nonce_rejected"]


async def test_a_revoked_token_is_refused_until_restored(
    http: httpx.AsyncClient, tba: TbaCredentials
) -> None:
    signer = TbaSigner(tba)
    await http.post(f"{TBA_TOKENS}/{tba.token_id}/revoke")
    assert (await get(http, signer.sign("GET", ITEM))).status_code == 401
    assert (await audit(http))[-1] == "TokenRevoked"
    listed = (await http.get(TBA_TOKENS)).json()
    assert listed == [{"token_id": tba.token_id, "consumer_key": tba.consumer_key, "revoked": True}]
    await http.post(f"{TBA_TOKENS}/{tba.token_id}/restore")
    assert (await get(http, signer.sign("GET", ITEM))).status_code == 200


async def test_unknown_consumers_and_tokens_are_refused(
    http: httpx.AsyncClient, tba: TbaCredentials
) -> None:
    other = await create_tba_token(http)  # another integration's token
    for consumer_key, token_id in (
        (tba.consumer_key + "x", tba.token_id),
        (tba.consumer_key, other["token_id"]),
    ):
        stranger = TbaCredentials(
            account_id=ACCOUNT_ID,
            consumer_key=consumer_key,
            consumer_secret=tba.consumer_secret,
            token_id=token_id,
            token_secret=tba.token_secret,
        )
        assert (await get(http, TbaSigner(stranger).sign("GET", ITEM))).status_code == 401
    assert await audit(http) == ["consumer_key_unknown", "InvalidToken"]


async def test_registration_keeps_an_integration_and_its_secret(http: httpx.AsyncClient) -> None:
    first = await create_tba_token(http)
    second = await create_tba_token(http, consumer_key=first["consumer_key"])
    assert second["consumer_secret"] == first["consumer_secret"]
    assert second["token_id"] != first["token_id"]
    assert await create_tba_token(http, **first) == first  # registering again changes nothing
    clash = await http.post(TBA_TOKENS, json={**first, "consumer_secret": "another"})
    assert clash.status_code == 409


async def test_a_refusal_gives_nothing_away(
    app: FastAPI, http: httpx.AsyncClient, tba: TbaCredentials
) -> None:
    client = NetSuiteClient(
        BASE,
        TbaCredentials(
            account_id="7654321",
            consumer_key=tba.consumer_key,
            consumer_secret=tba.consumer_secret,
            token_id=tba.token_id,
            token_secret=tba.token_secret,
        ),
        transport=httpx.ASGITransport(app=app),
    )
    with pytest.raises(AuthError) as refused:
        await client.get_record("inventoryItem", "1")
    await client.aclose()
    for secret in (tba.consumer_secret, tba.token_secret):
        assert secret not in str(refused.value) and secret not in repr(client)
    # One try, one more with a fresh signature: both in the audit trail.
    assert await audit(http) == ["InvalidAccount", "InvalidAccount"]
    trail = (await http.get("/admin/login-audit-trail")).json()
    assert trail[-1]["token_id"] == tba.token_id and tba.token_secret not in str(trail)


async def test_suiteql_paging_is_signed_with_its_query(
    http: httpx.AsyncClient, tba: TbaCredentials
) -> None:
    url = f"{BASE}{SUITEQL}?limit=2&offset=1"
    response = await http.post(
        url,
        json={"q": "SELECT id FROM item"},
        headers={"Prefer": "transient", "Authorization": TbaSigner(tba).sign("POST", url)},
    )
    assert response.status_code == 200 and response.json()["count"] == 2
