"""NetSuite record JSON to and from the canonical ERP models.

Amounts are read with ``Decimal(str(value))``: the JSON was parsed with
``parse_float=Decimal``, so nothing here ever passes through a float.

``CUSTOM_FIELDS`` lists the account's custom fields the connector reads or writes, with
the SDF field type it reads them as; ``deploy/netsuite`` ships exactly these, and
``tests/unit/test_setup_packages.py`` fails when the two part.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from models.billing import InvoiceSnapshot, InvoiceStatus
from models.changes import (
    CustomerChange,
    InvoiceChange,
    ItemChange,
    OrderChange,
    OrderStatus,
    SubscriptionChange,
    SubscriptionStatus,
)
from models.crm import Address
from models.erp import (
    Customer,
    CustomerUpsert,
    Product,
    RevenueType,
    SalesOrder,
    SalesOrderDraft,
    SalesOrderLine,
)
from models.types import Money

CURRENCY_CODE = re.compile(r"^[A-Z]{3}$")
"""An ISO 4217 code, as Syncline's money carries it (SuiteQL may answer an id instead)."""

# Free-form text (TEXT) or whole numbers (INTEGER), as the readers below take them: a
# revenue type is compared as its text ("recurring"), not a list value's internal id.
CUSTOM_FIELDS: dict[str, str] = {
    "custentity_tax_id": "TEXT",
    "custitem_revenue_type": "TEXT",
    "custitem_term_months": "INTEGER",
    "custcol_revenue_type": "TEXT",
    "custcol_term_months": "INTEGER",
    "custbody_rejection_reason": "TEXT",
}
# SuiteQL's status letter of a cancelled sales order.
SALES_ORDER_CANCELLED = "C"
# SuiteQL answers a sales order's status as a letter; the record shows the name.
SALES_ORDER_STATUS_NAMES = {
    "A": "Pending Approval",
    "B": "Pending Fulfillment",
    "C": "Cancelled",
    "D": "Partially Fulfilled",
    "E": "Pending Billing/Partially Fulfilled",
    "F": "Pending Billing",
    "G": "Billed",
    "H": "Closed",
}
# What each state means to Syncline: until billed, an order can be cancelled or amended.
# Pending Approval is no booking: the ERP holds the order for approval or credit. A
# Closed order is read as rejected when its system notes say it closed from Pending
# Approval (``connectors.netsuite.approval``).
_ORDER_STATUS = {
    "A": OrderStatus.PENDING_APPROVAL,
    "B": OrderStatus.OPEN,
    "C": OrderStatus.CANCELLED,
    "D": OrderStatus.OPEN,
    "E": OrderStatus.OPEN,
    "F": OrderStatus.OPEN,
    "G": OrderStatus.BILLED,
    "H": OrderStatus.CLOSED,
}
# SuiteBilling states in which a subscription no longer runs (nor renews).
_SUBSCRIPTION_ENDED = frozenset({"TERMINATED", "CLOSED"})


# A deal won again after its order was cancelled gets a new order: NetSuite keeps
# external ids unique per record type and a cancelled order cannot be reopened, so the
# new order is keyed ``<opportunity id>-2`` (then ``-3``…). External ids take letters,
# digits, ``_`` and ``-``; Salesforce ids never contain ``-``.
_ORDER_KEY = re.compile(r"^([A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?)-([2-9]|[1-9][0-9]+)$")


def order_key(opportunity_id: str, generation: int) -> str:
    """The external id of the opportunity's ``generation``-th order (the first is the
    opportunity id itself, as for every deal that was never re-won)."""
    return opportunity_id if generation == 1 else f"{opportunity_id}-{generation}"


def has_generations(opportunity_id: str) -> bool:
    """Whether orders keyed ``<opportunity_id>-2``… may exist: only for a Salesforce
    opportunity id, the only key ``order_key`` extends."""
    return _ORDER_KEY.match(f"{opportunity_id}-2") is not None


def opportunity_of(external_id: str) -> str:
    """The opportunity an order's external id names (``order_key``'s inverse); any other
    external id is returned as it is."""
    match = _ORDER_KEY.match(external_id)
    return match.group(1) if match else external_id


def decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an amount: {value!r}")
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _opportunity(external_id: str | None) -> str | None:
    return opportunity_of(external_id) if external_id else None


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
    return name if name is not None and CURRENCY_CODE.match(name) else default


def _timestamp(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo is not None else None


def _revenue_type(value: Any) -> RevenueType | None:
    """A custom field's revenue type; anything else is "not said" (reported unclassified)."""
    try:
        return RevenueType(value) if value is not None else None
    except ValueError:
        return None


def _months(value: Any) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    return int(value)


# --- customers --------------------------------------------------------------------------


def _subsidiary(body: dict[str, Any], subsidiary_id: str | None) -> dict[str, Any]:
    # A OneWorld account refuses a customer or a sales order without a subsidiary; any
    # other account has none, so nothing is sent unless one is configured.
    if subsidiary_id is not None:
        body["subsidiary"] = {"id": subsidiary_id}
    return body


def customer_body(customer: CustomerUpsert, subsidiary_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "externalId": customer.external_id,
        "companyName": customer.company_name,
        "currency": {"refName": customer.currency},
    }
    _subsidiary(body, subsidiary_id)
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
    country = a.get("country")
    return address_from_row(
        {**a, "country": _ref_id(country) if isinstance(country, dict) else country}
    )


def customer_from_record(record: dict[str, Any]) -> Customer:
    name = _ref_name(record.get("currency"))
    return Customer(
        id=str(record["id"]),
        external_id=record.get("externalId"),
        company_name=str(record.get("companyName") or record.get("entityId") or ""),
        billing_address=_billing_address(record),
        tax_id=record.get("custentity_tax_id"),
        currency=name if name is not None and CURRENCY_CODE.match(name) else None,
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
        revenue_type=_revenue_type(row.get("custitem_revenue_type")),
        term_months=_months(row.get("custitem_term_months")),
    )


# --- sales orders -----------------------------------------------------------------------


def order_lines_body(lines: Sequence[SalesOrderLine], currency: str) -> dict[str, Any]:
    """The ``item`` sublist of a sales order; sending it replaces every line.

    ``ValueError`` when a line is priced in another currency than the order's.
    """
    items = []
    for line in lines:
        if line.rate.currency != currency:
            raise ValueError(
                f"line {line.sku} is priced in {line.rate.currency}, the order in {currency}"
            )
        item: dict[str, Any] = {
            "item": {"id": line.item_id},
            "quantity": line.quantity,
            "rate": line.rate.amount,
        }
        if line.description:
            item["description"] = line.description
        items.append(item)
    return {"items": items}


def same_lines(current: Sequence[SalesOrderLine], wanted: Sequence[SalesOrderLine]) -> bool:
    """Whether the order already has ``wanted``'s lines (an amendment with nothing to do).

    A wanted line without a description leaves the ERP's default, so it matches any.
    """
    if len(current) != len(wanted):
        return False
    return all(
        (have.item_id, have.quantity, have.rate) == (want.item_id, want.quantity, want.rate)
        and (want.description is None or want.description == have.description)
        for have, want in zip(current, wanted, strict=True)
    )


def sales_order_body(draft: SalesOrderDraft, subsidiary_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "externalId": draft.external_id,
        "entity": {"id": draft.customer_id},
        "currency": {"refName": draft.currency},
        "tranDate": draft.tran_date.isoformat(),
        "item": order_lines_body(draft.lines, draft.currency),
    }
    if draft.memo:
        body["memo"] = draft.memo
    return _subsidiary(body, subsidiary_id)


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
            revenue_type=_revenue_type(line.get("custcol_revenue_type")),
            term_months=_months(line.get("custcol_term_months")),
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
        state=_ORDER_STATUS.get(_ref_id(record.get("status")), OrderStatus.OPEN),
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
        crm_opportunity_id=_opportunity(order_external_ids.get(order_id) if order_id else None),
        customer_id=str(row["entity"]) if row.get("entity") else None,
        status=_INVOICE_STATUS.get(str(row.get("status")), InvoiceStatus.OPEN),
        total=Money(amount=decimal(row.get("foreigntotal")), currency=currency),
        amount_due=Money(amount=decimal(row.get("amountremaining")), currency=currency),
        invoice_date=date.fromisoformat(trandate) if trandate else None,
        modified_at=modified_at,
    )


def is_cancelled(record: Mapping[str, Any]) -> bool:
    """Whether a sales order record is cancelled (its status by id, else by name)."""
    status = record.get("status")
    if isinstance(status, dict):
        if status.get("id") is not None:
            return str(status["id"]) == SALES_ORDER_CANCELLED
        return status.get("refName") == SALES_ORDER_STATUS_NAMES[SALES_ORDER_CANCELLED]
    return status == SALES_ORDER_CANCELLED


# --- change feed ------------------------------------------------------------------------


def modified_at(row: Mapping[str, Any]) -> datetime:
    """A row's ``lastmodifieddate``: the feed's position, so a row without one is an error."""
    stamp = _timestamp(row.get("lastmodifieddate"))
    if stamp is None:
        raise ValueError(f"row {row.get('id')} has no lastmodifieddate")
    return stamp


def _date(value: Any) -> date | None:
    return date.fromisoformat(str(value)[:10]) if value else None


def invoice_change(snapshot: InvoiceSnapshot) -> InvoiceChange:
    fields = {name: getattr(snapshot, name) for name in InvoiceSnapshot.model_fields}
    return InvoiceChange(**fields)


def order_line_from_row(
    row: Mapping[str, Any], skus: Mapping[str, str], currency: str
) -> SalesOrderLine:
    """A SuiteQL ``transactionline`` row as an order line.

    NetSuite signs a sale's lines as postings (quantity and amount negative), so the
    magnitudes are taken; a line without a rate is priced from its amount.
    """
    item_id = str(row.get("item") or "")
    quantity = abs(decimal(row.get("quantity")))
    if row.get("rate") is not None:
        rate = abs(decimal(row["rate"]))
    elif row.get("foreignamount") is not None and quantity:
        rate = abs(decimal(row["foreignamount"])) / quantity
    else:
        rate = Decimal(0)
    memo = row.get("memo")
    return SalesOrderLine(
        item_id=item_id,
        sku=skus.get(item_id, ""),
        quantity=quantity,
        rate=Money(amount=rate, currency=currency),
        description=None if memo is None else str(memo),
        revenue_type=_revenue_type(row.get("custcol_revenue_type")),
        term_months=_months(row.get("custcol_term_months")),
    )


def order_currency(row: Mapping[str, Any], default_currency: str) -> str:
    currency = row.get("currency")
    return str(currency) if currency and CURRENCY_CODE.match(str(currency)) else default_currency


def order_status(row: Mapping[str, Any]) -> tuple[OrderStatus, str]:
    """A sales order row's status letter as Syncline reads it, and as NetSuite names it."""
    letter = str(row.get("status") or "")
    return _ORDER_STATUS.get(letter, OrderStatus.OPEN), SALES_ORDER_STATUS_NAMES.get(letter, letter)


def order_number(row: Mapping[str, Any]) -> str:
    return str(row.get("tranid") or row["id"])


def order_opportunity(row: Mapping[str, Any]) -> str | None:
    """The opportunity a sales order row's external id names (any generation)."""
    external_id = row.get("externalid")
    return opportunity_of(str(external_id)) if external_id else None


def order_customer(row: Mapping[str, Any]) -> str:
    return str(row.get("entity") or "")


def order_total(row: Mapping[str, Any]) -> Decimal:
    return decimal(row.get("foreigntotal") or 0)


def order_tran_date(row: Mapping[str, Any]) -> date | None:
    return _date(row.get("trandate"))


def order_change_from_row(
    row: Mapping[str, Any], lines: list[SalesOrderLine], default_currency: str
) -> OrderChange:
    """A SuiteQL ``transaction`` row of type ``SalesOrd`` as an order change."""
    currency = order_currency(row, default_currency)
    status, erp_status = order_status(row)
    return OrderChange(
        id=str(row["id"]),
        order_number=order_number(row),
        crm_opportunity_id=order_opportunity(row),
        customer_id=order_customer(row),
        status=status,
        erp_status=erp_status,
        total=Money(amount=order_total(row), currency=currency),
        tran_date=order_tran_date(row),
        lines=lines,
        modified_at=modified_at(row),
    )


def customer_change(row: Mapping[str, Any], address: Mapping[str, Any] | None) -> CustomerChange:
    """A SuiteQL ``customer`` row as a customer change, with its default billing address
    (an ``entityaddress`` row) when it has one. The row's currency has been named by
    its ISO code (``currency_codes``)."""
    currency = row.get("currency")
    external_id = row.get("externalid")
    return CustomerChange(
        id=str(row["id"]),
        external_id=str(external_id) if external_id else None,
        legal_name=str(row.get("companyname") or ""),
        billing_address=address_from_row(address) if address is not None else Address(),
        tax_id=row.get("custentity_tax_id") or None,
        currency=str(currency) if currency and CURRENCY_CODE.match(str(currency)) else None,
        is_active=row.get("isinactive") in ("F", False, None),
        modified_at=modified_at(row),
    )


def address_from_row(row: Mapping[str, Any]) -> Address:
    """An ``entityaddress`` row, or an address book line's address (its country an ISO
    code): NetSuite names their fields alike."""
    street = "\n".join(str(row[k]) for k in ("addr1", "addr2") if row.get(k)) or None
    return Address(
        street=street,
        city=row.get("city"),
        state=row.get("state"),
        postal_code=row.get("zip"),
        country=row.get("country"),
    )


def item_change_from_row(row: Mapping[str, Any], currency: str) -> ItemChange:
    """A SuiteQL ``item`` row; the base price is in the account's base currency."""
    product = product_from_row(dict(row), currency)
    return ItemChange(
        id=product.id,
        sku=product.sku,
        name=product.name,
        price=product.price,
        is_active=product.is_active,
        modified_at=modified_at(row),
    )


def subscription_change_from_row(
    row: Mapping[str, Any], order_external_ids: Mapping[str, str], default_currency: str
) -> SubscriptionChange:
    """A SuiteQL ``subscription`` row; a terminated or closed one no longer runs."""
    order_id = str(row["salesorder"]) if row.get("salesorder") else None
    start, end = _date(row.get("startdate")), _date(row.get("enddate"))
    if start is None or end is None:
        raise ValueError(f"subscription {row.get('id')} has no start or end date")
    status = str(row.get("status") or "").upper()
    return SubscriptionChange(
        id=str(row["id"]),
        erp_order_id=order_id,
        crm_opportunity_id=_opportunity(order_external_ids.get(order_id) if order_id else None),
        customer_id=str(row.get("customer") or ""),
        name=str(row.get("name") or row["id"]),
        start_date=start,
        end_date=end,
        recurring_amount=Money(
            amount=decimal(row.get("recurringamount") or 0),
            currency=order_currency(row, default_currency),
        ),
        status=SubscriptionStatus.CANCELLED
        if status in _SUBSCRIPTION_ENDED
        else SubscriptionStatus.ACTIVE,
        modified_at=modified_at(row),
    )
