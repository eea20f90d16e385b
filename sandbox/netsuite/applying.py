"""What settling an invoice does to the records it touches, inside the write
transaction that creates (or deletes) the settling record, and the Void action.

An applied amount lowers the document's ``amountRemaining`` (an invoice is "Paid In
Full" at zero, a credit memo "Fully Applied") and is written as one row of SuiteQL's
transaction link table, which is how the change feed learns what a payment, credit memo
or refund applied to. NetSuite's documentation does not say which of the two linked
documents is "previous": the sandbox records the applied document (the invoice, or the
credit memo a refund pays out) as ``previousdoc`` and the settling record as
``nextdoc``, with ``linktype`` "Payment" and ``foreignamount`` positive.

Voiding follows a NetSuite direct void (the "Void Transactions Using Reversing
Journals" preference off): the invoice stays, its status "Voided", its total, amount
remaining and line amounts zero; an invoice anything is applied to cannot be voided;
the sales order it billed goes back to Pending Billing. NetSuite's REST record API has
no void verb (SuiteScript's ``transaction.void`` and the UI's Void button do it), so
the sandbox offers it as the finance action of ``sandbox.netsuite.finance``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

from models import exact_json
from sandbox.netsuite import partial_billing
from sandbox.netsuite.errors import USER_ERROR, bad_request, not_found
from sandbox.netsuite.settlement import CREDIT_MEMO_STATUSES, INVOICE_VOIDED_NAME, VOIDED
from sandbox.netsuite.validation import INVOICE_STATUSES, SALES_ORDER_STATUSES, money

SETTLING_TYPES = frozenset({"customerPayment", "creditMemo", "customerRefund"})
LINK_TYPE = "Payment"
_TYPE_CODES = {
    "invoice": "CustInvc",
    "creditMemo": "CustCred",
    "customerPayment": "CustPymt",
    "customerRefund": "CustRfnd",
}


def _load(conn: sqlite3.Connection, internal_id: int) -> tuple[str, dict[str, Any]] | None:
    row = conn.execute("SELECT rectype, body FROM txn WHERE id = ?", (internal_id,)).fetchone()
    return None if row is None else (str(row["rectype"]), dict(exact_json.loads(row["body"])))


def _save(
    conn: sqlite3.Connection, internal_id: int, body: dict[str, Any], now: str, **columns: Any
) -> None:
    values = {**columns, "lastmodifieddate": now, "body": exact_json.dumps(body)}
    assignments = ", ".join(f"{name} = ?" for name in values)
    conn.execute(f"UPDATE txn SET {assignments} WHERE id = ?", [*values.values(), internal_id])


def _settle(conn: sqlite3.Connection, doc_id: int, amount: Decimal, now: str) -> None:
    """Apply ``amount`` to the document (negative: take an application back)."""
    found = _load(conn, doc_id)
    if found is None:
        return  # deleted since: nothing left to settle
    rectype, body = found
    currency = str(body["currency"]["refName"])
    remaining = money(Decimal(body["amountRemaining"]) - amount, currency)
    if rectype == "invoice":
        status = "B" if remaining == 0 else "A"
        names = INVOICE_STATUSES
        body["amountPaid"] = money(Decimal(body.get("amountPaid", 0)) + amount, currency)
    else:
        status = "B" if remaining == 0 else "A"
        names = CREDIT_MEMO_STATUSES
        body["applied"] = money(Decimal(body.get("applied", 0)) + amount, currency)
        body["unapplied"] = remaining
    body["amountRemaining"] = remaining
    body["status"] = {"id": status, "refName": names[status]}
    _save(conn, doc_id, body, now, status=status, amountremaining=str(remaining))


def apply_created(
    conn: sqlite3.Connection, record_type: str, internal_id: int, body: dict[str, Any], now: str
) -> None:
    """A settling record was created: settle each document it applies to, and link it."""
    for line in body.get("apply", {}).get("items", []):
        doc_id = int(line["doc"]["id"])
        doc = _load(conn, doc_id)
        amount = Decimal(line["amount"])
        _settle(conn, doc_id, amount, now)
        conn.execute(
            "INSERT INTO txnlink (previousdoc, previoustype, nextdoc, nexttype, linktype, "
            "foreignamount, linkdate, lastmodifieddate) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                doc_id,
                _TYPE_CODES[doc[0]] if doc else None,
                internal_id,
                _TYPE_CODES[record_type],
                LINK_TYPE,
                str(amount),
                body["tranDate"],
                now,
            ),
        )


def apply_deleted(
    conn: sqlite3.Connection, internal_id: int, body: dict[str, Any], now: str
) -> None:
    """A settling record was deleted: its applications go with it."""
    for line in body.get("apply", {}).get("items", []):
        _settle(conn, int(line["doc"]["id"]), -Decimal(line["amount"]), now)
    conn.execute("DELETE FROM txnlink WHERE nextdoc = ?", (internal_id,))


def has_applications(conn: sqlite3.Connection, internal_id: int) -> bool:
    row = conn.execute("SELECT 1 FROM txnlink WHERE previousdoc = ? LIMIT 1", (internal_id,))
    return row.fetchone() is not None


def void_invoice(
    conn: sqlite3.Connection,
    internal_id: int,
    now: str,
    check_period: Callable[[date], None],
) -> None:
    """The Void action on an invoice, with NetSuite's refusals."""
    found = _load(conn, internal_id)
    if found is None or found[0] != "invoice":
        raise not_found()
    body = found[1]
    label = f"Invoice #{body['tranId']}"
    if body["status"]["id"] == VOIDED:
        raise bad_request(USER_ERROR, f"{label} is already voided.", "status")
    if has_applications(conn, internal_id):
        raise bad_request(
            USER_ERROR,
            f"{label} cannot be voided: payments or credits are applied to it. "
            "Unapply them first, or credit the invoice instead.",
            "status",
        )
    check_period(date.fromisoformat(body["tranDate"]))
    currency = str(body["currency"]["refName"])
    zero = money(Decimal(0), currency)
    for line in body["item"]["items"]:
        line["amount"] = zero
    body.update(
        status={"id": VOIDED, "refName": INVOICE_VOIDED_NAME},
        voided=True,
        subtotal=zero,
        total=zero,
        amountRemaining=zero,
        amountPaid=zero,
        memo="VOID",
    )
    _save(
        conn,
        internal_id,
        body,
        now,
        status=VOIDED,
        foreigntotal=str(zero),
        amountremaining=str(zero),
        memo="VOID",
    )
    created_from = body.get("createdFrom")
    if created_from is not None:
        _reopen_order(conn, int(created_from["id"]), now)


def _reopen_order(conn: sqlite3.Connection, order_id: int, now: str) -> None:
    """The order a voided invoice billed is billable again, unless the live invoices
    still bill it in full."""
    found = _load(conn, order_id)
    if found is None or found[1]["status"]["id"] != "G":
        return
    if partial_billing.billed_in_full(conn, order_id, found[1]):
        return
    body = found[1]
    body["status"] = {"id": "F", "refName": SALES_ORDER_STATUSES["F"]}
    _save(conn, order_id, body, now, status="F")
