"""Tryton records (as read through REST, dotted fields nested) to canonical models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from models.billing import InvoiceSnapshot, InvoiceStatus
from models.changes import CustomerChange, InvoiceChange, ItemChange, OrderChange, OrderStatus
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
    "cancel_move.origin",
    "move",
)

# What the change feed reads of each kind (the keyset adds the stamps it orders by).
ORDER_FIELDS = (*SALE_FIELDS, "invoice_state", "to_invoice", "invoices.state")
PARTY_CHANGE_FIELDS = (
    "code",
    "name",
    "active",
    "addresses.street",
    "addresses.city",
    "addresses.postal_code",
    "addresses.country.code",
    "addresses.invoice",
    "addresses.active",
    "tax_identifier.code",
)
ITEM_FIELDS = ("code", "name", "active", "template.active", "salable", "list_price_used")
# An order as listed by reference: the feed's fields without the lines, which a listing
# does not need and which make each record many times larger.
ORDER_LISTING_FIELDS = tuple(f for f in ORDER_FIELDS if not f.startswith("lines."))

# Accepted orders: drafts and quotations are still the seller's proposal.
ACCEPTED_SALE_STATES = ("confirmed", "processing", "done", "cancelled")
# Tryton's ``invoice_state`` once an invoice is posted (none of them cancelled unpaid).
_POSTED_INVOICE_STATES = frozenset({"awaiting payment", "partially paid", "paid"})
_UNPOSTED_INVOICE = frozenset({"draft", "validated"})

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
        state=order_status(record),
    )


def invoice_from_record(record: dict[str, Any], default_currency: str) -> InvoiceSnapshot:
    currency = _currency(record, default_currency)
    sales = record.get("sales") or []
    sale = sales[0] if sales else {}
    status = _INVOICE_STATUS[str(record["state"])]
    total = _amount(record.get("total_amount") or 0)
    due = Decimal(0) if status is not InvoiceStatus.OPEN else _amount(record["amount_to_pay"])
    collected = _collected(record)
    credited = Decimal(0)
    if status is InvoiceStatus.CANCELLED and credit_note_of(record) is not None:
        # Credited "with refund": Tryton cancels the invoice with the credit note's move.
        # Not a void: the credit settles it (the credit note is read on its own).
        status, credited = InvoiceStatus.PAID, total - (collected or Decimal(0))
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
        collected=collected,
        credited=credited,
    )


def credit_note_of(record: dict[str, Any]) -> str | None:
    """The credit note whose move cancelled this invoice (Tryton's credit wizard "with
    refund"), by id; None for an invoice cancelled by its own reversal (a void)."""
    cancel_move = record.get("cancel_move")
    origin = cancel_move.get("origin") if isinstance(cancel_move, dict) else None
    if isinstance(origin, str) and origin.startswith("account.invoice,"):
        credit_note = origin.split(",", 1)[1]
        return credit_note if credit_note != str(record["id"]) else None
    return None


def _collected(record: dict[str, Any]) -> Decimal | None:
    """The cash its payment lines add up to, when they were read."""
    if "payment_lines" not in record:
        return None
    lines = record.get("payment_lines") or []
    return sum(
        (_amount(line.get("credit") or 0) - _amount(line.get("debit") or 0) for line in lines),
        Decimal(0),
    )


def order_status(record: dict[str, Any]) -> OrderStatus:
    """What a Tryton sale's state means to Syncline.

    ``processing`` is billed once nothing is left to invoice (``to_invoice`` false) and
    every invoice is posted: Tryton's ``invoice_state`` says one is posted and none was
    cancelled unpaid, and no invoice is still a draft. With the invoice method "on
    order" Tryton drafts the invoice at once, so a freshly processed sale is still open
    until an accountant posts it. ``done`` is invoiced, paid and shipped.

    Open does not promise that Tryton still cancels or amends the sale: it does so only
    up to "confirmed"; a processing sale is refused (see the client).
    """
    state = record.get("state")
    if state == "cancelled":
        return OrderStatus.CANCELLED
    if state == "done":
        return OrderStatus.CLOSED
    if state == "processing" and _fully_billed(record):
        return OrderStatus.BILLED
    return OrderStatus.OPEN


def _fully_billed(record: dict[str, Any]) -> bool:
    invoices = record.get("invoices") or []
    return (
        not record.get("to_invoice")
        and record.get("invoice_state") in _POSTED_INVOICE_STATES
        and not any(i.get("state") in _UNPOSTED_INVOICE for i in invoices)
    )


def order_change_from_record(
    record: dict[str, Any], default_currency: str, moment: datetime
) -> OrderChange:
    order = sales_order_from_record(record, default_currency)
    return OrderChange(
        id=order.id,
        order_number=order.order_number,
        crm_opportunity_id=order.external_id or None,
        customer_id=order.customer_id,
        status=order_status(record),
        erp_status=order.status,
        total=order.total,
        tran_date=order.tran_date,
        lines=order.lines,
        modified_at=moment,
    )


def customer_change_from_party(
    party: dict[str, Any], default_currency: str, moment: datetime
) -> CustomerChange:
    """The legal customer; its billing address is the one Tryton would invoice.

    ``default_currency`` is unused (every kind converts with the same arguments): a
    Tryton party has no currency of its own.
    """
    tax = party.get("tax_identifier")
    return CustomerChange(
        id=str(party["id"]),
        external_id=party.get("code") or None,
        legal_name=party.get("name") or "",
        billing_address=_address(invoice_address(party.get("addresses") or [])),
        tax_id=(tax.get("code") or None) if isinstance(tax, dict) else None,
        is_active=bool(party.get("active", True)),
        modified_at=moment,
    )


def invoice_address(addresses: list[dict[str, Any]]) -> dict[str, Any]:
    """Tryton's own choice (``party.address_get('invoice')``): the first active
    address flagged for invoices, else the first active address."""
    active = [a for a in addresses if a.get("active", True)]
    flagged = [a for a in active if a.get("invoice")]
    return (flagged or active or [{}])[0]


def _address(address: dict[str, Any]) -> Address:
    country = address.get("country")
    return Address(
        street=address.get("street") or None,
        city=address.get("city") or None,
        postal_code=address.get("postal_code") or None,
        country=country.get("code") if isinstance(country, dict) else None,
    )


def item_change_from_record(
    record: dict[str, Any], default_currency: str, moment: datetime
) -> ItemChange:
    """A product (variant) with its template's list price, in the company currency.

    Active means it can be sold: a product or template archived, or a template no
    longer salable, is an item the CRM should stop offering (Tryton would refuse it
    when the sale is quoted).
    """
    template = record.get("template") or {}
    product = product_from_record(record, default_currency)
    active = product.is_active and bool(template.get("active", True))
    return ItemChange(
        id=product.id,
        sku=product.sku,
        name=product.name,
        price=product.price,
        is_active=active and bool(record.get("salable", True)),
        modified_at=moment,
    )


def invoice_change_from_record(
    record: dict[str, Any], default_currency: str, moment: datetime
) -> InvoiceChange:
    """A posted customer invoice (``connectors.tryton.settlement`` takes credit notes)."""
    snapshot = invoice_from_record(record, default_currency)
    return InvoiceChange.model_validate(
        snapshot.model_copy(update={"modified_at": moment}), from_attributes=True
    )
