"""The unmodified ``simple_salesforce`` library against the sandbox served by uvicorn.

simple_salesforce always speaks ``https://`` to the instance, so the sandbox is served
with a throwaway self-signed certificate, which the requests session is told to trust.
Both logins are tried: a session from client credentials, and the library's own JWT
bearer login with a private key.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from requests import PreparedRequest, Response
from requests.adapters import HTTPAdapter
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceMalformedRequest,
    SalesforceResourceNotFound,
)

from sandbox.salesforce import build_app
from sandbox.salesforce.server import DEFAULT_USERNAME

from .helpers import CLIENT_ID, CLIENT_SECRET, make_config
from .servers import free_socket, self_signed_certificate, serve
from .signing_keys import signing_key


@pytest.fixture
def sf(tmp_path: Path) -> Iterator[Salesforce]:
    certificate = self_signed_certificate(tmp_path)
    if certificate is None:
        pytest.skip("neither the cryptography package nor openssl is available")
    cert, key = certificate
    sock = free_socket()
    base_url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    app = build_app(make_config(tmp_path / "sf.db", base_url=base_url))
    with serve(app, sock, ssl_certfile=str(cert), ssl_keyfile=str(key)):
        session = requests.Session()
        session.verify = str(cert)
        session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment wins
        token = session.post(
            f"{base_url}/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
            },
        ).json()
        yield Salesforce(
            instance_url=token["instance_url"],
            session_id=token["access_token"],
            version="59.0",
            session=session,
        )
        session.close()
        # A response kept alive by an exception's traceback holds its pooled connection
        # until collected; collect now so uvicorn's shutdown finds no open connection.
        gc.collect()


def test_simple_salesforce_round_trip(sf: Any) -> None:  # the library types poorly
    account: Any = sf.Account.create({"Name": "Simple Corp", "BillingCity": "Oslo"})
    assert account["success"] is True and account["id"].startswith("001")
    opportunity: Any = sf.Opportunity.create(
        {
            "Name": "Simple deal",
            "AccountId": account["id"],
            "StageName": "Prospecting",
            "CloseDate": "2026-12-31",
            "Amount": 1200.5,
        }
    )
    assert opportunity["id"].startswith("006")

    assert sf.Opportunity.update(opportunity["id"], {"StageName": "Closed Won"}) == 204
    record: Any = sf.Opportunity.get(opportunity["id"])
    assert (record["StageName"], record["IsWon"], record["Amount"]) == ("Closed Won", True, 1200.5)

    result: Any = sf.query(
        f"SELECT Id, Name, Account.Name FROM Opportunity WHERE AccountId = '{account['id']}'"
    )
    assert result["totalSize"] == 1 and result["done"] is True
    assert result["records"][0]["Account"]["Name"] == "Simple Corp"
    assert sf.api_usage["api-usage"].total == 15000

    for index in range(250):
        sf.Product2.create({"Name": f"Bulk {index}", "ProductCode": f"B{index:03d}"})
    every: Any = sf.query_all(
        "SELECT ProductCode FROM Product2 ORDER BY ProductCode",
        headers={"Sforce-Query-Options": "batchSize=200"},
    )
    assert every["totalSize"] == 250
    assert [r["ProductCode"] for r in every["records"]] == [f"B{i:03d}" for i in range(250)]
    first_page: Any = sf.query(
        "SELECT Id FROM Product2", headers={"Sforce-Query-Options": "batchSize=200"}
    )
    assert first_page["done"] is False and len(first_page["records"]) == 200

    assert sf.Account.upsert("External_Id__c/acct-1", {"Name": "Upserted"}) == 201
    assert sf.Account.upsert("External_Id__c/acct-1", {"Name": "Upserted again"}) == 200
    assert sf.Account.get_by_custom_id("External_Id__c", "acct-1")["Name"] == "Upserted again"

    describe: Any = sf.Opportunity.describe()
    fields = {f["name"]: f for f in describe["fields"]}
    assert fields["StageName"]["type"] == "picklist"
    assert fields["External_Id__c"]["externalId"] is True
    assert {o["name"] for o in sf.describe()["sobjects"]} >= {"Account", "Opportunity"}

    assert sf.Opportunity.delete(opportunity["id"]) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Opportunity.get(opportunity["id"])
    with pytest.raises(SalesforceMalformedRequest) as raised:
        sf.Opportunity.create({"Name": "No stage", "CloseDate": "2026-01-01"})
    content: Any = raised.value.content
    assert content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"


class _LoginHostToSandbox(HTTPAdapter):
    """simple_salesforce builds its token URL as ``https://<domain>.salesforce.com`` with no
    way to name another host, so the session sends that one host to the sandbox: the
    library itself runs unchanged, ``aud`` and all."""

    def __init__(self, sandbox_url: str) -> None:
        super().__init__()
        self._sandbox_url = sandbox_url

    def send(self, request: PreparedRequest, *args: Any, **kwargs: Any) -> Response:
        assert request.url is not None
        request.url = request.url.replace(LOGIN_HOST, self._sandbox_url, 1)
        return super().send(request, *args, **kwargs)


LOGIN_HOST = "https://login.salesforce.com"


def test_simple_salesforce_logs_in_with_the_jwt_bearer_grant(tmp_path: Path) -> None:
    certificate = self_signed_certificate(tmp_path)
    if certificate is None:
        pytest.skip("neither the cryptography package nor openssl is available")
    cert, key = certificate
    sock = free_socket()
    base_url = f"https://127.0.0.1:{sock.getsockname()[1]}"
    app = build_app(make_config(tmp_path / "sf.db", base_url=base_url))
    signing = signing_key()
    with serve(app, sock, ssl_certfile=str(cert), ssl_keyfile=str(key)):
        session = requests.Session()
        session.verify = str(cert)
        session.trust_env = False
        session.mount(LOGIN_HOST, _LoginHostToSandbox(base_url))
        uploaded = session.post(
            f"{base_url}/admin/connected-app/certificate",
            json={"consumerKey": CLIENT_ID, "certificate": signing.certificate_pem},
        )
        assert uploaded.status_code == 200, uploaded.text

        sf: Any = Salesforce(
            username=DEFAULT_USERNAME,
            consumer_key=CLIENT_ID,
            privatekey=signing.key_pem.decode(),
            domain="login",
            version="59.0",
            session=session,
        )
        assert sf.sf_instance == base_url.removeprefix("https://")
        created: Any = sf.Account.create({"Name": "JWT Corp"})
        assert sf.Account.get(created["id"])["Name"] == "JWT Corp"

        # The library warns about self-authorisation on this refusal, then raises.
        with (
            pytest.warns(UserWarning),
            pytest.raises(SalesforceAuthenticationFailed, match="hasn't approved"),
        ):
            Salesforce(
                username="someone-else@acme.example",
                consumer_key=CLIENT_ID,
                privatekey=signing.key_pem.decode(),
                domain="login",
                session=session,
            )
        session.close()
        gc.collect()
