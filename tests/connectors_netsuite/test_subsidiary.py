"""SYNCLINE_ERP_SUBSIDIARY_ID: named on new customers and sales orders, and only then."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from connectors.governor import LocalGovernor
from connectors.netsuite import NetSuiteClient
from connectors.netsuite.mapping import customer_body, sales_order_body
from models.erp import CustomerUpsert, SalesOrderDraft
from sandbox.netsuite.certificates import make_key_pair
from workers.settings import Settings
from workers.wiring import build_erp

CUSTOMER = CustomerUpsert(external_id="001A", company_name="Acme", currency="USD")
DRAFT = SalesOrderDraft(
    external_id="006A", customer_id="7", currency="USD", tran_date=date(2026, 1, 2), lines=[]
)


def test_the_subsidiary_goes_on_customers_and_orders_when_configured() -> None:
    assert customer_body(CUSTOMER, "3")["subsidiary"] == {"id": "3"}
    assert sales_order_body(DRAFT, "3")["subsidiary"] == {"id": "3"}
    assert "subsidiary" not in customer_body(CUSTOMER)
    assert "subsidiary" not in sales_order_body(DRAFT)


async def test_the_setting_reaches_the_client(tmp_path: Path) -> None:
    key_file = tmp_path / "netsuite.key"
    key_file.write_bytes(make_key_pair().private_key_pem)
    login = {"erp_certificate_id": "cert-1", "erp_private_key_file": key_file}
    settings = Settings(environment="test", erp_subsidiary_id="3", **login)
    erp, _ = build_erp(settings, LocalGovernor(1))
    assert isinstance(erp, NetSuiteClient) and erp.subsidiary_id == "3"
    await erp.aclose()
    plain, _ = build_erp(Settings(environment="test", **login), LocalGovernor(1))
    assert isinstance(plain, NetSuiteClient) and plain.subsidiary_id is None
    await plain.aclose()


def test_a_subsidiary_is_an_internal_id() -> None:
    with pytest.raises(ValidationError):
        Settings(environment="test", erp_subsidiary_id="Parent Company")
