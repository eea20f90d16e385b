"""The Void button of an invoice: a finance action the REST record API has no verb for.

``POST /app/accounting/transactions/invoice/{id}/void`` is the invoice's Void button
(SuiteScript's ``transaction.void``): authenticated like the record API, refused with
NetSuite's reasons (``sandbox.netsuite.applying.void_invoice``). Credit memos, payments
and refunds need no special route: they are records (``creditMemo``,
``customerPayment``, ``customerRefund``) created through the record API.
"""

from __future__ import annotations

import sqlite3
from datetime import date

from fastapi import APIRouter, Depends, Response

from sandbox.netsuite.applying import void_invoice
from sandbox.netsuite.query import format_timestamp
from sandbox.netsuite.records import DbLookup
from sandbox.netsuite.state import NetSuiteSandbox
from sandbox.netsuite.validation import check_period_open

FINANCE_PATH = "/app/accounting/transactions"


def invoice_void_router(sandbox: NetSuiteSandbox) -> APIRouter:
    router = APIRouter(
        prefix=FINANCE_PATH, tags=["finance"], dependencies=[Depends(sandbox.auth.require)]
    )

    @router.post("/invoice/{internal_id}/void", status_code=204)
    async def void(internal_id: int) -> Response:
        def run(conn: sqlite3.Connection) -> None:
            lookup = DbLookup(conn)

            def period_open(day: date) -> None:
                check_period_open(day, lookup)

            void_invoice(conn, internal_id, format_timestamp(sandbox.now()), period_open)

        await sandbox.store.write(run)
        return Response(status_code=204)

    return router
