"""ERP-side validation: turn a request body into the stored record, or refuse it.

Each ``normalize_*`` function takes the JSON body of a create, update or upsert
(numbers already exact ``Decimal``), the stored body when the record exists, and a
``Lookup`` into the database, and returns the record to store plus the columns
SuiteQL can query. Refusals are ``NetSuiteError``s carrying NetSuite's error codes
and the field path (``item.items[0].item``), so the connector sees what a real
account would answer.

Simplifications, on purpose: reference fields are resolved by ``id`` (currency and
status also by ``refName``); sublist lines are replaced, not merged, when ``item``
is sent; an existing invoice or payment only takes changes to ``memo``, ``dueDate``,
``externalId`` and custom fields (its amounts and links are fixed once posted); a
subscription is only ever created by its sales order, and afterwards takes a new
``endDate``, a ``name`` or termination.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Protocol

from sandbox.netsuite.currencies import CURRENCIES, CURRENCY_IDS
from sandbox.netsuite.errors import (
    CLOSED_PERIOD,
    DUP_ITEM,
    INVALID_CONTENT,
    INVALID_FLD_VALUE,
    INVALID_KEY_OR_REF,
    USER_ERROR,
    bad_request,
)

_MINOR_UNITS = {"JPY": 0}

DEFAULT_SUBSIDIARY = {"id": "1", "refName": "Parent Company"}
# A OneWorld account's subsidiaries. A customer belongs to one (the parent unless the
# request names another); its sales orders are booked in that one.
SUBSIDIARIES = {"1": "Parent Company", "2": "Subsidiary EU"}

SALES_ORDER_STATUSES = {
    "A": "Pending Approval",
    "B": "Pending Fulfillment",
    "C": "Cancelled",
    "D": "Partially Fulfilled",
    "E": "Pending Billing/Partially Fulfilled",
    "F": "Pending Billing",
    "G": "Billed",
    "H": "Closed",
}
INVOICE_STATUSES = {"A": "Open", "B": "Paid In Full", "V": "Voided"}
PAYMENT_STATUSES = {"A": "Unapproved Payment", "B": "Not Deposited", "C": "Deposited"}
# Not "A": an order pending approval is neither billed nor fulfilled until approved.
SO_BILLABLE = frozenset({"B", "D", "E", "F"})
# SuiteBilling's billingSubscriptionStatus values.
SUBSCRIPTION_STATUSES = {
    "DRAFT": "Draft",
    "PENDING_ACTIVATION": "Pending Activation",
    "ACTIVE": "Active",
    "SUSPENDED": "Suspended",
    "CLOSED": "Closed",
    "TERMINATED": "Terminated",
}
SUBSCRIPTION_ENDED = frozenset({"CLOSED", "TERMINATED"})
# The longest subscription term an item may start: a sanity bound, not NetSuite's.
MAX_TERM_MONTHS = 120

_READ_ONLY = frozenset(
    {
        "id",
        "links",
        "lastModifiedDate",
        "createdDate",
        "tranId",
        "total",
        "subtotal",
        "amountRemaining",
        "amountPaid",
        "defaultAddress",
        "applied",
        "unapplied",
    }
)
_CUSTOM_PREFIXES = ("custentity", "custbody", "custitem", "custrecord")


class Lookup(Protocol):
    """What validation may read; implemented over the open write transaction."""

    def customer(self, internal_id: int) -> dict[str, Any] | None: ...

    def item(self, internal_id: int) -> dict[str, Any] | None: ...

    def transaction(self, internal_id: int) -> tuple[str, dict[str, Any]] | None:
        """``(record type, body)`` of any transaction."""
        ...

    def sku_owner(self, sku: str) -> int | None:
        """The internal id of the item whose ``itemId`` is ``sku``."""
        ...

    def closed_through(self) -> date | None: ...


@dataclass
class Normalized:
    body: dict[str, Any]
    columns: dict[str, Any] = field(default_factory=dict)


# --- field readers ----------------------------------------------------------------------


def _reject_unknown(
    payload: Mapping[str, Any],
    allowed: frozenset[str],
    prefix: str = "",
    custom: tuple[str, ...] = _CUSTOM_PREFIXES,
) -> None:
    for name in payload:
        if name in allowed or name in _READ_ONLY or name.startswith(custom):
            continue
        raise bad_request(INVALID_CONTENT, f"Invalid field name '{name}'.", prefix + name)


def _text(
    payload: Mapping[str, Any],
    name: str,
    path: str,
    *,
    required: bool = False,
    label: str | None = None,
) -> str | None:
    value = payload.get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise bad_request(USER_ERROR, f"Please enter value(s) for: {label or name}", path)
        return None
    if not isinstance(value, str):
        raise bad_request(
            INVALID_FLD_VALUE, f"Invalid value for field {name}: expected a string.", path
        )
    return value


def _decimal(value: Any, path: str, label: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise bad_request(INVALID_FLD_VALUE, f"Invalid number for {label}.", path)
    try:
        number = Decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        raise bad_request(
            INVALID_FLD_VALUE, f"Invalid number for {label}: {value!r}.", path
        ) from None
    if not number.is_finite():
        raise bad_request(INVALID_FLD_VALUE, f"Invalid number for {label}.", path)
    return number


def _bool(payload: Mapping[str, Any], name: str, path: str, default: bool) -> bool:
    value = payload.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise bad_request(INVALID_FLD_VALUE, f"Invalid value for {name}: expected a boolean.", path)
    return value


def _date(payload: Mapping[str, Any], name: str, path: str) -> date | None:
    value = payload.get(name)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        return date.fromisoformat(value[:10]) if len(value) > 10 else date.fromisoformat(value)
    except ValueError:
        raise bad_request(
            INVALID_FLD_VALUE, f"Invalid date value for {name}: {value!r}; use YYYY-MM-DD.", path
        ) from None


def _ref_id(value: Any, path: str, label: str) -> int:
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    raise bad_request(INVALID_KEY_OR_REF, f"Invalid {label} reference key {value!r}.", path)


def _subsidiary(value: Any) -> dict[str, str]:
    subsidiary_id = str(_ref_id(value, "subsidiary", "subsidiary"))
    if subsidiary_id not in SUBSIDIARIES:
        raise bad_request(
            INVALID_KEY_OR_REF, f"Invalid subsidiary reference key {subsidiary_id}.", "subsidiary"
        )
    return {"id": subsidiary_id, "refName": SUBSIDIARIES[subsidiary_id]}


def _customer_subsidiary(
    payload: Mapping[str, Any], existing: Mapping[str, Any] | None
) -> dict[str, str]:
    current: dict[str, str] = dict((existing or {}).get("subsidiary", DEFAULT_SUBSIDIARY))
    if payload.get("subsidiary") is None:
        return current
    wanted = _subsidiary(payload["subsidiary"])
    if existing is not None and wanted["id"] != current["id"]:
        raise bad_request(
            USER_ERROR,
            "The primary subsidiary of an existing customer cannot be changed.",
            "subsidiary",
        )
    return wanted


def _currency(value: Any, path: str) -> str:
    if isinstance(value, str):
        value = {"refName": value}
    if isinstance(value, Mapping):
        if value.get("id") is not None and str(value["id"]) in CURRENCIES:
            return CURRENCIES[str(value["id"])]
        ref_name = value.get("refName")
        if isinstance(ref_name, str) and ref_name.upper() in CURRENCY_IDS:
            return ref_name.upper()
    raise bad_request(INVALID_KEY_OR_REF, f"Invalid currency reference key {value!r}.", path)


def currency_ref(code: str) -> dict[str, str]:
    return {"id": CURRENCY_IDS[code], "refName": code}


def _status(value: Any, statuses: Mapping[str, str], path: str) -> str:
    if isinstance(value, str):
        value = {"id": value}
    if isinstance(value, Mapping):
        if isinstance(value.get("id"), str) and value["id"] in statuses:
            return str(value["id"])
        for code, name in statuses.items():
            if value.get("refName") == name:
                return code
    raise bad_request(INVALID_KEY_OR_REF, f"Invalid status reference key {value!r}.", path)


def money(value: Decimal, currency: str) -> Decimal:
    """Round to the currency's minor unit, half up, as the ERP posts amounts."""
    exponent = Decimal(1).scaleb(-_MINOR_UNITS.get(currency, 2))
    return value.quantize(exponent, rounding=ROUND_HALF_UP)


def _custom(payload: Mapping[str, Any], existing: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = {k: v for k, v in (existing or {}).items() if k.startswith(_CUSTOM_PREFIXES)}
    merged.update({k: v for k, v in payload.items() if k.startswith(_CUSTOM_PREFIXES)})
    return {k: v for k, v in merged.items() if v is not None}


def _compact(body: dict[str, Any]) -> dict[str, Any]:
    """NetSuite leaves empty fields out of a record."""
    return {k: v for k, v in body.items() if v is not None}


def period_name(day: date) -> str:
    return f"{calendar.month_abbr[day.month]} {day.year}"


def check_period_open(day: date, lookup: Lookup, path: str = "tranDate") -> None:
    closed = lookup.closed_through()
    if closed is not None and day <= closed:
        raise bad_request(
            CLOSED_PERIOD,
            f"The accounting period {period_name(day)} is closed. Transactions dated "
            f"{day.isoformat()} cannot be posted or changed; use a date after "
            f"{closed.isoformat()}.",
            path,
        )


def _merged(payload: Mapping[str, Any], existing: Mapping[str, Any] | None) -> dict[str, Any]:
    return {**(existing or {}), **payload}


def _external_id(data: Mapping[str, Any]) -> str | None:
    value = data.get("externalId")
    if value is None or value == "":
        return None
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise bad_request(INVALID_FLD_VALUE, "Invalid value for externalId.", "externalId")
    return str(value)


# --- customer -------------------------------------------------------------------------

_CUSTOMER_FIELDS = frozenset(
    {
        "companyName",
        "email",
        "phone",
        "currency",
        "subsidiary",
        "addressBook",
        "isInactive",
        "externalId",
        "comments",
        "entityId",
        "creditLimit",
    }
)
_ADDRESS_FIELDS = ("addressee", "addr1", "addr2", "city", "state", "zip", "country")


def _address_book(value: Any) -> list[dict[str, Any]]:
    if value is None:
        return []
    items = value.get("items") if isinstance(value, Mapping) else None
    if not isinstance(items, list):
        raise bad_request(INVALID_FLD_VALUE, 'addressBook must be {"items": [...]}.', "addressBook")
    lines: list[dict[str, Any]] = []
    for index, line in enumerate(items):
        path = f"addressBook.items[{index}]"
        address = line.get("addressBookAddress") if isinstance(line, Mapping) else None
        if not isinstance(address, Mapping):
            raise bad_request(
                INVALID_FLD_VALUE,
                "Each address needs addressBookAddress.",
                f"{path}.addressBookAddress",
            )
        clean: dict[str, Any] = {}
        for name in _ADDRESS_FIELDS:
            part = address.get(name)
            if name == "country" and isinstance(part, Mapping):
                part = part.get("id")
            if part is None or part == "":
                continue
            if not isinstance(part, str):
                raise bad_request(
                    INVALID_FLD_VALUE,
                    f"Invalid value for {name}.",
                    f"{path}.addressBookAddress.{name}",
                )
            clean[name] = {"id": part, "refName": part} if name == "country" else part
        lines.append(
            {
                "defaultBilling": bool(line.get("defaultBilling", index == 0)),
                "defaultShipping": bool(line.get("defaultShipping", index == 0)),
                "label": line.get("label") or clean.get("addr1") or f"Address {index + 1}",
                "addressBookAddress": clean,
            }
        )
    return lines


def _address_text(lines: list[dict[str, Any]]) -> str | None:
    billing = next((line for line in lines if line["defaultBilling"]), None)
    if billing is None:
        return None
    a = billing["addressBookAddress"]
    city_line = " ".join(p for p in (a.get("city"), a.get("state"), a.get("zip")) if p)
    country = a["country"]["id"] if "country" in a else None
    parts = [a.get("addressee"), a.get("addr1"), a.get("addr2"), city_line, country]
    return "\n".join(p for p in parts if p) or None


def normalize_customer(
    payload: Mapping[str, Any], existing: Mapping[str, Any] | None, lookup: Lookup
) -> Normalized:
    _reject_unknown(payload, _CUSTOMER_FIELDS)
    data = _merged(payload, existing)
    company = _text(data, "companyName", "companyName", required=True, label="Company Name")
    email = _text(data, "email", "email")
    if email is not None and "@" not in email:
        raise bad_request(INVALID_FLD_VALUE, f"Invalid email address {email!r}.", "email")
    currency = _currency(data["currency"], "currency") if data.get("currency") else "USD"
    if "addressBook" in payload:
        lines = _address_book(payload["addressBook"])
    else:
        lines = list((existing or {}).get("addressBook", {}).get("items", []))
    tax_id = _text(data, "custentity_tax_id", "custentity_tax_id")
    inactive = _bool(data, "isInactive", "isInactive", False)
    # The customer's credit limit in its currency (NetSuite's Financial subtab); absent
    # means none. The approval mode "over credit limit" holds orders that exceed it.
    credit_limit = data.get("creditLimit")
    if credit_limit is not None:
        credit_limit = _decimal(credit_limit, "creditLimit", "credit limit")
        if credit_limit < 0:
            raise bad_request(
                INVALID_FLD_VALUE, "The credit limit cannot be negative.", "creditLimit"
            )
    body = _compact(
        {
            "entityId": _text(data, "entityId", "entityId") or company,
            "companyName": company,
            "email": email,
            "phone": _text(data, "phone", "phone"),
            "comments": _text(data, "comments", "comments"),
            "currency": currency_ref(currency),
            "subsidiary": _customer_subsidiary(payload, existing),
            "isInactive": inactive,
            "externalId": _external_id(data),
            "addressBook": {"items": lines},
            "defaultAddress": _address_text(lines),
            "creditLimit": credit_limit,
            **_custom(payload, existing),
        }
    )
    return Normalized(
        body,
        {
            "companyname": company,
            "email": email,
            "currency": currency,
            "custentity_tax_id": tax_id,
            "isinactive": "T" if inactive else "F",
            "externalid": body.get("externalId"),
        },
    )


# --- items ----------------------------------------------------------------------------

_ITEM_FIELDS = frozenset(
    {"itemId", "displayName", "salesDescription", "basePrice", "isInactive", "externalId"}
)


TERM_MONTHS_FIELD = "custitem_term_months"
"""The item's subscription term in months; absent on a one-time item."""


def _term_months(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_TERM_MONTHS:
        raise bad_request(
            INVALID_FLD_VALUE,
            f"Invalid value for {TERM_MONTHS_FIELD}: {value!r}; use whole months "
            f"from 1 to {MAX_TERM_MONTHS}.",
            TERM_MONTHS_FIELD,
        )
    return value


REVENUE_TYPE_FIELD = "custitem_revenue_type"
"""How the item earns revenue (``recurring``, ``one_time``, ``usage``): a custom field,
as NetSuite has no standard one that says it."""
REVENUE_TYPES = ("recurring", "one_time", "usage")
# Transaction column fields sourced from the item when a line is saved (NetSuite's
# "source from" on a custom column), so an order's lines say how each earns revenue.
LINE_SOURCED_FIELDS = {
    "custcol_revenue_type": REVENUE_TYPE_FIELD,
    "custcol_term_months": TERM_MONTHS_FIELD,
}


def _revenue_type(value: Any) -> str | None:
    if value is None:
        return None
    if value in REVENUE_TYPES:
        return str(value)
    raise bad_request(
        INVALID_FLD_VALUE,
        f"Invalid value for {REVENUE_TYPE_FIELD}: {value!r}; "
        f"use one of {', '.join(REVENUE_TYPES)}.",
        REVENUE_TYPE_FIELD,
    )


def normalize_item(
    payload: Mapping[str, Any],
    existing: Mapping[str, Any] | None,
    lookup: Lookup,
    internal_id: int | None,
) -> Normalized:
    _reject_unknown(payload, _ITEM_FIELDS)
    data = _merged(payload, existing)
    sku = _text(data, "itemId", "itemId", required=True, label="Item Name/Number")
    assert sku is not None
    owner = lookup.sku_owner(sku)
    if owner is not None and owner != internal_id:
        raise bad_request(DUP_ITEM, f"This item name/number, {sku}, is already in use.", "itemId")
    price = data.get("basePrice")
    base_price = None if price is None else _decimal(price, "basePrice", "basePrice")
    if base_price is not None and base_price < 0:
        raise bad_request(INVALID_FLD_VALUE, "basePrice cannot be negative.", "basePrice")
    display = _text(data, "displayName", "displayName")
    inactive = _bool(data, "isInactive", "isInactive", False)
    custom = _custom(payload, existing)
    term = _term_months(custom.get(TERM_MONTHS_FIELD))
    if term is not None:
        custom[TERM_MONTHS_FIELD] = term
    revenue_type = _revenue_type(custom.get(REVENUE_TYPE_FIELD))
    body = _compact(
        {
            "itemId": sku,
            "displayName": display,
            "salesDescription": _text(data, "salesDescription", "salesDescription"),
            "basePrice": base_price,
            "isInactive": inactive,
            "externalId": _external_id(data),
            **custom,
        }
    )
    return Normalized(
        body,
        {
            "itemid": sku,
            "displayname": display,
            "baseprice": None if base_price is None else str(base_price),
            "custitem_term_months": term,
            "custitem_revenue_type": revenue_type,
            "isinactive": "T" if inactive else "F",
            "externalid": body.get("externalId"),
        },
    )


# --- transactions -----------------------------------------------------------------------

_LINE_FIELDS = frozenset({"item", "quantity", "rate", "description", "amount", "line"})


def _customer_ref(
    data: Mapping[str, Any], lookup: Lookup, name: str = "entity"
) -> tuple[dict[str, Any], dict[str, Any]]:
    if data.get(name) is None:
        raise bad_request(USER_ERROR, "Please enter value(s) for: Customer", name)
    customer_id = _ref_id(data[name], name, "entity")
    customer = lookup.customer(customer_id)
    if customer is None or customer.get("isInactive"):
        raise bad_request(INVALID_KEY_OR_REF, f"Invalid entity reference key {customer_id}.", name)
    return {"id": str(customer_id), "refName": customer["companyName"]}, customer


def _order_subsidiary(data: Mapping[str, Any], customer: Mapping[str, Any]) -> dict[str, str]:
    """The customer's subsidiary; an order naming another one is refused."""
    own: dict[str, str] = dict(customer.get("subsidiary", DEFAULT_SUBSIDIARY))
    if data.get("subsidiary") is None:
        return own
    wanted = _subsidiary(data["subsidiary"])
    if wanted["id"] != own["id"]:
        raise bad_request(
            INVALID_FLD_VALUE,
            f"The subsidiary {wanted['refName']} is not the subsidiary of customer "
            f"{customer['companyName']} ({own['refName']}).",
            "subsidiary",
        )
    return wanted


def _transaction_currency(data: Mapping[str, Any], customer: Mapping[str, Any]) -> str:
    customer_currency = str(customer["currency"]["refName"])
    if data.get("currency") is None:
        return customer_currency
    currency = _currency(data["currency"], "currency")
    if currency != customer_currency:
        raise bad_request(
            INVALID_FLD_VALUE,
            f"The currency {currency} is not the currency of customer "
            f"{customer['companyName']} ({customer_currency}).",
            "currency",
        )
    return currency


def _lines(value: Any, lookup: Lookup, currency: str) -> list[dict[str, Any]]:
    items = value.get("items") if isinstance(value, Mapping) else None
    if not isinstance(items, list) or not items:
        raise bad_request(
            USER_ERROR, "You must enter at least one line item for this transaction.", "item"
        )
    lines: list[dict[str, Any]] = []
    for index, line in enumerate(items):
        path = f"item.items[{index}]"
        if not isinstance(line, Mapping):
            raise bad_request(INVALID_CONTENT, "A line must be an object.", path)
        _reject_unknown(line, _LINE_FIELDS, f"{path}.", custom=("custcol",))
        if line.get("item") is None:
            raise bad_request(USER_ERROR, "Please enter value(s) for: Item", f"{path}.item")
        item_id = _ref_id(line["item"], f"{path}.item", "item")
        item = lookup.item(item_id)
        if item is None or item.get("isInactive"):
            raise bad_request(
                INVALID_KEY_OR_REF, f"Invalid item reference key {item_id}.", f"{path}.item"
            )
        if line.get("quantity") is None:
            raise bad_request(USER_ERROR, "Please enter value(s) for: Quantity", f"{path}.quantity")
        quantity = _decimal(line["quantity"], f"{path}.quantity", "quantity")
        if quantity <= 0:
            raise bad_request(
                INVALID_FLD_VALUE,
                f"The quantity {quantity} is not valid; it must be greater than zero.",
                f"{path}.quantity",
            )
        if line.get("rate") is not None:
            rate = _decimal(line["rate"], f"{path}.rate", "rate")
        elif item.get("basePrice") is not None:
            rate = Decimal(item["basePrice"])
        else:
            raise bad_request(USER_ERROR, "Please enter value(s) for: Rate", f"{path}.rate")
        description = _text(line, "description", f"{path}.description")
        lines.append(
            _compact(
                {
                    "line": index + 1,
                    "item": {"id": str(item_id), "refName": item["itemId"]},
                    "quantity": quantity,
                    "rate": rate,
                    "amount": money(quantity * rate, currency),
                    "description": description or item.get("displayName") or item["itemId"],
                    **{col: item.get(source) for col, source in LINE_SOURCED_FIELDS.items()},
                    **{k: v for k, v in line.items() if k.startswith("custcol")},
                }
            )
        )
    return lines


def _total(lines: list[dict[str, Any]], currency: str) -> Decimal:
    return money(sum((Decimal(line["amount"]) for line in lines), Decimal(0)), currency)


def normalize_sales_order(
    payload: Mapping[str, Any], existing: Mapping[str, Any] | None, lookup: Lookup, today: date
) -> Normalized:
    _reject_unknown(
        payload,
        frozenset(
            {
                "entity",
                "currency",
                "tranDate",
                "memo",
                "status",
                "item",
                "externalId",
                "otherRefNum",
                "orderStatus",
                "subsidiary",
            }
        ),
    )
    data = _merged(payload, existing)
    entity, customer = _customer_ref(data, lookup)
    currency = _transaction_currency(data, customer)
    subsidiary = _order_subsidiary(data, customer)
    tran_date = _date(data, "tranDate", "tranDate") or today
    if existing is not None and "tranDate" in existing:
        check_period_open(date.fromisoformat(existing["tranDate"]), lookup)
    check_period_open(tran_date, lookup)
    if "item" in payload or existing is None:
        lines = _lines(data.get("item"), lookup, currency)
    else:
        lines = list(existing["item"]["items"])
    status_value = payload.get("status", payload.get("orderStatus"))
    if status_value is not None:
        status = _status(status_value, SALES_ORDER_STATUSES, "status")
    else:
        status = existing["status"]["id"] if existing is not None else "B"
    total = _total(lines, currency)
    body = _compact(
        {
            "tranId": (existing or {}).get("tranId"),
            "externalId": _external_id(data),
            "entity": entity,
            "currency": currency_ref(currency),
            "tranDate": tran_date.isoformat(),
            "memo": _text(data, "memo", "memo"),
            "otherRefNum": _text(data, "otherRefNum", "otherRefNum"),
            "status": {"id": status, "refName": SALES_ORDER_STATUSES[status]},
            "subsidiary": subsidiary,
            "subtotal": total,
            "total": total,
            "item": {"items": lines},
            **_custom(payload, existing),
        }
    )
    return Normalized(
        body,
        {
            "entity": int(entity["id"]),
            "externalid": body.get("externalId"),
            "status": status,
            "foreigntotal": str(total),
            "currency": currency,
            "trandate": tran_date.isoformat(),
            "memo": body.get("memo"),
            "createdfrom": None,
            "amountremaining": None,
        },
    )


_POSTED_UPDATABLE = frozenset({"memo", "dueDate", "externalId"})


def _update_posted(
    payload: Mapping[str, Any], existing: Mapping[str, Any], allowed: frozenset[str], lookup: Lookup
) -> Normalized:
    """An existing invoice or payment: only descriptive fields change."""
    _reject_unknown(payload, allowed)
    check_period_open(date.fromisoformat(existing["tranDate"]), lookup)
    body = dict(existing)
    for name in _POSTED_UPDATABLE & set(payload):
        body[name] = payload[name]
    if "dueDate" in payload:
        due = _date(payload, "dueDate", "dueDate")
        body["dueDate"] = None if due is None else due.isoformat()
    body["externalId"] = _external_id(body)
    body["memo"] = _text(body, "memo", "memo")
    body.update(_custom(payload, existing))
    body = _compact(body)
    return Normalized(body, {"externalid": body.get("externalId"), "memo": body.get("memo")})


_INVOICE_FIELDS = frozenset(
    {
        "entity",
        "currency",
        "tranDate",
        "dueDate",
        "memo",
        "item",
        "externalId",
        "createdFrom",
        "status",
        "otherRefNum",
    }
)


def normalize_invoice(
    payload: Mapping[str, Any], existing: Mapping[str, Any] | None, lookup: Lookup, today: date
) -> Normalized:
    if existing is not None:
        return _update_posted(payload, existing, _INVOICE_FIELDS, lookup)
    _reject_unknown(payload, _INVOICE_FIELDS)
    data = dict(payload)
    created_from: dict[str, Any] | None = None
    order: dict[str, Any] | None = None
    if data.get("createdFrom") is not None:
        order_id = _ref_id(data["createdFrom"], "createdFrom", "createdFrom")
        found = lookup.transaction(order_id)
        if found is None or found[0] != "salesOrder":
            raise bad_request(
                INVALID_KEY_OR_REF, f"Invalid createdFrom reference key {order_id}.", "createdFrom"
            )
        order = found[1]
        if order["status"]["id"] not in SO_BILLABLE:
            raise bad_request(
                USER_ERROR,
                f"Sales order {order['tranId']} cannot be billed: "
                f"it is {order['status']['refName']}.",
                "createdFrom",
            )
        created_from = {"id": str(order_id), "refName": f"Sales Order #{order['tranId']}"}
        data.setdefault("entity", order["entity"])
        data.setdefault("currency", order["currency"])
        if "item" not in data:
            data["item"] = {
                "items": [
                    {k: line[k] for k in ("item", "quantity", "rate", "description") if k in line}
                    for line in order["item"]["items"]
                ]
            }
    entity, customer = _customer_ref(data, lookup)
    if order is not None and entity["id"] != order["entity"]["id"]:
        raise bad_request(
            INVALID_FLD_VALUE,
            "The invoice customer differs from the sales order's customer.",
            "entity",
        )
    currency = _transaction_currency(data, customer)
    tran_date = _date(data, "tranDate", "tranDate") or today
    check_period_open(tran_date, lookup)
    due_date = _date(data, "dueDate", "dueDate") or tran_date + timedelta(days=30)
    lines = _lines(data.get("item"), lookup, currency)
    total = _total(lines, currency)
    body = _compact(
        {
            "externalId": _external_id(data),
            "entity": entity,
            "currency": currency_ref(currency),
            "tranDate": tran_date.isoformat(),
            "dueDate": due_date.isoformat(),
            "memo": _text(data, "memo", "memo"),
            "createdFrom": created_from,
            "status": {"id": "A", "refName": INVOICE_STATUSES["A"]},
            "subtotal": total,
            "total": total,
            "amountPaid": money(Decimal(0), currency),
            "amountRemaining": total,
            "item": {"items": lines},
            **_custom(payload, None),
        }
    )
    return Normalized(
        body,
        {
            "entity": int(entity["id"]),
            "externalid": body.get("externalId"),
            "status": "A",
            "foreigntotal": str(total),
            "amountremaining": str(total),
            "currency": currency,
            "trandate": tran_date.isoformat(),
            "memo": body.get("memo"),
            "createdfrom": None if created_from is None else int(created_from["id"]),
        },
    )


_PAYMENT_FIELDS = frozenset(
    {
        "customer",
        "currency",
        "tranDate",
        "memo",
        "payment",
        "externalId",
        "createdFrom",
        "status",
        "apply",
    }
)


def normalize_payment(
    payload: Mapping[str, Any], existing: Mapping[str, Any] | None, lookup: Lookup, today: date
) -> Normalized:
    # Imported here: the settlement rules build on this module's field readers.
    from sandbox.netsuite.settlement import payment_applications

    if existing is not None:
        if "apply" in payload:
            raise bad_request(
                USER_ERROR,
                "The sandbox applies a payment when it is created; changing its "
                "applications afterwards is not supported.",
                "apply",
            )
        return _update_posted(payload, existing, _PAYMENT_FIELDS, lookup)
    _reject_unknown(payload, _PAYMENT_FIELDS)
    data = dict(payload)
    invoice: dict[str, Any] | None = None
    created_from: dict[str, Any] | None = None
    if data.get("createdFrom") is not None:
        invoice, created_from = invoice_created_from(data["createdFrom"], lookup)
        data.setdefault("customer", invoice["entity"])
        data.setdefault("currency", invoice["currency"])
    customer_ref, customer = _customer_ref(data, lookup, "customer")
    if invoice is not None and customer_ref["id"] != invoice["entity"]["id"]:
        raise bad_request(
            INVALID_FLD_VALUE,
            "The payment customer differs from the invoice's customer.",
            "customer",
        )
    currency = _transaction_currency(data, customer)
    if data.get("payment") is None:
        raise bad_request(USER_ERROR, "Please enter value(s) for: Payment Amount", "payment")
    amount = money(_decimal(data["payment"], "payment", "payment"), currency)
    if amount <= 0:
        raise bad_request(
            INVALID_FLD_VALUE, "The payment amount must be greater than zero.", "payment"
        )
    if invoice is not None and amount > Decimal(invoice["amountRemaining"]):
        raise bad_request(
            INVALID_FLD_VALUE,
            f"The payment {amount} exceeds the amount remaining {invoice['amountRemaining']} "
            f"on invoice {invoice['tranId']}.",
            "payment",
        )
    tran_date = _date(data, "tranDate", "tranDate") or today
    check_period_open(tran_date, lookup)
    applied_lines = payment_applications(
        data,
        lookup,
        customer_ref["id"],
        currency,
        amount,
        None if created_from is None else created_from["id"],
    )
    applied = sum((Decimal(line["amount"]) for line in applied_lines), Decimal(0))
    body = _compact(
        {
            "externalId": _external_id(data),
            "customer": customer_ref,
            "currency": currency_ref(currency),
            "tranDate": tran_date.isoformat(),
            "memo": _text(data, "memo", "memo"),
            "createdFrom": created_from,
            "status": {"id": "C", "refName": PAYMENT_STATUSES["C"]},
            "payment": amount,
            "total": amount,
            "applied": money(applied, currency),
            "unapplied": money(amount - applied, currency),
            "apply": {"items": applied_lines},
            **_custom(payload, None),
        }
    )
    return Normalized(
        body,
        {
            "entity": int(customer_ref["id"]),
            "externalid": body.get("externalId"),
            "status": "C",
            "foreigntotal": str(amount),
            "amountremaining": None,
            "currency": currency,
            "trandate": tran_date.isoformat(),
            "memo": body.get("memo"),
            "createdfrom": None if created_from is None else int(created_from["id"]),
        },
    )


# --- subscriptions ----------------------------------------------------------------------


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the month's end (Jan 31 + 1 = Feb 28)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def term_end(start: date, months: int) -> date:
    """The last day of a term of ``months`` starting on ``start``."""
    return add_months(start, months) - timedelta(days=1)


@dataclass(frozen=True)
class RecurringLine:
    line: Mapping[str, Any]
    term_months: int


def recurring_lines(order: Mapping[str, Any], lookup: Lookup) -> list[RecurringLine]:
    """The order's lines whose item carries a subscription term."""
    found: list[RecurringLine] = []
    for line in order["item"]["items"]:
        item = lookup.item(int(line["item"]["id"]))
        term = None if item is None else item.get(TERM_MONTHS_FIELD)
        if term is not None:
            found.append(RecurringLine(line, int(term)))
    return found


def subscription_terms(
    order: Mapping[str, Any], lines: list[RecurringLine], start: date
) -> dict[str, Any]:
    """What a subscription derives from its order's recurring lines: the amount per
    term, the lines, and the end of the longest term."""
    currency = str(order["currency"]["refName"])
    term = max(line.term_months for line in lines)
    return {
        "initialTerm": {"id": str(term), "refName": f"{term} Month{'s' if term > 1 else ''}"},
        "endDate": term_end(start, term).isoformat(),
        "recurringAmount": _total([dict(line.line) for line in lines], currency),
        "subscriptionLine": {
            "items": [
                {
                    "lineNumber": index + 1,
                    "item": line.line["item"],
                    "quantity": line.line["quantity"],
                    "rate": line.line["rate"],
                    "amount": line.line["amount"],
                    "termMonths": line.term_months,
                }
                for index, line in enumerate(lines)
            ]
        },
    }


def subscription_columns(body: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "externalid": body.get("externalId"),
        "customer": int(body["customer"]["id"]),
        "salesorder": int(body["salesOrder"]["id"]) if body.get("salesOrder") else None,
        "name": body["name"],
        "startdate": body["startDate"],
        "enddate": body["endDate"],
        "status": body["billingSubscriptionStatus"]["id"],
        "recurringamount": str(body["recurringAmount"]),
        "currency": body["currency"]["refName"],
    }


def new_subscription(
    order_id: int, order: Mapping[str, Any], lines: list[RecurringLine]
) -> Normalized:
    """The ACTIVE subscription a sales order with recurring lines starts on its date."""
    start = date.fromisoformat(order["tranDate"])
    body = {
        "name": f"{order['tranId']} subscription",
        "customer": order["entity"],
        "salesOrder": {"id": str(order_id), "refName": f"Sales Order #{order['tranId']}"},
        "subsidiary": order.get("subsidiary", DEFAULT_SUBSIDIARY),
        "currency": order["currency"],
        "startDate": start.isoformat(),
        "billingSubscriptionStatus": status_ref("ACTIVE"),
        **subscription_terms(order, lines, start),
    }
    return Normalized(body, subscription_columns(body))


def status_ref(code: str) -> dict[str, str]:
    return {"id": code, "refName": SUBSCRIPTION_STATUSES[code]}


_SUBSCRIPTION_FIELDS = frozenset({"name", "endDate", "billingSubscriptionStatus", "externalId"})
# Set from the sales order when the subscription is created; fixed afterwards.
_SUBSCRIPTION_FIXED = frozenset(
    {
        "customer",
        "salesOrder",
        "subsidiary",
        "currency",
        "startDate",
        "initialTerm",
        "recurringAmount",
        "subscriptionLine",
    }
)


def normalize_subscription(
    payload: Mapping[str, Any], existing: Mapping[str, Any] | None
) -> Normalized:
    """A PATCH of a subscription: a new end date, a name, or termination."""
    if existing is None:
        raise bad_request(
            USER_ERROR,
            "A subscription is created by its sales order; it cannot be created directly.",
        )
    for name in payload:
        if name in _SUBSCRIPTION_FIXED:
            raise bad_request(
                USER_ERROR, f"The field {name} of a subscription cannot be changed.", name
            )
    _reject_unknown(payload, _SUBSCRIPTION_FIELDS)
    current = str(existing["billingSubscriptionStatus"]["id"])
    status = current
    if payload.get("billingSubscriptionStatus") is not None:
        status = _status(
            payload["billingSubscriptionStatus"],
            SUBSCRIPTION_STATUSES,
            "billingSubscriptionStatus",
        )
    end = _date(payload, "endDate", "endDate") or date.fromisoformat(existing["endDate"])
    changes_term = status != current or end.isoformat() != existing["endDate"]
    if changes_term and current in SUBSCRIPTION_ENDED:
        raise bad_request(
            USER_ERROR,
            f"The subscription is {SUBSCRIPTION_STATUSES[current]}; "
            "its status and end date cannot be changed.",
            "billingSubscriptionStatus" if status != current else "endDate",
        )
    if status not in (current, "TERMINATED"):
        raise bad_request(
            INVALID_FLD_VALUE,
            "A subscription's status can only be changed to TERMINATED.",
            "billingSubscriptionStatus",
        )
    start = date.fromisoformat(existing["startDate"])
    if end <= start:
        raise bad_request(
            INVALID_FLD_VALUE,
            f"The end date {end.isoformat()} must be after the start date {start.isoformat()}.",
            "endDate",
        )
    data = _merged(payload, existing)
    fixed = {k: v for k, v in existing.items() if not k.startswith(_CUSTOM_PREFIXES)}
    body = _compact(
        {
            **fixed,
            "name": _text(data, "name", "name", required=True, label="Name"),
            "externalId": _external_id(data),
            "endDate": end.isoformat(),
            "billingSubscriptionStatus": status_ref(status),
            **_custom(payload, existing),
        }
    )
    return Normalized(body, subscription_columns(body))


def invoice_created_from(reference: Any, lookup: Lookup) -> tuple[dict[str, Any], dict[str, str]]:
    """The invoice a payment or credit memo says it was created from, and the
    ``createdFrom`` reference it then shows; NetSuite's error for anything else."""
    invoice_id = _ref_id(reference, "createdFrom", "createdFrom")
    found = lookup.transaction(invoice_id)
    if found is None or found[0] != "invoice":
        raise bad_request(
            INVALID_KEY_OR_REF, f"Invalid createdFrom reference key {invoice_id}.", "createdFrom"
        )
    invoice: dict[str, Any] = found[1]
    return invoice, {"id": str(invoice_id), "refName": f"Invoice #{invoice['tranId']}"}
