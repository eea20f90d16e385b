"""The metadata catalog and governanceLimits, through Syncline's own connector."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from connectors.errors import AuthError, ConnectorError
from connectors.netsuite import NetSuiteClient
from connectors.netsuite.credentials import OAuth2Credentials

from .helpers import KEYS, RECORD, netsuite_client


@pytest.fixture
async def erp(app: FastAPI) -> AsyncIterator[NetSuiteClient]:
    client = await netsuite_client("http://netsuite.test", transport=httpx.ASGITransport(app=app))
    yield client
    await client.aclose()


async def test_the_catalog_lists_every_record_type(erp: NetSuiteClient) -> None:
    names = {item["name"] for item in (await erp.metadata_catalog())["items"]}
    assert {"customer", "salesOrder", "invoice", "subscription"} <= names


async def test_a_record_is_described_as_json_schema_with_its_custom_fields(
    erp: NetSuiteClient,
) -> None:
    schema = await erp.metadata_catalog("salesorder")
    properties = schema["properties"]
    assert properties["tranDate"] == {
        "title": "Date",
        "type": "string",
        "format": "date",
        "nullable": True,
    }
    line = properties["item"]["properties"]["items"]["items"]["properties"]
    assert line["custcol_revenue_type"]["x-ns-custom-field"] is True
    assert "x-ns-custom-field" not in line["rate"]
    customer = await erp.metadata_catalog("customer")
    assert customer["properties"]["custentity_tax_id"]["x-ns-custom-field"] is True


async def test_other_formats_and_unknown_records_are_refused(
    client: httpx.AsyncClient, erp: NetSuiteClient
) -> None:
    swagger = await client.get(
        f"{RECORD}/metadata-catalog/customer", headers={"Accept": "application/swagger+json"}
    )
    assert swagger.status_code == 406
    with pytest.raises(ConnectorError) as raised:
        await erp.metadata_catalog("nosuchrecord")
    assert raised.value.status_code == 404


async def test_governance_limits_report_the_account_limit(
    app: FastAPI, erp: NetSuiteClient
) -> None:
    app.state.sandbox.limiter.limit = 7
    assert await erp.governance_limits() == {
        "accountConcurrencyLimit": 7,
        "accountUnallocatedConcurrencyLimit": 7,
        "integrationLimitType": "accountLimit",
    }


async def test_the_catalog_needs_a_token(app: FastAPI) -> None:
    unmapped = OAuth2Credentials("sandbox-client", "no-such-certificate", KEYS.private_key_pem)
    wrong = NetSuiteClient("http://netsuite.test", unmapped, transport=httpx.ASGITransport(app=app))
    with pytest.raises(AuthError):
        await wrong.metadata_catalog()
    await wrong.aclose()
