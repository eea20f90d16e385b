"""Reading every ERP record of one kind, page by page, by the change feed's own order.

Invoices, customers and subscriptions are compared record by record against what the
ledger (and the CRM) hold for exactly that record, looked up a page at a time; their
order does not need to match any other side, so the ERP's (modification time, id)
keyset serves, and a checkpoint is a position in it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime, time

from models.billing import ChangeCursor
from models.changes import ChangeKind, ErpChange
from reconciliation.context import PassContext

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def start_cursor(since: date | None) -> ChangeCursor:
    if since is None:
        return ChangeCursor(modified_at=_EPOCH, id=0)
    return ChangeCursor(modified_at=datetime.combine(since, time.min, tzinfo=UTC), id=0)


def encode_cursor(cursor: ChangeCursor) -> str:
    return f"{cursor.modified_at.isoformat()}|{cursor.id}"


def decode_cursor(text: str) -> ChangeCursor:
    moment, _, record_id = text.partition("|")
    return ChangeCursor(modified_at=datetime.fromisoformat(moment), id=int(record_id))


async def erp_pages(
    ctx: PassContext, kind: ChangeKind, checkpoint: str | None
) -> AsyncIterator[tuple[Sequence[ErpChange], str]]:
    """Each page of ``kind`` with the checkpoint that resumes after it."""
    cursor = decode_cursor(checkpoint) if checkpoint else start_cursor(ctx.since)
    while True:
        page = await ctx.erp.changes(kind, cursor, ctx.page_size)
        if page.changes:
            cursor = page.changes[-1].position
            yield page.changes, encode_cursor(cursor)
        if not page.has_more or not page.changes:
            return
