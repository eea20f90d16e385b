"""The Tryton sandbox end to end: bootstrap, cache, REST key, sale to paid invoice."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from models import tryton_json
from sandbox.catalog import DEFAULT_CATALOG
from sandbox.tryton.accountant import TrytonAccountant
from sandbox.tryton.bootstrap import TrytonSetup, init_database
from sandbox.tryton.server import RunningTryton, running_trytond

from .helpers import SKU, b64json, create_party, create_sale, product_by_sku, unique


async def test_cached_init_is_fast_and_gives_a_working_database(
    tmp_path: Path, tryton_setup: TrytonSetup, tryton_cache_dir: Path
) -> None:
    started = time.monotonic()
    copy = init_database(tmp_path / "copy", database="copy", cache_dir=tryton_cache_dir)
    assert time.monotonic() - started < 5
    assert copy.database == "copy"
    assert copy.data_dir == (tmp_path / "copy" / "db").resolve()
    assert copy.application_key == tryton_setup.application_key
    assert TrytonSetup.load(tmp_path / "copy") == copy
    assert (tmp_path / "copy" / "tryton.json").stat().st_mode & 0o777 == 0o600
    # Initialising again is a no-op that returns the saved setup.
    assert init_database(tmp_path / "copy", cache_dir=tryton_cache_dir) == copy

    with running_trytond(copy, tmp_path / "trytond.log") as server:
        async with TrytonAccountant(
            server.base_url, copy.database, copy.admin_login, copy.admin_password
        ) as accountant:
            assert await accountant.party_by_code("no-such-party") is None
        async with httpx.AsyncClient(base_url=server.rest_url) as http:
            response = await http.get(
                "/model/product.product",
                params={"f": "code"},
                headers={"Authorization": f"Bearer {copy.application_key}"},
            )
        assert len(response.json()) == len(DEFAULT_CATALOG)


async def test_application_key_lists_the_catalog(rest: httpx.AsyncClient) -> None:
    response = await rest.get("/model/product.product", params={"d": b64json([]), "f": "code"})

    assert response.status_code == 200
    # At least the seeded catalog: tests sharing the session's server (shipping) add
    # goods products of their own.
    assert {item.sku for item in DEFAULT_CATALOG} <= {
        product["code"] for product in response.json()
    }


async def test_catalog_prices_are_the_list_prices(rest: httpx.AsyncClient) -> None:
    for item in DEFAULT_CATALOG:
        product = await product_by_sku(rest, item.sku)
        assert Decimal(product["list_price_used"]["decimal"]) == item.price


async def test_wrong_application_key_is_unauthorized(tryton: RunningTryton) -> None:
    async with httpx.AsyncClient(base_url=tryton.rest_url) as http:
        response = await http.get(
            "/model/product.product", headers={"Authorization": "Bearer not-the-key"}
        )

    assert response.status_code == 401


async def test_confirmed_sale_is_invoiced_posted_and_paid_in_two_parts(
    rest: httpx.AsyncClient, tryton: RunningTryton, accountant: TrytonAccountant
) -> None:
    party = await create_party(rest, unique("CRM"), with_address=True)
    created = await create_sale(rest, tryton.setup, party, SKU, quantity=3)
    assert created.status_code == 200, created.text
    sale_id = created.json()["id"]

    for button in ("quote", "confirm"):
        response = await rest.post(f"/model/sale.sale/{sale_id}/{button}")
        assert response.status_code == 200, response.text
    # The sale is processed (and invoiced) after the confirm transaction commits.
    sale = (
        await rest.get(f"/model/sale.sale/{sale_id}", params={"f": ["state", "reference"]})
    ).json()
    assert sale["state"] == "processing"

    (listed,) = await accountant.sales_by_reference(sale["reference"])
    assert listed["currency"] == "USD"
    assert listed["total_amount"] == 3 * Decimal("1188.00")
    (invoice,) = await accountant.invoices_for_sale(sale_id)
    assert invoice["state"] == "draft"
    # Least privilege: the integration user may read invoices, not post them.
    denied = await rest.post(f"/model/account.invoice/{invoice['id']}/post")
    assert denied.status_code == 403

    await accountant.post_invoice(invoice["id"])
    await accountant.pay_invoice(invoice["id"], Decimal("1000.00"))
    (partly_paid,) = await accountant.invoices_for_sale(sale_id)
    assert partly_paid["state"] == "posted"
    assert partly_paid["amount_to_pay"] == invoice["total_amount"] - Decimal("1000.00")

    await accountant.pay_invoice(invoice["id"], partly_paid["amount_to_pay"])
    (paid,) = await accountant.invoices_for_sale(sale_id)
    assert (paid["state"], paid["amount_to_pay"]) == ("paid", Decimal(0))

    # The REST user can follow the invoice it did not create.
    seen = await rest.get(
        f"/model/account.invoice/{invoice['id']}",
        params={"f": ["state", "total_amount", "amount_to_pay", "write_date", "lines"]},
    )
    assert seen.json()["state"] == "paid"
    # It reads the payments' move lines (collections come from them), and may change
    # no move: its own group reads moves and lines, nothing more.
    payments = await rest.get(
        f"/model/account.invoice/{invoice['id']}",
        params={"f": ["payment_lines.credit", "move"]},
    )
    assert payments.status_code == 200, payments.text
    body = tryton_json.loads(payments.content)
    assert sum(line["credit"] for line in body["payment_lines"]) == invoice["total_amount"]
    move = body["move"]["id"] if isinstance(body["move"], dict) else body["move"]
    changed = await rest.put(f"/model/account.move/{move}", json={"description": "x"})
    # Tryton answers a refused write as a user error (400), a refused button as 403.
    assert changed.status_code == 400 and "not allowed" in changed.text, changed.text


async def test_unsalable_product_is_refused_with_a_json_400(
    rest: httpx.AsyncClient, tryton: RunningTryton, accountant: TrytonAccountant
) -> None:
    party = await create_party(rest, unique("CRM"), with_address=True)
    await accountant.set_product_salable("SL-TRAINING-DAY", False)
    try:
        # Tryton checks the line's product domain when the sale is written.
        response = await create_sale(rest, tryton.setup, party, "SL-TRAINING-DAY", quantity=1)
    finally:
        await accountant.set_product_salable("SL-TRAINING-DAY", True)

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"status", "message", "description"}
    assert body["status"] == 400
    assert '"Product"' in body["message"]
    assert "is not valid according to its domain" in body["message"]


@pytest.mark.parametrize("addresses", ["never", "removed"])
async def test_party_without_address_cannot_be_quoted(
    rest: httpx.AsyncClient,
    tryton: RunningTryton,
    accountant: TrytonAccountant,
    addresses: str,
) -> None:
    code = unique("CRM")
    await create_party(rest, code, with_address=addresses == "removed")
    if addresses == "removed":
        await accountant.remove_party_addresses(code)
    party = await accountant.party_by_code(code)
    assert party is not None
    assert party["addresses"] == []

    created = await create_sale(rest, tryton.setup, party, SKU, quantity=1)
    assert created.status_code == 200, created.text
    response = await rest.post(f"/model/sale.sale/{created.json()['id']}/quote")

    assert response.status_code == 400
    assert "you must enter an invoice address" in response.json()["message"]
