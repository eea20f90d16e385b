"""REST calls shared by the Tryton sandbox tests, written as Syncline's connector must."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx

from sandbox.tryton.bootstrap import TrytonSetup

SKU = "SL-SEAT-PRO"


def b64json(value: Any) -> str:
    """Tryton's REST API takes domains and context as URL-safe base64 JSON."""
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def product_by_sku(rest: httpx.AsyncClient, sku: str) -> dict[str, Any]:
    response = await rest.get(
        "/model/product.product",
        params={"d": b64json([["code", "=", sku]]), "f": ["code", "list_price_used", "sale_uom"]},
    )
    response.raise_for_status()
    (product,) = response.json()
    assert isinstance(product, dict)
    return product


async def create_party(rest: httpx.AsyncClient, code: str, *, with_address: bool) -> dict[str, Any]:
    party: dict[str, Any] = {"name": f"Customer {code}", "code": code}
    if with_address:
        party["addresses"] = [["create", [{"street": "1 Main Street", "city": "Springfield"}]]]
    response = await rest.post("/model/party.party", json=party, params={"f": ["addresses"]})
    response.raise_for_status()
    created = response.json()
    assert isinstance(created, dict)
    return created


async def create_sale(
    rest: httpx.AsyncClient,
    setup: TrytonSetup,
    party: dict[str, Any],
    sku: str,
    quantity: int,
) -> httpx.Response:
    """POST a sale the way a client without on-change must: unit, price and address given."""
    product = await product_by_sku(rest, sku)
    line = {
        "type": "line",
        "product": product["id"],
        "quantity": quantity,
        "unit": product["sale_uom"],
        "unit_price": product["list_price_used"],
    }
    sale = {
        "company": setup.company_id,
        "party": party["id"],
        "currency": await currency_id(rest, setup.currency),
        "reference": unique("OPP"),
        "lines": [["create", [line]]],
    }
    if party["addresses"]:
        sale["invoice_address"] = party["addresses"][0]
    return await rest.post("/model/sale.sale", json=sale)


async def currency_id(rest: httpx.AsyncClient, code: str) -> int:
    response = await rest.get(
        "/model/currency.currency", params={"d": b64json([["code", "=", code]])}
    )
    (currency,) = response.json()
    return int(currency["id"])
