"""Validation of the records that settle invoices: credit memos, customer payments'
``apply`` sublist and customer refunds, with NetSuite's rules.

A settling record applies amounts to documents in its ``apply`` sublist (``doc``,
``apply``, ``amount``, as the REST record API shows it): a payment or a credit memo to
open invoices of the same customer, a refund to credit memos with credit left. The
rules a NetSuite user meets: nothing applied beyond what the document has left, nor
beyond the record's own amount; the document's currency must be the record's; a voided
invoice takes nothing; a document appears once.

Where NetSuite's documentation is unclear, the sandbox chooses and says so here:
applications are made when the record is created (NetSuite also lets a user change
them later on the record; the sandbox refuses that with a 400 rather than model it),
and a refund pays out credit memos only (NetSuite also refunds unapplied payments).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sandbox.netsuite.errors import INVALID_FLD_VALUE, INVALID_KEY_OR_REF, USER_ERROR, bad_request
from sandbox.netsuite.validation import (
    Lookup,
    Normalized,
    _compact,
    _custom,
    _customer_ref,
    _date,
    _decimal,
    _external_id,
    _lines,
    _ref_id,
    _reject_unknown,
    _text,
    _total,
    _transaction_currency,
    _update_posted,
    check_period_open,
    currency_ref,
    invoice_created_from,
    money,
)

VOIDED = "V"
INVOICE_VOIDED_NAME = "Voided"
CREDIT_MEMO_STATUSES = {"A": "Open", "B": "Fully Applied"}
# What each settling record may apply to, by the applied document's record type.
_APPLIES_TO = {
    "customerPayment": "invoice",
    "creditMemo": "invoice",
    "customerRefund": "creditMemo",
}
_DOC_LABEL = {"invoice": "Invoice", "creditMemo": "Credit Memo"}


def applications(
    value: Any,
    lookup: Lookup,
    record_type: str,
    customer_id: str,
    currency: str,
) -> list[dict[str, Any]]:
    """The ``apply`` sublist's applied lines, checked against each document."""
    items = value.get("items") if isinstance(value, Mapping) else None
    if not isinstance(items, list):
        raise bad_request(INVALID_FLD_VALUE, "The apply sublist needs an items list.", "apply")
    wanted_type = _APPLIES_TO[record_type]
    applied: list[dict[str, Any]] = []
    seen: set[int] = set()
    for index, line in enumerate(items):
        path = f"apply.items[{index}]"
        if not isinstance(line, Mapping):
            raise bad_request(INVALID_FLD_VALUE, "An apply line must be an object.", path)
        if line.get("apply") is False:
            continue
        doc_id = _ref_id(line.get("doc"), f"{path}.doc", "doc")
        found = lookup.transaction(doc_id)
        if found is None or found[0] != wanted_type:
            raise bad_request(
                INVALID_KEY_OR_REF,
                f"Invalid doc reference key {doc_id}: not an open {_DOC_LABEL[wanted_type]}.",
                f"{path}.doc",
            )
        doc = found[1]
        if doc_id in seen:
            raise bad_request(INVALID_FLD_VALUE, f"Document {doc_id} is applied twice.", path)
        seen.add(doc_id)
        label = f"{_DOC_LABEL[wanted_type]} #{doc['tranId']}"
        if doc["status"]["id"] == VOIDED:
            raise bad_request(USER_ERROR, f"{label} is voided and cannot be applied.", path)
        if doc["entity"]["id"] != customer_id:
            raise bad_request(
                INVALID_FLD_VALUE, f"{label} belongs to another customer.", f"{path}.doc"
            )
        if doc["currency"]["refName"] != currency:
            raise bad_request(
                INVALID_FLD_VALUE,
                f"{label} is in {doc['currency']['refName']}, this transaction in {currency}.",
                f"{path}.doc",
            )
        remaining = Decimal(doc["amountRemaining"])
        given = _decimal(line.get("amount", remaining), f"{path}.amount", "amount")
        amount = money(given, currency)
        if amount <= 0:
            raise bad_request(
                INVALID_FLD_VALUE, "An applied amount must be greater than zero.", path
            )
        if amount > remaining:
            raise bad_request(
                INVALID_FLD_VALUE,
                f"The amount {amount} applied exceeds the amount remaining {remaining} on {label}.",
                f"{path}.amount",
            )
        applied.append(
            {
                "doc": {"id": str(doc_id), "refName": label},
                "apply": True,
                "amount": amount,
                "refNum": doc["tranId"],
                "type": _DOC_LABEL[wanted_type],
                "total": Decimal(doc["total"]),
                "due": remaining,
            }
        )
    return applied


def applied_total(lines: list[dict[str, Any]], currency: str) -> Decimal:
    return money(sum((Decimal(line["amount"]) for line in lines), Decimal(0)), currency)


def _refuse_reapplying(payload: Mapping[str, Any], record: str) -> None:
    if "apply" in payload:
        raise bad_request(
            USER_ERROR,
            f"The sandbox applies a {record} when it is created; changing its applications "
            "afterwards is not supported.",
            "apply",
        )


_CREDIT_MEMO_FIELDS = frozenset(
    {"entity", "currency", "tranDate", "memo", "item", "externalId", "createdFrom", "apply"}
)


def normalize_credit_memo(
    payload: Mapping[str, Any], existing: Mapping[str, Any] | None, lookup: Lookup, today: date
) -> Normalized:
    """A credit memo, created from an invoice (crediting its lines unless told which)
    or standing alone; applied to invoices on creation."""
    if existing is not None:
        _refuse_reapplying(payload, "credit memo")
        return _update_posted(payload, existing, _CREDIT_MEMO_FIELDS, lookup)
    _reject_unknown(payload, _CREDIT_MEMO_FIELDS)
    data = dict(payload)
    created_from: dict[str, str] | None = None
    if data.get("createdFrom") is not None:
        invoice, created_from = invoice_created_from(data["createdFrom"], lookup)
        if invoice["status"]["id"] == VOIDED:
            raise bad_request(
                USER_ERROR,
                f"Invoice #{invoice['tranId']} is voided: nothing to credit.",
                "createdFrom",
            )
        data.setdefault("entity", invoice["entity"])
        data.setdefault("currency", invoice["currency"])
        if "item" not in data:
            data["item"] = {
                "items": [
                    {k: line[k] for k in ("item", "quantity", "rate", "description") if k in line}
                    for line in invoice["item"]["items"]
                ]
            }
        if invoice["entity"]["id"] != str(_ref_id(data["entity"], "entity", "entity")):
            raise bad_request(
                INVALID_FLD_VALUE, "The credit memo customer differs from the invoice's.", "entity"
            )
    entity, customer = _customer_ref(data, lookup)
    currency = _transaction_currency(data, customer)
    tran_date = _date(data, "tranDate", "tranDate") or today
    check_period_open(tran_date, lookup)
    lines = _lines(data.get("item"), lookup, currency)
    total = _total(lines, currency)
    applied = (
        applications(data["apply"], lookup, "creditMemo", entity["id"], currency)
        if data.get("apply") is not None
        else []
    )
    applied_sum = applied_total(applied, currency)
    if applied_sum > total:
        raise bad_request(
            INVALID_FLD_VALUE,
            f"The credits applied ({applied_sum}) exceed the credit memo's total ({total}).",
            "apply",
        )
    remaining = money(total - applied_sum, currency)
    status = "B" if remaining == 0 else "A"
    body = _compact(
        {
            "externalId": _external_id(data),
            "entity": entity,
            "currency": currency_ref(currency),
            "tranDate": tran_date.isoformat(),
            "memo": _text(data, "memo", "memo"),
            "createdFrom": created_from,
            "status": {"id": status, "refName": CREDIT_MEMO_STATUSES[status]},
            "total": total,
            "applied": applied_sum,
            "unapplied": remaining,
            "amountRemaining": remaining,
            "item": {"items": lines},
            "apply": {"items": applied},
            **_custom(payload, None),
        }
    )
    return Normalized(body, _columns(body, entity, status, total, remaining, currency, tran_date))


_REFUND_FIELDS = frozenset({"customer", "currency", "tranDate", "memo", "externalId", "apply"})


def normalize_refund(
    payload: Mapping[str, Any], existing: Mapping[str, Any] | None, lookup: Lookup, today: date
) -> Normalized:
    """A customer refund: cash back to the customer, paying out credit memos."""
    if existing is not None:
        _refuse_reapplying(payload, "refund")
        return _update_posted(payload, existing, _REFUND_FIELDS, lookup)
    _reject_unknown(payload, _REFUND_FIELDS)
    data = dict(payload)
    customer_ref, customer = _customer_ref(data, lookup, "customer")
    currency = _transaction_currency(data, customer)
    tran_date = _date(data, "tranDate", "tranDate") or today
    check_period_open(tran_date, lookup)
    if data.get("apply") is None:
        raise bad_request(
            USER_ERROR, "Please enter value(s) for: Apply (a credit to refund)", "apply"
        )
    applied = applications(data["apply"], lookup, "customerRefund", customer_ref["id"], currency)
    total = applied_total(applied, currency)
    if total <= 0:
        raise bad_request(USER_ERROR, "A refund must pay out at least one credit.", "apply")
    body = _compact(
        {
            "externalId": _external_id(data),
            "customer": customer_ref,
            "currency": currency_ref(currency),
            "tranDate": tran_date.isoformat(),
            "memo": _text(data, "memo", "memo"),
            "total": total,
            "apply": {"items": applied},
            **_custom(payload, None),
        }
    )
    return Normalized(body, _columns(body, customer_ref, None, total, None, currency, tran_date))


def payment_applications(
    data: Mapping[str, Any],
    lookup: Lookup,
    customer_id: str,
    currency: str,
    amount: Decimal,
    invoice_id: str | None,
) -> list[dict[str, Any]]:
    """A payment's applied lines: its ``apply`` sublist, or the one invoice it was
    created from (``createdFrom``: the whole payment on that invoice)."""
    if data.get("apply") is not None and invoice_id is not None:
        raise bad_request(
            INVALID_FLD_VALUE, "Give either createdFrom or an apply sublist, not both.", "apply"
        )
    value = data.get("apply")
    if invoice_id is not None:
        value = {"items": [{"doc": {"id": invoice_id}, "amount": amount}]}
    if value is None:
        return []
    applied = applications(value, lookup, "customerPayment", customer_id, currency)
    if applied_total(applied, currency) > amount:
        raise bad_request(
            INVALID_FLD_VALUE,
            f"The total applied ({applied_total(applied, currency)}) exceeds the payment "
            f"amount ({amount}).",
            "apply",
        )
    return applied


def _columns(
    body: Mapping[str, Any],
    entity: Mapping[str, Any],
    status: str | None,
    total: Decimal,
    remaining: Decimal | None,
    currency: str,
    tran_date: date,
) -> dict[str, Any]:
    created_from = body.get("createdFrom")
    return {
        "entity": int(entity["id"]),
        "externalid": body.get("externalId"),
        "status": status,
        "foreigntotal": str(total),
        "amountremaining": None if remaining is None else str(remaining),
        "currency": currency,
        "trandate": tran_date.isoformat(),
        "memo": body.get("memo"),
        "createdfrom": None if created_from is None else int(created_from["id"]),
    }
