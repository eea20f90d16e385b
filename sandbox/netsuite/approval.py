"""Sales-order approval, as a NetSuite account with approval routing or credit holds.

The account's approval mode (a sandbox setting, ``/admin/approval`` or
``SYNCLINE_SANDBOX_ERP_APPROVAL``):

- ``off`` (the default): orders are created Pending Fulfillment, as before;
- ``all``: every sales order the integration creates starts Pending Approval, as with
  NetSuite's sales-order approval routing (Accounting Preferences > Order Management:
  the integration's role may enter orders but not approve them);
- ``over_credit_limit``: only an order that takes its customer over the customer's
  ``creditLimit`` waits, as with "Customer Credit Limit Handling: Enforce Holds". The
  exposure compared is the customer's open invoice balance plus its unbilled orders
  plus the new order (NetSuite's own formula, including whether unbilled orders count,
  is a preference its docs leave to the account; this sandbox counts them).

A finance user then approves or rejects the order (``approve``/``reject``): on real
NetSuite the Approve button on the order, i.e. ``orderStatus`` B (Pending Fulfillment);
a rejection closes the order (status H, "Closed") and, as approval workflows do, keeps
the approver's reason in a body field (``custbody_rejection_reason``, shipped in
``deploy/netsuite``). Every status change of a transaction leaves a system note
(``systemnote`` in SuiteQL: field, old and new value, date, who), which is where the
change feed reads when an order was approved: NetSuite's record has no approval date.
The system note's field id for a transaction's status is taken as ``TRANDOC.KSTATUS``;
NetSuite's docs do not list the ids (an account shows them in a saved search).

The integration cannot approve through the REST record API (leaving Pending Approval
other than by cancelling is refused): approval is a person's call.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sandbox.netsuite.errors import USER_ERROR, bad_request
from sandbox.netsuite.store import get_setting, set_setting
from sandbox.netsuite.validation import SALES_ORDER_STATUSES, Normalized

APPROVAL_SETTING = "approval_mode"
STATUS_NOTE_FIELD = "TRANDOC.KSTATUS"
REJECTION_REASON_FIELD = "custbody_rejection_reason"
PENDING_APPROVAL = "A"
PENDING_FULFILLMENT = "B"
CLOSED = "H"
CANCELLED = "C"
# NetSuite's record type id of transactions in system notes.
TRANSACTION_RECORD_TYPE = -30
INTEGRATION_USER = "Syncline Integration"


class ApprovalMode(StrEnum):
    OFF = "off"
    ALL = "all"
    OVER_CREDIT_LIMIT = "over_credit_limit"


def approval_mode(conn: sqlite3.Connection) -> ApprovalMode:
    return ApprovalMode(get_setting(conn, APPROVAL_SETTING) or ApprovalMode.OFF)


def set_approval_mode(conn: sqlite3.Connection, mode: ApprovalMode) -> None:
    set_setting(conn, APPROVAL_SETTING, None if mode is ApprovalMode.OFF else mode.value)


def _status(code: str) -> dict[str, str]:
    return {"id": code, "refName": SALES_ORDER_STATUSES[code]}


def _exposure(conn: sqlite3.Connection, customer_id: int) -> Decimal:
    """Open invoice balance plus unbilled orders (pending approval, fulfilment or
    billing), in the customer's currency."""
    rows = conn.execute(
        "SELECT type, status, foreigntotal, amountremaining FROM txn WHERE entity = ? "
        "AND type IN ('CustInvc', 'SalesOrd')",
        (customer_id,),
    ).fetchall()
    total = Decimal(0)
    for row in rows:
        if row["type"] == "CustInvc":
            total += Decimal(str(row["amountremaining"] or 0))
        elif row["status"] in ("A", "B", "D", "E", "F"):
            total += Decimal(str(row["foreigntotal"] or 0))
    return total


def hold_if_needed(conn: sqlite3.Connection, normalized: Normalized) -> Normalized:
    """A new sales order as the account's approval mode enters it."""
    mode = approval_mode(conn)
    if mode is ApprovalMode.OFF:
        return normalized
    if mode is ApprovalMode.OVER_CREDIT_LIMIT:
        customer_id = int(normalized.columns["entity"])
        row = conn.execute(
            "SELECT body ->> '$.creditLimit' FROM customer WHERE id = ?", (customer_id,)
        )
        limit = row.fetchone()[0]
        if limit is None:
            return normalized
        total = Decimal(str(normalized.columns["foreigntotal"]))
        if _exposure(conn, customer_id) + total <= Decimal(str(limit)):
            return normalized
    body = {**normalized.body, "status": _status(PENDING_APPROVAL)}
    return Normalized(body, {**normalized.columns, "status": PENDING_APPROVAL})


def check_rest_change(name: str, old: str, new: str) -> None:
    """What the integration may not do to an order's approval through the REST API."""
    if old == PENDING_APPROVAL and new not in (PENDING_APPROVAL, CANCELLED):
        raise bad_request(
            USER_ERROR,
            f"{name} is Pending Approval: only a user who may approve sales orders can approve it.",
            "orderStatus",
        )


def note_status_change(
    conn: sqlite3.Connection, record_id: int, old: str | None, new: str, now: str, who: str
) -> None:
    """The system note NetSuite keeps of a transaction's status change."""
    if old == new:
        return
    conn.execute(
        "INSERT INTO systemnote (recordid, recordtypeid, field, oldvalue, newvalue, notedate, "
        "name, context, type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            record_id,
            TRANSACTION_RECORD_TYPE,
            STATUS_NOTE_FIELD,
            SALES_ORDER_STATUSES.get(old or "", old),
            SALES_ORDER_STATUSES.get(new, new),
            now,
            who,
            "UI" if who != INTEGRATION_USER else "Web Services",
            "Change" if old is not None else "Set",
        ),
    )


def reopen(order: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A rejected order put back for approval. NetSuite reopens a closed order when a
    user clears the lines' Closed boxes; only an order closed at approval (it carries a
    rejection reason) goes back to Pending Approval here."""
    status = str(order.body["status"]["id"])
    if status != CLOSED or REJECTION_REASON_FIELD not in order.body:
        raise bad_request(
            USER_ERROR,
            f"Sales order {order.body['tranId']} was not rejected at approval: "
            "there is nothing to reopen for approval.",
            "orderStatus",
        )
    body = {k: v for k, v in order.body.items() if k != REJECTION_REASON_FIELD}
    body["status"] = _status(PENDING_APPROVAL)
    return body, {"status": PENDING_APPROVAL, REJECTION_REASON_FIELD: None}


def decide(
    conn: sqlite3.Connection, order: Any, approve: bool, reason: str | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The order's new body and columns when a finance user approves or rejects it.
    Refuses an order that is not pending approval, as NetSuite shows no Approve button
    on it."""
    status = str(order.body["status"]["id"])
    name = f"Sales order {order.body['tranId']}"
    if status != PENDING_APPROVAL:
        raise bad_request(
            USER_ERROR,
            f"{name} is {SALES_ORDER_STATUSES[status]}, not Pending Approval.",
            "orderStatus",
        )
    if approve:
        new = PENDING_FULFILLMENT
        body = {**order.body, "status": _status(new)}
    else:
        if not reason or not reason.strip():
            raise bad_request(
                USER_ERROR, "Please enter a rejection reason.", REJECTION_REASON_FIELD
            )
        new = CLOSED
        body = {**order.body, "status": _status(new), REJECTION_REASON_FIELD: reason.strip()}
        return body, {"status": new, REJECTION_REASON_FIELD: reason.strip()}
    return body, {"status": new}
