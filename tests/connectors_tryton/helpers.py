"""Accounts and orders the Tryton connector tests place, and the change feed read out."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from connectors.tryton import TrytonClient
from models.billing import ChangeCursor
from models.changes import ChangeKind, ErpChange
from models.crm import Address
from models.erp import CustomerUpsert, SalesOrderDraft, SalesOrderLine
from models.types import Money


def account(address: bool = True) -> CustomerUpsert:
    return CustomerUpsert(
        external_id=f"001{uuid.uuid4().hex[:12]}",
        company_name="Globex Ünïcode GmbH",
        billing_address=Address(street="1 Main St", city="Springfield", postal_code="12345")
        if address
        else Address(),
        currency="USD",
    )


def lines(items: dict[str, str], quantity: int = 2, rate: str = "99.50") -> list[SalesOrderLine]:
    """Order lines for ``{sku: item id}``."""
    return [
        SalesOrderLine(
            item_id=item_id,
            sku=sku,
            quantity=Decimal(quantity),
            rate=Money(amount=Decimal(rate), currency="USD"),
        )
        for sku, item_id in items.items()
    ]


async def draft(erp: TrytonClient, customer_id: str, skus: list[str]) -> SalesOrderDraft:
    items = await erp.find_items(skus)
    return SalesOrderDraft(
        external_id=f"006{uuid.uuid4().hex[:12]}",
        customer_id=customer_id,
        currency="USD",
        tran_date=date.today(),
        memo="test",
        lines=lines({sku: items[sku].id for sku in skus}),
    )


async def all_changes(
    erp: TrytonClient, kind: ChangeKind, after: ChangeCursor, limit: int
) -> list[ErpChange]:
    """Every change after ``after``, page by page as the change feed reads them; checks
    the keyset order and that no page is empty while more follow."""
    seen: list[ErpChange] = []
    while True:
        page = await erp.changes(kind, after, limit)
        assert page.kind is kind
        assert len(page.changes) <= limit
        assert page.changes or not page.has_more, "an empty page must be the last"
        for change in page.changes:
            position = change.position
            assert (position.modified_at, position.id) > (after.modified_at, after.id)
            after = position
        seen += page.changes
        if not page.has_more:
            return seen
