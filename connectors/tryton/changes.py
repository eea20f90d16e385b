"""What changed in Tryton, read in keyset pages: each kind of change for the change
feed, and the accepted sales by reference for reconciliation."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from connectors.errors import RejectedError
from connectors.tryton import fulfilment, invoices, keyset, mapping, settlement
from connectors.tryton.errors import SYSTEM
from connectors.tryton.listing_rows import sale_row
from connectors.tryton.transport import TrytonRest
from models.billing import ChangeCursor
from models.changes import ChangeKind, ErpChange, ErpChangePage, OrderChange
from models.order_rows import ErpRow


@dataclass(frozen=True)
class _Feed:
    """One kind of change: which records, what to read of them, how they are stamped."""

    model: str
    domain: tuple[Any, ...]
    fields: tuple[str, ...]
    stamps: keyset.Stamps
    convert: Callable[[dict[str, Any], str, datetime], ErpChange] | None
    """One record to its change; ``None`` for a kind read a page at a time."""
    archived_too: bool = False
    """Archived records too: archiving a customer or an item is news for the CRM."""
    accepted_only: bool = False
    """Drop cancelled sales that were never confirmed (see ``_ever_confirmed``)."""


# Tryton's switch for archived records. A domain clause on ``active`` would not do:
# Tryton adds ``active = True`` to every nested list of a domain that lacks one, so the
# keyset's OR clauses would still drop them (a product archived with its template).
_ARCHIVED_TOO = {"active_test": False}

_FEEDS: dict[ChangeKind, _Feed] = {
    ChangeKind.ORDER: _Feed(
        "sale.sale",
        (("state", "in", list(mapping.ACCEPTED_SALE_STATES)),),
        mapping.ORDER_FIELDS,
        # Confirming writes the sale, and so does every later state or invoice_state.
        keyset.Stamps(always_written=True),
        mapping.order_change_from_record,
        accepted_only=True,
    ),
    ChangeKind.INVOICE: _Feed(
        "account.invoice",
        invoices.INVOICE_DOMAIN,
        invoices.INVOICE_FIELDS,
        keyset.Stamps(always_written=True),  # posting writes the invoice
        None,  # a page at a time: credit notes and what they settled
    ),
    # One payment line of the "Pay" wizard, applied to one customer invoice.
    ChangeKind.PAYMENT: _Feed(
        "account.move.line",
        (("invoice_payment", "!=", None), ("invoice_payment.type", "=", "out")),
        settlement.PAYMENT_LINE_FIELDS,
        keyset.Stamps(),
        None,  # a page at a time: a refund's credit note and the invoice it credits
    ),
    # A customer shipment once done; its sale's lines are read a page at a time.
    ChangeKind.FULFILMENT: _Feed(
        "stock.shipment.out",
        fulfilment.SHIPMENT_DOMAIN,
        fulfilment.SHIPMENT_FIELDS,
        keyset.Stamps(always_written=True),  # "Do" writes the shipment
        None,
    ),
    ChangeKind.CUSTOMER: _Feed(
        "party.party",
        (),
        mapping.PARTY_CHANGE_FIELDS,
        # The party form saves addresses and identifiers through the party, which
        # stamps it; an address edited on its own is seen with the party's next change.
        keyset.Stamps(),
        mapping.customer_change_from_party,
        archived_too=True,
    ),
    ChangeKind.ITEM: _Feed(
        "product.product",
        (),
        mapping.ITEM_FIELDS,
        # Name, list price and salability live on the template; code and archiving
        # on the variant: either table's stamp is the item's.
        keyset.Stamps(tables=("", "template.")),
        mapping.item_change_from_record,
        archived_too=True,
    ),
}

CHANGE_KINDS = frozenset(_FEEDS)


class TrytonChanges:
    """The change listings of ``TrytonClient``, over its REST calls."""

    def __init__(self, rest: TrytonRest, base_currency: str) -> None:
        self._rest = rest
        self._base_currency = base_currency

    async def changes(self, kind: ChangeKind, after: ChangeCursor, limit: int) -> ErpChangePage:
        """Records of ``kind`` changed strictly after ``after``, oldest first.

        The order is (modification time, id), where the modification time is Tryton's
        ``write_date``, or ``create_date`` for a record never edited (see ``keyset``).
        Tryton stamps ``write_date`` with its transaction's start, so a long transaction
        can commit a change older than the newest one already read; the change feed
        re-reads an overlap window for that reason. Invoices are customer invoices that
        were posted (paid and cancelled ones too).
        """
        feed = _FEEDS.get(kind)
        if feed is None:
            raise RejectedError(
                f"Tryton reports no {kind.value} changes (see change_kinds)", system=SYSTEM
            )
        records, has_more = await self._keyset(feed, after, limit)
        changes: list[ErpChange]
        if kind is ChangeKind.INVOICE:
            changes = await invoices.invoice_page(
                self._rest, records, feed.stamps.modified_at, self._base_currency
            )
        elif kind is ChangeKind.PAYMENT:
            changes = await invoices.payment_page(
                self._rest, records, feed.stamps.modified_at, self._base_currency
            )
        elif kind is ChangeKind.FULFILMENT:
            changes = list(
                await fulfilment.fulfilments_of_shipments(
                    self._rest, records, feed.stamps.modified_at
                )
            )
        else:
            changes = [self._convert(feed, record) for record in records]
        return ErpChangePage(kind=kind, changes=changes, has_more=has_more)

    def _convert(self, feed: _Feed, record: dict[str, Any]) -> ErpChange:
        if feed.convert is None:
            raise TypeError(f"{feed.model} is read a page at a time")
        return feed.convert(record, self._base_currency, feed.stamps.modified_at(record))

    async def settling_records(self, invoice_ids: Sequence[str]) -> list[ErpChange]:
        """What settled these invoices: the "Pay" wizard's lines on them, as the payment
        kind reads them, and the credit notes reconciled with them by hand, as the
        invoice kind reads them. (A credit note "with refund" cancels its invoice:
        reconciliation does not compare cancelled invoices, so it never asks for one.)"""
        if not invoice_ids:
            return []
        feed = _FEEDS[ChangeKind.PAYMENT]
        records = await self._rest.search(
            feed.model,
            [*feed.domain, ("invoice_payment", "in", [int(i) for i in invoice_ids])],
            keyset.merge_fields(feed.fields, feed.stamps.fields),
        )
        settling = await invoices.payment_page(
            self._rest, records, feed.stamps.modified_at, self._base_currency
        )
        notes = await invoices.notes_reconciled_with(self._rest, invoice_ids)
        if notes:
            feed = _FEEDS[ChangeKind.INVOICE]
            note_records = await self._rest.search(
                feed.model,
                [("id", "in", notes)],
                keyset.merge_fields(feed.fields, feed.stamps.fields),
            )
            settling += await invoices.invoice_page(
                self._rest, note_records, feed.stamps.modified_at, self._base_currency
            )
        return settling

    async def _keyset(
        self, feed: _Feed, after: ChangeCursor, limit: int
    ) -> tuple[list[dict[str, Any]], bool]:
        fields = keyset.merge_fields(feed.fields, feed.stamps.fields)
        context = _ARCHIVED_TOO if feed.archived_too else None

        async def search(
            domain: list[Any], order: list[tuple[str, str]], size: int
        ) -> list[dict[str, Any]]:
            return await self._rest.search(
                feed.model,
                [*feed.domain, *domain],
                fields,
                order=order,
                limit=size,
                context=context,
            )

        cursor: keyset.Key = (after.modified_at, after.id)
        while True:
            records, has_more = await keyset.page(search, feed.stamps, cursor, limit)
            kept = await self._ever_confirmed(records) if feed.accepted_only else records
            # An empty page would give the caller no position to go on from: read on.
            if kept or not has_more:
                return kept, has_more
            cursor = feed.stamps.key(records[-1])

    async def _ever_confirmed(self, sales: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The sales minus those cancelled before they were ever confirmed.

        ``create_sales_order`` cancels the duplicate drafts a race leaves behind, under
        the same reference as the live sale: reporting them as cancelled orders would
        tell the opportunity its order was cancelled. A cancelled sale keeps no trace
        of having been confirmed except Tryton's log of its transitions.
        """
        cancelled = [f"sale.sale,{s['id']}" for s in sales if s.get("state") == "cancelled"]
        if not cancelled:
            return sales
        logs = await self._rest.search(
            "ir.model.log",
            [
                ("resource", "in", cancelled),
                ("event", "=", "transition"),
                ("target", "=", "state:confirmed"),
            ],
            ["resource"],
        )
        confirmed = {int(str(log["resource"]).rsplit(",", 1)[1]) for log in logs}
        return [s for s in sales if s.get("state") != "cancelled" or int(s["id"]) in confirmed]

    async def orders_by_reference(
        self, after: str | None, limit: int, since: date | None = None
    ) -> list[OrderChange]:
        """Accepted sales by reference, without their lines (see ``_accepted_sales``)."""
        return [
            mapping.order_change_from_record(sale, self._base_currency, mapping.modified_at(sale))
            for sale in await self._accepted_sales(after, limit, since)
        ]

    async def order_rows_by_reference(
        self, after: str | None, limit: int, since: date | None = None
    ) -> list[ErpRow]:
        """``orders_by_reference`` as listing rows (``models.order_rows``)."""
        return [
            sale_row(sale, self._base_currency)
            for sale in await self._accepted_sales(after, limit, since)
        ]

    async def _accepted_sales(
        self, after: str | None, limit: int, since: date | None
    ) -> list[dict[str, Any]]:
        """Accepted sales (cancelled ones too) with a ``reference`` (the CRM opportunity)
        greater than ``after``, ``sale_date`` on or after ``since``, by reference then id;
        without their lines. Which sales count is the order feed's: confirmed or later,
        minus those cancelled before they were ever confirmed (``_ever_confirmed``).

        ``reference`` is not unique (a cancelled sale and the one that replaced it share
        one), so the keyset is the reference and a page never splits one: the sales of
        the last reference on a page all come with it, even past ``limit``.

        Order is the database's. SQLite compares text bytewise, which is ordinal order.
        PostgreSQL compares and sorts by the column's collation, the database default
        unless the database or column is C-collated: with a linguistic collation
        (``en_US.UTF-8`` puts ``a`` before ``Z``) pages still chain, since ``>`` and
        ORDER BY agree, but the stream is not ordinal, and a merge-join against an
        ordinal stream must detect that and stop rather than report false drift.
        """
        if limit < 1:
            raise ValueError("limit must be at least 1")
        accepted: list[dict[str, Any]] = []
        cursor = after
        while len(accepted) < limit:
            size = limit - len(accepted)
            sales = await self._sales_by_reference(cursor, since, size)
            if len(sales) == size:
                sales += await self._rest_of_reference(sales[-1], since)
            accepted += await self._ever_confirmed(sales)
            if len(sales) < size:
                break
            cursor = str(sales[-1]["reference"])
        return accepted

    async def _sales_by_reference(
        self, after: str | None, since: date | None, limit: int
    ) -> list[dict[str, Any]]:
        # Every string sorts after '': "> ''" also drops sales without a reference
        # (NULL compares as neither greater nor smaller).
        return await self._rest.search(
            "sale.sale",
            [*_listed_sales(since), ("reference", ">", after if after is not None else "")],
            mapping.ORDER_LISTING_FIELDS,
            order=[("reference", "ASC"), ("id", "ASC")],
            limit=limit,
        )

    async def _rest_of_reference(
        self, last: dict[str, Any], since: date | None
    ) -> list[dict[str, Any]]:
        """The sales after ``last`` that share its reference, so no page splits one."""
        return await self._rest.search(
            "sale.sale",
            [
                *_listed_sales(since),
                ("reference", "=", last["reference"]),
                ("id", ">", int(last["id"])),
            ],
            mapping.ORDER_LISTING_FIELDS,
            order=[("id", "ASC")],
        )


def _listed_sales(since: date | None) -> list[Any]:
    """The sales a listing by reference reads: those the order feed reads."""
    domain: list[Any] = [*_FEEDS[ChangeKind.ORDER].domain]
    if since is not None:
        domain.append(("sale_date", ">=", since))
    return domain
