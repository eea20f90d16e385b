"""A NetSuite client written by nobody here works against the sandbox unchanged: plain
``requests`` with ``requests-oauthlib``'s OAuth1 (HMAC-SHA256, realm = the account),
the combination NetSuite integrations commonly use for token-based authentication.

(The ``netsuite`` package on PyPI speaks this API too, but pins httpx below 0.28 and
builds its URLs from the account id alone, so it cannot be aimed at a local server.)
"""

from __future__ import annotations

from urllib.parse import quote

import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256
from requests_oauthlib import OAuth1

from .helpers import ACCOUNT_ID, RECORD, SUITEQL


def session_for(live_url: str) -> requests.Session:
    """An administrator creates the token in the UI; the integration gets four values."""
    created = requests.post(f"{live_url}/admin/tba/tokens", json={}, timeout=10)
    created.raise_for_status()
    values = created.json()
    session = requests.Session()
    session.auth = OAuth1(
        values["consumer_key"],
        client_secret=values["consumer_secret"],
        resource_owner_key=values["token_id"],
        resource_owner_secret=values["token_secret"],
        signature_method=SIGNATURE_HMAC_SHA256,
        realm=ACCOUNT_ID,
    )
    return session


def test_requests_oauthlib_reads_and_upserts_a_customer(live_url: str) -> None:
    session = session_for(live_url)
    url = f"{live_url}{RECORD}/customer/eid:{quote('CUST-42/β', safe='')}"
    created = session.put(
        url, json={"companyName": "Outside Client Ltd", "currency": {"refName": "USD"}}, timeout=10
    )
    assert created.status_code == 204, created.text
    location = created.headers["Location"]
    read = session.get(url, timeout=10)
    assert read.status_code == 200 and read.json()["companyName"] == "Outside Client Ltd"
    assert read.json()["externalId"] == "CUST-42/β"
    # The same PUT again updates the record it made: an upsert, not a second customer.
    renamed = session.put(url, json={"companyName": "Outside Client plc"}, timeout=10)
    assert renamed.status_code == 204 and renamed.headers["Location"] == location
    assert session.get(location, timeout=10).json()["companyName"] == "Outside Client plc"


def test_requests_oauthlib_pages_through_suiteql(live_url: str) -> None:
    session = session_for(live_url)
    page = session.post(
        f"{live_url}{SUITEQL}",
        params={"limit": 3, "offset": 2},
        json={"q": "SELECT id, itemid FROM item WHERE isinactive = 'F' ORDER BY id"},
        headers={"Prefer": "transient"},
        timeout=10,
    )
    assert page.status_code == 200, page.text
    assert page.json()["count"] == 3 and page.json()["offset"] == 2


def test_an_unsigned_or_badly_signed_request_is_refused(live_url: str) -> None:
    assert requests.get(f"{live_url}{RECORD}/customer/1", timeout=10).status_code == 401
    session = session_for(live_url)
    assert isinstance(session.auth, OAuth1)
    session.auth.client.resource_owner_secret = "not-the-token-secret"
    refused = session.get(f"{live_url}{RECORD}/inventoryItem/1", timeout=10)
    assert refused.status_code == 401
    assert refused.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
