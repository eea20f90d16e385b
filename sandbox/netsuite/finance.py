"""What the ERP's own users do to orders, as admin routes: a finance user approves or
rejects an order held for approval, the warehouse ships it, and the account's approval
mode is set. These stand for NetSuite's UI (the order's Approve and Fulfill buttons,
Accounting Preferences); like the other ``/admin`` routes they are the sandbox's, not
NetSuite's API. See ``sandbox.netsuite.approval`` and ``sandbox.netsuite.fulfilment``.
"""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import Decimal
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from sandbox.netsuite import approval, records
from sandbox.netsuite.approval import ApprovalMode
from sandbox.netsuite.state import NetSuiteSandbox

_SALES_ORDER = records.RECORD_TYPES["salesorder"]
_FULFILMENT = records.RECORD_TYPES["itemfulfillment"]
FINANCE_USER = "Finance Approver"


class ApprovalSetting(BaseModel):
    mode: ApprovalMode


class Rejection(BaseModel):
    reason: str = Field(min_length=1, description="why the order is rejected")


class ShipLine(BaseModel):
    item: str = Field(description="the item's internal id or its SKU (itemId)")
    quantity: Decimal = Field(gt=0)


class Shipment(BaseModel):
    lines: list[ShipLine] | None = Field(
        None, description="what to ship; absent: everything left, as the Fulfill button"
    )
    tran_date: date | None = None


def _order_view(record: records.StoredRecord) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "tranId": record.body["tranId"],
        "status": record.body["status"],
        **(
            {approval.REJECTION_REASON_FIELD: record.body[approval.REJECTION_REASON_FIELD]}
            if approval.REJECTION_REASON_FIELD in record.body
            else {}
        ),
    }


def finance_router(sandbox: NetSuiteSandbox) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])
    store = sandbox.store

    @router.get("/approval")
    async def get_approval() -> dict[str, str]:
        return {"mode": (await store.read(approval.approval_mode)).value}

    @router.post("/approval")
    async def set_approval(setting: ApprovalSetting) -> dict[str, str]:
        await store.write(lambda conn: approval.set_approval_mode(conn, setting.mode))
        return {"mode": setting.mode.value}

    def _decide(order_id: str, approve: bool | None, reason: str | None) -> Any:
        """Approve (True), reject (False) or reopen for approval (None)."""

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            order = records.fetch(conn, _SALES_ORDER, order_id)
            if approve is None:
                body, columns = approval.reopen(order)
            else:
                body, columns = approval.decide(conn, order, approve, reason)
            now = sandbox.now()
            records.save_users_change(conn, _SALES_ORDER, order, body, columns, now, FINANCE_USER)
            return _order_view(records.fetch(conn, _SALES_ORDER, order_id))

        return store.write(run)

    @router.post("/finance/salesOrder/{order_id}/approve")
    async def approve(order_id: str) -> dict[str, Any]:
        """NetSuite: the order's Approve button (``orderStatus`` A -> B)."""
        result: dict[str, Any] = await _decide(order_id, True, None)
        return result

    @router.post("/finance/salesOrder/{order_id}/reject")
    async def reject(order_id: str, rejection: Rejection) -> dict[str, Any]:
        """An approval workflow's Reject: the order is closed (H) with the reason."""
        result: dict[str, Any] = await _decide(order_id, False, rejection.reason)
        return result

    @router.post("/finance/salesOrder/{order_id}/reopen")
    async def reopen(order_id: str) -> dict[str, Any]:
        """A rejected order back to Pending Approval (NetSuite: its lines' Closed
        boxes cleared), for the approver to decide again."""
        result: dict[str, Any] = await _decide(order_id, None, None)
        return result

    @router.post("/finance/salesOrder/{order_id}/fulfil")
    async def fulfil(order_id: str, shipment: Shipment | None = None) -> dict[str, Any]:
        """The warehouse ships some or all of the order: one item fulfillment."""

        def run(conn: sqlite3.Connection) -> dict[str, Any]:
            order = records.fetch(conn, _SALES_ORDER, order_id)
            payload: dict[str, Any] = {"createdFrom": {"id": str(order.id)}}
            if shipment is not None and shipment.tran_date is not None:
                payload["tranDate"] = shipment.tran_date.isoformat()
            if shipment is not None and shipment.lines is not None:
                by_sku = {
                    str(line["item"].get("refName")): str(line["item"]["id"])
                    for line in order.body["item"]["items"]
                }
                payload["item"] = {
                    "items": [
                        {
                            "item": {"id": by_sku.get(line.item, line.item)},
                            "quantity": line.quantity,
                        }
                        for line in shipment.lines
                    ]
                }
            created = records.create(conn, _FULFILMENT, payload, sandbox.now())
            record = records.fetch(conn, _FULFILMENT, str(created))
            return {
                "id": str(created),
                "tranId": record.body["tranId"],
                "order": _order_view(records.fetch(conn, _SALES_ORDER, order_id)),
            }

        result: dict[str, Any] = await store.write(run)
        return result

    return router
