"""Reading how NetSuite settles invoices: credit memos (``CustCred``), customer payments
(``CustPymt``) and customer refunds (``CustRfnd``), each from its own ``transaction``
row, and what each applied to from the transaction link table.

An application is a row of ``NextTransactionLineLink`` with ``linktype`` "Payment":
the applied document (an invoice, or the credit memo a refund pays out) is
``previousdoc``, the settling record ``nextdoc``. NetSuite's documentation names the
columns but not which side each document takes nor the sign of ``foreignamount`` for
these links, so magnitudes are taken and the sides are as the sandbox records them;
a real account should be checked against one payment before trusting the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from connectors.netsuite import mapping
from models.billing import ChangeCursor, InvoiceSnapshot
from models.changes import ErpChange
from models.erp import SalesOrderLine
from models.settlement import (
    Application,
    CreditMemoChange,
    InvoiceRef,
    PaymentChange,
    PaymentDirection,
)
from models.types import Money

Rows = list[dict[str, Any]]
SuiteQL = Callable[[str], Awaitable[Rows]]
SuiteQLPage = Callable[[str, int], Awaitable[tuple[Rows, bool]]]
OrderExternalIds = Callable[[Sequence[str]], Awaitable[dict[str, str]]]
Lines = Callable[[Mapping[str, str]], Awaitable[dict[str, list[SalesOrderLine]]]]

LINK_TABLE = "NextTransactionLineLink"
_CHUNK = 200
# What a credit memo's, payment's or refund's ``transaction`` row is read with.
_SETTLING_COLUMNS = (
    "id, tranid, type, createdfrom, entity, status, foreigntotal, amountremaining, "
    "currency, trandate, lastmodifieddate"
)
_DIRECTIONS = {"CustPymt": PaymentDirection.RECEIVED, "CustRfnd": PaymentDirection.REFUNDED}


def _ids(values: Sequence[str]) -> list[str]:
    ids = sorted(set(values), key=int)
    if not all(value.isdigit() for value in ids):
        raise ValueError(f"not internal ids: {ids!r}")
    return ids


def _chunks(ids: list[str]) -> list[str]:
    return [", ".join(ids[start : start + _CHUNK]) for start in range(0, len(ids), _CHUNK)]


def _money(value: Any, currency: str) -> Money:
    return Money(amount=abs(mapping.decimal(value)), currency=currency)


def _day(value: Any) -> date | None:
    return date.fromisoformat(str(value)[:10]) if value else None


class SettlementReader:
    """The change feed's credit memo and payment kinds, and the credits and cash applied
    to a page of invoices; over the client's SuiteQL."""

    def __init__(
        self,
        suiteql: SuiteQL,
        suiteql_page: SuiteQLPage,
        order_external_ids: OrderExternalIds,
        lines: Lines,
        base_currency: str,
    ) -> None:
        self._suiteql = suiteql
        self._page = suiteql_page
        self._order_external_ids = order_external_ids
        self._lines = lines
        self._base_currency = base_currency

    async def links(self, column: str, ids: Sequence[str]) -> Rows:
        """Payment links whose ``column`` (previousdoc or nextdoc) is one of ``ids``."""
        rows: Rows = []
        for chunk in _chunks(_ids(ids)):
            rows += await self._suiteql(
                "SELECT previousdoc, previoustype, nextdoc, nexttype, foreignamount "
                f"FROM {LINK_TABLE} WHERE linktype = 'Payment' AND {column} IN ({chunk})"
            )
        return rows

    async def settled(self, invoices: list[InvoiceSnapshot]) -> list[InvoiceSnapshot]:
        """The invoices with the credits and the cash applied to each."""
        if not invoices:
            return invoices
        credited: dict[str, Decimal] = {}
        collected: dict[str, Decimal] = {}
        for row in await self.links("previousdoc", [i.id for i in invoices]):
            sums = credited if row.get("nexttype") == "CustCred" else collected
            if row.get("nexttype") in ("CustCred", "CustPymt"):
                doc = str(row["previousdoc"])
                sums[doc] = sums.get(doc, Decimal(0)) + abs(mapping.decimal(row["foreignamount"]))
        return [
            invoice.model_copy(
                update={
                    "credited": credited.get(invoice.id, Decimal(0)),
                    "collected": collected.get(invoice.id, Decimal(0)),
                }
            )
            for invoice in invoices
        ]

    async def _documents(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Invoices and credit memos by id: number, what they were created from, due."""
        found: dict[str, dict[str, Any]] = {}
        for chunk in _chunks(_ids(ids)):
            for row in await self._suiteql(
                "SELECT id, tranid, type, createdfrom, amountremaining FROM transaction "
                f"WHERE id IN ({chunk})"
            ):
                found[str(row["id"])] = row
        return found

    async def _invoice_refs(self, ids: Sequence[str]) -> dict[str, InvoiceRef]:
        """Each invoice with the order it bills and that order's opportunity."""
        if not ids:
            return {}
        rows = await self._documents(ids)
        orders = await self._order_external_ids(
            [str(r["createdfrom"]) for r in rows.values() if r.get("createdfrom")]
        )
        refs = {}
        for invoice_id, row in rows.items():
            order_id = str(row["createdfrom"]) if row.get("createdfrom") else None
            external = orders.get(order_id) if order_id else None
            remaining = row.get("amountremaining")
            refs[invoice_id] = InvoiceRef(
                id=invoice_id,
                number=str(row.get("tranid") or invoice_id),
                erp_order_id=order_id,
                crm_opportunity_id=mapping.opportunity_of(external) if external else None,
                amount_due=None if remaining is None else mapping.decimal(remaining),
            )
        return refs

    async def credit_memo_changes(
        self, after: ChangeCursor, limit: int
    ) -> tuple[list[ErpChange], bool]:
        from connectors.netsuite.client import keyset_query  # the feed's one keyset rule

        query = keyset_query(_SETTLING_COLUMNS, "transaction", "type = 'CustCred'", after)
        rows, has_more = await self._page(query, limit)
        return await self._credit_memos(rows), has_more

    async def _credit_memos(self, rows: Rows) -> list[ErpChange]:
        ids = [str(r["id"]) for r in rows]
        links = await self.links("nextdoc", ids) if ids else []
        invoices = await self._invoice_refs(
            [str(r["createdfrom"]) for r in rows if r.get("createdfrom")]
            + [str(link["previousdoc"]) for link in links]
        )
        currencies = {str(r["id"]): mapping.order_currency(r, self._base_currency) for r in rows}
        lines = await self._lines(currencies) if currencies else {}
        changes: list[ErpChange] = []
        for row in rows:
            memo_id, currency = str(row["id"]), currencies[str(row["id"])]
            applied = [
                Application(
                    amount=abs(mapping.decimal(link["foreignamount"])),
                    invoice=invoices.get(str(link["previousdoc"])),
                )
                for link in links
                if str(link["nextdoc"]) == memo_id
            ]
            changes.append(
                CreditMemoChange(
                    id=memo_id,
                    number=str(row.get("tranid") or memo_id),
                    customer_id=str(row["entity"]) if row.get("entity") else None,
                    created_from=invoices.get(str(row.get("createdfrom"))),
                    total=_money(row["foreigntotal"], currency),
                    amount_unapplied=_money(row.get("amountremaining"), currency),
                    tran_date=_day(row.get("trandate")),
                    lines=lines.get(memo_id, []),
                    applications=applied,
                    modified_at=mapping.modified_at(row),
                )
            )
        return changes

    async def payment_changes(
        self, after: ChangeCursor, limit: int
    ) -> tuple[list[ErpChange], bool]:
        """Customer payments and refunds, with what each applied to."""
        from connectors.netsuite.client import keyset_query

        query = keyset_query(
            _SETTLING_COLUMNS, "transaction", "type IN ('CustPymt', 'CustRfnd')", after
        )
        rows, has_more = await self._page(query, limit)
        return await self._payments(rows), has_more

    async def _payments(self, rows: Rows) -> list[ErpChange]:
        ids = [str(r["id"]) for r in rows]
        links = await self.links("nextdoc", ids) if ids else []
        documents = await self._documents([str(link["previousdoc"]) for link in links])
        credited_invoices = [
            str(doc["createdfrom"])
            for doc in documents.values()
            if doc.get("type") == "CustCred" and doc.get("createdfrom")
        ]
        invoices = await self._invoice_refs(
            [d for d, doc in documents.items() if doc.get("type") == "CustInvc"] + credited_invoices
        )
        changes: list[ErpChange] = []
        for row in rows:
            payment_id = str(row["id"])
            currency = mapping.order_currency(row, self._base_currency)
            applied = [
                _application(link, documents, invoices)
                for link in links
                if str(link["nextdoc"]) == payment_id
            ]
            tran_date = _day(row.get("trandate"))
            if tran_date is None:
                raise ValueError(f"payment {payment_id} has no trandate")
            changes.append(
                PaymentChange(
                    id=payment_id,
                    number=str(row.get("tranid") or payment_id),
                    direction=_DIRECTIONS[str(row["type"])],
                    customer_id=str(row["entity"]) if row.get("entity") else None,
                    total=_money(row["foreigntotal"], currency),
                    tran_date=tran_date,
                    applications=applied,
                    modified_at=mapping.modified_at(row),
                )
            )
        return changes

    async def settling(self, invoice_ids: Sequence[str]) -> list[ErpChange]:
        """The credit memos and payments applied to these invoices, whole (as the feed
        reads them): for reconciliation, which finds an invoice settled beyond what
        the ledger holds and hands the records that settled it to the publisher."""
        if not invoice_ids:
            return []
        links = await self.links("previousdoc", invoice_ids)
        settling_ids = sorted({str(link["nextdoc"]) for link in links}, key=int)
        rows: Rows = []
        for chunk in _chunks(settling_ids):
            rows += await self._suiteql(
                f"SELECT {_SETTLING_COLUMNS} FROM transaction WHERE id IN ({chunk}) "
                "ORDER BY lastmodifieddate, id"
            )
        memos = [r for r in rows if r.get("type") == "CustCred"]
        payments = [r for r in rows if r.get("type") in _DIRECTIONS]
        return [*await self._credit_memos(memos), *await self._payments(payments)]


def _application(
    link: Mapping[str, Any],
    documents: Mapping[str, Mapping[str, Any]],
    invoices: Mapping[str, InvoiceRef],
) -> Application:
    """One link as an application: to an invoice, or to a credit memo (a refund's)."""
    doc_id = str(link["previousdoc"])
    amount = abs(mapping.decimal(link["foreignamount"]))
    doc = documents.get(doc_id, {})
    if doc.get("type") == "CustCred":
        credited = str(doc["createdfrom"]) if doc.get("createdfrom") else None
        return Application(
            amount=amount,
            invoice=invoices.get(credited) if credited else None,
            credit_memo_id=doc_id,
            credit_memo_number=str(doc.get("tranid") or doc_id),
        )
    return Application(amount=amount, invoice=invoices.get(doc_id))
