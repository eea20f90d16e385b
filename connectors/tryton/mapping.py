"""Tryton records (as read through REST, dotted fields nested) to canonical models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from models.billing import InvoiceSnapshot, InvoiceStatus
from models.crm import Address
from models.erp import Customer, CustomerUpsert, Product, SalesOrder, SalesOrderLine
from models.types import Money

PARTY_FIELDS = (
    "code",
    "name",
    "addresses.street",
    "addresses.city",
    "addresses.postal_code",
    "addresses.country.code",
)
# ``list_price`` is the template's and reads empty on a product; ``list_price_used`` is
# the price a sale line would take.
PRODUCT_FIELDS = ("code", "name", "list_price_used", "active", "salable", "sale_uom")
SALE_FIELDS = (
    "number",
    "reference",
    "state",
    "party",
    "currency.code",
    "total_amount",
    "sale_date",
    "write_date",
    "create_date",
    "lines.type",
    "lines.product.code",
    "lines.quantity",
    "lines.unit_price",
    "lines.description",
)
INVOICE_FIELDS = (
    "number",
    "state",
    "type",
    "party",
    "currency.code",
    "total_amount",
    "amount_to_pay",
    "invoice_date",
    "write_date",
    "create_date",
    "sales.reference",
)

# How far along a sale is; the furthest copy wins when attempts raced (see client).
SALE_PROGRESS = {"draft": 0, "quotation": 1, "confirmed": 2, "processing": 3, "done": 4}

_INVOICE_STATUS = {
    "posted": InvoiceStatus.OPEN,
    "paid": InvoiceStatus.PAID,
    "cancelled": InvoiceStatus.CANCELLED,
}


def ref_id(value: Any) -> str | None:
    """A many2one as read: an id, or a nested record when sub-fields were asked for."""
    if isinstance(value, dict):
        value = value.get("id")
    return None if value is None else str(value)


def _amount(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if value is None or isinstance(value, bool):
        raise ValueError(f"not an amount: {value!r}")
    return Decimal(str(value))


def _currency(record: dict[str, Any], default: str) -> str:
    currency = record.get("currency")
    if isinstance(currency, dict) and currency.get("code"):
        return str(currency["code"])
    return default


def modified_at(record: dict[str, Any]) -> datetime:
    """Tryton leaves ``write_date`` empty until a record's first change."""
    stamp = record.get("write_date") or record.get("create_date")
    if not isinstance(stamp, datetime):
        raise ValueError(f"{record.get('__name__')} {record.get('id')} has no timestamp")
    return stamp


def customer_from_party(party: dict[str, Any]) -> Customer:
    addresses = party.get("addresses") or []
    first = addresses[0] if addresses else {}
    country = first.get("country")
    return Customer(
        id=str(party["id"]),
        external_id=party.get("code"),
        company_name=party.get("name") or "",
        billing_address=Address(
            street=first.get("street") or None,
            city=first.get("city") or None,
            postal_code=first.get("postal_code") or None,
            country=country.get("code") if isinstance(country, dict) else None,
        ),
    )


def party_values(customer: CustomerUpsert) -> dict[str, Any]:
    """A new party keyed by the CRM account id in its unique ``code``.

    Countries are left out: they are records in Tryton, loaded per installation, and an
    unknown one would refuse the whole party; the street, city and postal code suffice
    for an invoice address.
    """
    address = customer.billing_address
    values: dict[str, Any] = {"code": customer.external_id, "name": customer.company_name}
    if address.street or address.city or address.postal_code:
        values["addresses"] = [
            [
                "create",
                [
                    {
                        "street": address.street or "",
                        "city": address.city or "",
                        "postal_code": address.postal_code or "",
                    }
                ],
            ]
        ]
    return values


def product_from_record(record: dict[str, Any], currency: str) -> Product:
    price = record.get("list_price_used")
    return Product(
        id=str(record["id"]),
        sku=str(record.get("code") or ""),
        name=str(record.get("name") or record.get("code") or ""),
        price=None if price is None else Money(amount=_amount(price), currency=currency),
        is_active=bool(record.get("active", True)),
    )


def sales_order_from_record(record: dict[str, Any], default_currency: str) -> SalesOrder:
    currency = _currency(record, default_currency)
    lines = [
        SalesOrderLine(
            item_id=ref_id(line.get("product")) or "",
            sku=str((line.get("product") or {}).get("code") or ""),
            quantity=_amount(line.get("quantity")),
            rate=Money(amount=_amount(line.get("unit_price")), currency=currency),
            description=line.get("description") or None,
        )
        for line in record.get("lines") or []
        if line.get("type", "line") == "line"
    ]
    return SalesOrder(
        id=str(record["id"]),
        # Tryton numbers a sale when it is quoted; before that the id is all there is.
        order_number=str(record.get("number") or record["id"]),
        external_id=record.get("reference"),
        customer_id=ref_id(record.get("party")) or "",
        currency=currency,
        status=str(record.get("state") or ""),
        total=Money(amount=_amount(record.get("total_amount") or 0), currency=currency),
        tran_date=record.get("sale_date"),
        lines=lines,
        last_modified=modified_at(record),
    )


def invoice_from_record(record: dict[str, Any], default_currency: str) -> InvoiceSnapshot:
    currency = _currency(record, default_currency)
    sales = record.get("sales") or []
    sale = sales[0] if sales else {}
    status = _INVOICE_STATUS[str(record["state"])]
    total = _amount(record.get("total_amount") or 0)
    due = Decimal(0) if status is not InvoiceStatus.OPEN else _amount(record["amount_to_pay"])
    return InvoiceSnapshot(
        id=str(record["id"]),
        number=str(record.get("number") or record["id"]),
        erp_order_id=ref_id(sale) if sale else None,
        crm_opportunity_id=sale.get("reference") or None,
        customer_id=ref_id(record.get("party")),
        status=status,
        total=Money(amount=total, currency=currency),
        amount_due=Money(amount=due, currency=currency),
        invoice_date=record.get("invoice_date"),
        modified_at=modified_at(record),
    )
