"""NetSuite record JSON to and from the canonical ERP models.

Amounts are read with ``Decimal(str(value))``: the JSON was parsed with
``parse_float=Decimal``, so nothing here ever passes through a float.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from models.billing import InvoiceSnapshot, InvoiceStatus
from models.crm import Address
from models.erp import (
    Customer,
    CustomerUpsert,
    Product,
    SalesOrder,
    SalesOrderDraft,
    SalesOrderLine,
)
from models.types import Money

_CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
# SuiteQL's status letter of a cancelled sales order.
SALES_ORDER_CANCELLED = "C"


def decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _ref_id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id", ""))
    return "" if value is None else str(value)


def _ref_name(value: Any) -> str | None:
    if isinstance(value, dict):
        name = value.get("refName")
        return None if name is None else str(name)
    return None if value is None else str(value)


def currency_of(record: dict[str, Any], default: str) -> str:
    name = _ref_name(record.get("currency"))
    return name if name is not None and _CURRENCY_CODE.match(name) else default


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else None


# --- customers --------------------------------------------------------------------------


def customer_body(customer: CustomerUpsert) -> dict[str, Any]:
    body: dict[str, Any] = {
        "externalId": customer.external_id,
        "companyName": customer.company_name,
        "currency": {"refName": customer.currency},
    }
    if customer.tax_id:
        body["custentity_tax_id"] = customer.tax_id
    a = customer.billing_address
    street_lines = (a.street or "").splitlines()
    address = {
        "addr1": street_lines[0] if street_lines else None,
        "addr2": ", ".join(street_lines[1:]) or None,
        "city": a.city,
        "state": a.state,
        "zip": a.postal_code,
        "country": a.country,
    }
    address = {k: v for k, v in address.items() if v}
    if address:
        body["addressBook"] = {
            "items": [
                {"defaultBilling": True, "defaultShipping": True, "addressBookAddress": address}
            ]
        }
    return body


def _billing_address(record: dict[str, Any]) -> Address:
    book = record.get("addressBook")
    items = book.get("items") if isinstance(book, dict) else None
    if not isinstance(items, list) or not items:
        return Address()
    line = next((i for i in items if isinstance(i, dict) and i.get("defaultBilling")), items[0])
    a = line.get("addressBookAddress") or {}
    street = "\n".join(str(a[k]) for k in ("addr1", "addr2") if a.get(k)) or None
    country = a.get("country")
    return Address(
        street=street,
        city=a.get("city"),
        state=a.get("state"),
        postal_code=a.get("zip"),
        country=_ref_id(country) if isinstance(country, dict) else country,
    )


def customer_from_record(record: dict[str, Any]) -> Customer:
    name = _ref_name(record.get("currency"))
    return Customer(
        id=str(record["id"]),
        external_id=record.get("externalId"),
        company_name=str(record.get("companyName") or record.get("entityId") or ""),
        billing_address=_billing_address(record),
        tax_id=record.get("custentity_tax_id"),
        currency=name if name is not None and _CURRENCY_CODE.match(name) else None,
    )


# --- items ------------------------------------------------------------------------------


def product_from_row(row: dict[str, Any], currency: str) -> Product:
    price = row.get("baseprice")
    return Product(
        id=str(row["id"]),
        sku=str(row["itemid"]),
        name=str(row.get("displayname") or row["itemid"]),
        price=None
        if price is None or price == ""
        else Money(amount=decimal(price), currency=currency),
        is_active=row.get("isinactive") in ("F", False, None),
    )


# --- sales orders -----------------------------------------------------------------------


def sales_order_body(draft: SalesOrderDraft) -> dict[str, Any]:
    lines = []
    for line in draft.lines:
        if line.rate.currency != draft.currency:
            raise ValueError(
                f"line {line.sku} is priced in {line.rate.currency}, the order in {draft.currency}"
            )
        item: dict[str, Any] = {
            "item": {"id": line.item_id},
            "quantity": line.quantity,
            "rate": line.rate.amount,
        }
        if line.description:
            item["description"] = line.description
        lines.append(item)
    body: dict[str, Any] = {
        "externalId": draft.external_id,
        "entity": {"id": draft.customer_id},
        "currency": {"refName": draft.currency},
        "tranDate": draft.tran_date.isoformat(),
        "item": {"items": lines},
    }
    if draft.memo:
        body["memo"] = draft.memo
    return body


def sales_order_from_record(record: dict[str, Any], default_currency: str) -> SalesOrder:
    currency = currency_of(record, default_currency)
    sublist = record.get("item")
    items = sublist.get("items", []) if isinstance(sublist, dict) else []
    lines = [
        SalesOrderLine(
            item_id=_ref_id(line.get("item")),
            sku=_ref_name(line.get("item")) or "",
            quantity=decimal(line.get("quantity")),
            rate=Money(amount=decimal(line.get("rate")), currency=currency),
            description=line.get("description"),
        )
        for line in items
    ]
    tran_date = record.get("tranDate")
    return SalesOrder(
        id=str(record["id"]),
        order_number=str(record.get("tranId") or record["id"]),
        external_id=record.get("externalId"),
        customer_id=_ref_id(record.get("entity")),
        currency=currency,
        status=_ref_name(record.get("status")) or "",
        total=Money(amount=decimal(record.get("total", 0)), currency=currency),
        tran_date=date.fromisoformat(tran_date) if tran_date else None,
        lines=lines,
        last_modified=_timestamp(record.get("lastModifiedDate")),
    )


# --- invoices ---------------------------------------------------------------------------

# SuiteQL's invoice status letters: A "Open", B "Paid In Full", V "Voided".
_INVOICE_STATUS = {"A": InvoiceStatus.OPEN, "B": InvoiceStatus.PAID, "V": InvoiceStatus.CANCELLED}


def invoice_from_row(
    row: dict[str, Any], order_external_ids: dict[str, str], default_currency: str
) -> InvoiceSnapshot:
    """A SuiteQL ``transaction`` row of type ``CustInvc`` as an invoice snapshot."""
    currency = row.get("currency") or default_currency
    order_id = str(row["createdfrom"]) if row.get("createdfrom") else None
    modified_at = _timestamp(row.get("lastmodifieddate"))
    if modified_at is None:
        raise ValueError(f"invoice {row.get('id')} has no lastmodifieddate")
    trandate = row.get("trandate")
    return InvoiceSnapshot(
        id=str(row["id"]),
        number=str(row.get("tranid") or row["id"]),
        erp_order_id=order_id,
        crm_opportunity_id=order_external_ids.get(order_id) if order_id else None,
        customer_id=str(row["entity"]) if row.get("entity") else None,
        status=_INVOICE_STATUS.get(str(row.get("status")), InvoiceStatus.OPEN),
        total=Money(amount=decimal(row.get("foreigntotal")), currency=currency),
        amount_due=Money(amount=decimal(row.get("amountremaining")), currency=currency),
        invoice_date=date.fromisoformat(trandate) if trandate else None,
        modified_at=modified_at,
    )
