"""OneWorld subsidiaries: the connector names the configured one on what it creates, and
the sandbox account takes it, defaults it, and refuses one that cannot be."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal

import httpx
import pytest
from fastapi import FastAPI

from connectors.errors import RejectedError
from connectors.netsuite import NetSuiteClient
from models.erp import CustomerUpsert, SalesOrderDraft, SalesOrderLine
from models.types import Money

from .helpers import RECORD, netsuite_client


async def erp_for(app: FastAPI, subsidiary_id: str | None) -> NetSuiteClient:
    return await netsuite_client(
        "http://netsuite.test",
        transport=httpx.ASGITransport(app=app),
        subsidiary_id=subsidiary_id,
    )


@pytest.fixture
async def erp(app: FastAPI) -> AsyncIterator[NetSuiteClient]:
    client = await erp_for(app, "1")
    yield client
    await client.aclose()


def customer(external_id: str = "001SUBS") -> CustomerUpsert:
    return CustomerUpsert(external_id=external_id, company_name="Subsidiary Co", currency="USD")


async def order_draft(erp: NetSuiteClient, customer_id: str) -> SalesOrderDraft:
    [item] = (await erp.find_items(["SL-ONBOARDING"])).values()
    return SalesOrderDraft(
        external_id="006SUBS",
        customer_id=customer_id,
        currency="USD",
        tran_date=date(2026, 11, 20),
        lines=[
            SalesOrderLine(
                item_id=item.id,
                sku=item.sku,
                quantity=Decimal(1),
                rate=Money(amount=Decimal("5000.00"), currency="USD"),
            )
        ],
    )


async def test_the_configured_subsidiary_is_on_the_customer_and_its_order(
    erp: NetSuiteClient,
) -> None:
    created = await erp.upsert_customer(customer())
    record = await erp.get_record("customer", created.id)
    assert record["subsidiary"] == {"id": "1", "refName": "Parent Company"}
    order = await erp.create_sales_order(await order_draft(erp, created.id))
    assert (await erp.get_record("salesOrder", order.id))["subsidiary"]["id"] == "1"


async def test_without_a_setting_the_account_books_in_the_customers_subsidiary(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """What the sandbox did before: an account that is not OneWorld never sees one."""
    plain = await erp_for(app, None)
    created = await plain.upsert_customer(customer())
    order = await plain.create_sales_order(await order_draft(plain, created.id))
    assert (await plain.get_record("salesOrder", order.id))["subsidiary"]["id"] == "1"
    await plain.aclose()


async def test_an_unknown_subsidiary_is_refused_like_netsuite(app: FastAPI) -> None:
    erp = await erp_for(app, "9")
    with pytest.raises(RejectedError) as raised:
        await erp.upsert_customer(customer())
    assert raised.value.code == "INVALID_KEY_OR_REF"
    await erp.aclose()


async def test_an_order_in_another_subsidiary_than_its_customers_is_refused(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    eu = await erp_for(app, "2")
    created = await eu.upsert_customer(customer("001EUROPE"))
    assert (await eu.get_record("customer", created.id))["subsidiary"]["id"] == "2"
    parent = await erp_for(app, "1")
    with pytest.raises(RejectedError) as raised:
        await parent.create_sales_order(await order_draft(parent, created.id))
    assert raised.value.code == "INVALID_FLD_VALUE"
    assert "subsidiary" in raised.value.fields
    # Without one named, the order goes to the customer's own subsidiary.
    plain = await erp_for(app, None)
    order = await plain.create_sales_order(await order_draft(plain, created.id))
    assert (await plain.get_record("salesOrder", order.id))["subsidiary"]["id"] == "2"
    changed = await client.patch(
        f"{RECORD}/customer/{created.id}", json={"subsidiary": {"id": "1"}}
    )
    assert changed.status_code == 400
    for erp in (eu, parent, plain):
        await erp.aclose()
