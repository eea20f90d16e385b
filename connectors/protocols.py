"""What workflows need from a CRM and from an ERP, whatever the vendor."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

from models.billing import ChangeCursor
from models.changes import ChangeKind, ErpChange, ErpChangePage, OrderChange
from models.crm import (
    Account,
    AccountLegalMirror,
    Opportunity,
    OpportunityBillingMirror,
    OpportunityBillingUpdate,
    OpportunityOrderUpdate,
    ProductMirror,
    RenewalOpportunity,
)
from models.erp import (
    Customer,
    CustomerUpsert,
    Product,
    SalesOrder,
    SalesOrderDraft,
    SalesOrderLine,
)
from models.order_rows import CrmRow, ErpRow


class CrmClient(Protocol):
    async def get_opportunity(self, opportunity_id: str) -> Opportunity:
        """The opportunity with its line items. Raises ``NotFoundError``."""
        ...

    async def get_account(self, account_id: str) -> Account: ...

    async def get_opportunity_and_account(
        self, opportunity_id: str
    ) -> tuple[Opportunity, Account | None]:
        """The opportunity with its line items, and its account (None when it names none
        or the CRM no longer has it), in as few calls as the CRM allows. Raises
        ``NotFoundError`` for the opportunity."""
        ...

    async def write_order_status(self, opportunity_id: str, update: OpportunityOrderUpdate) -> None:
        """Mirror the ERP order number and status onto the opportunity (idempotent)."""
        ...

    async def write_billing_status(
        self, opportunity_id: str, update: OpportunityBillingUpdate
    ) -> None:
        """Mirror invoiced and paid amounts onto the opportunity (idempotent)."""
        ...

    async def billing_mirrors(
        self, opportunity_ids: Sequence[str]
    ) -> dict[str, OpportunityBillingMirror]:
        """The billing fields of these opportunities as they are now, by id; an id the
        CRM does not know is absent."""
        ...

    async def find_accounts(
        self, *, erp_customer_id: str | None = None, tax_id: str | None = None
    ) -> list[Account]:
        """Accounts that mirror this ERP customer, or carry this tax id (either may match)."""
        ...

    async def write_account_mirror(self, account_id: str, mirror: AccountLegalMirror) -> None:
        """Write the ERP's legal fields onto the account (idempotent)."""
        ...

    async def won_opportunities(
        self, after: str | None, limit: int, closed_since: date | None = None
    ) -> list[Opportunity]:
        """Closed-won opportunities with id strictly greater than ``after`` (when given)
        and closed on or after ``closed_since`` (when given), by id in ordinal order (as
        Python compares strings), at most ``limit``; fewer only at the end. Without
        their line items (``lines`` is empty)."""
        ...

    async def won_opportunity_rows(
        self, after: str | None, limit: int, closed_since: date | None = None
    ) -> list[CrmRow]:
        """``won_opportunities`` as rows in ``CRM_COLUMNS`` order, normalised so that
        ``opportunity_from_row`` gives the model ``won_opportunities`` gives."""
        ...

    async def accounts_mirroring(self, erp_customer_ids: Sequence[str]) -> list[Account]:
        """Accounts whose mirrored ERP customer id is one of these; none for none."""
        ...

    async def upsert_product_mirror(self, product: ProductMirror) -> None:
        """Create or update the product keyed by the ERP item id, and its list price."""
        ...

    async def create_renewal_opportunity(self, renewal: RenewalOpportunity) -> str:
        """Find the opportunity by ``renewal.key`` or create it; its id. Safe to repeat."""
        ...

    async def aclose(self) -> None: ...


class ErpClient(Protocol):
    async def upsert_customer(self, customer: CustomerUpsert) -> Customer:
        """Create the customer under its external id, or return the one already there
        unchanged (the ERP owns it); safe to repeat."""
        ...

    async def find_items(self, skus: Sequence[str]) -> dict[str, Product]:
        """Active catalog items by SKU; unknown SKUs are simply absent."""
        ...

    async def find_sales_order(self, external_id: str) -> SalesOrder | None: ...

    async def create_sales_order(
        self, draft: SalesOrderDraft, *, may_exist: bool = True
    ) -> SalesOrder:
        """Find the order by ``draft.external_id`` or create it; safe to repeat.

        ``may_exist=False`` is the caller's word that this is its first try at an
        opportunity it never placed an order for: the ERP may then skip the look-up
        before the create, though an order that does exist must still be found, never
        duplicated.

        Raises ``RejectedError`` when the ERP refuses the order on its merits.
        """
        ...

    async def count_sales_orders(self, external_ids: Sequence[str]) -> dict[str, int]:
        """Live (not cancelled) orders per external id; absent ids have none. More than
        one is a duplicate, which Syncline exists to prevent."""
        ...

    @property
    def change_kinds(self) -> frozenset[ChangeKind]:
        """The kinds of change this ERP can report (not every ERP has subscriptions)."""
        ...

    async def changes(self, kind: ChangeKind, after: ChangeCursor, limit: int) -> ErpChangePage:
        """Records of ``kind`` changed strictly after ``after``, oldest first, by
        (modification time, id). Invoices are posted ones; each names the order it
        bills and that order's external id (the CRM opportunity)."""
        ...

    async def settling_records(self, invoice_ids: Sequence[str]) -> list[ErpChange]:
        """The credit memos and payments (refunds included) applied to these invoices,
        as the change feed reads them; empty from an ERP without those kinds."""
        ...

    async def orders_by_reference(
        self, after: str | None, limit: int, since: date | None = None
    ) -> list[OrderChange]:
        """Sales orders of any status (cancelled ones too) that carry an external id (the
        CRM opportunity, ``crm_opportunity_id``) strictly greater than ``after`` (when
        given), dated on or after ``since`` (when given), by that id in ordinal order.

        At most ``limit``, fewer only at the end, except that the orders sharing one
        external id always come in the same page (see each ERP). ``lines`` may be empty:
        totals, currency and status are what a listing is for.
        """
        ...

    async def order_rows_by_reference(
        self, after: str | None, limit: int, since: date | None = None
    ) -> list[ErpRow]:
        """``orders_by_reference`` as rows in ``ERP_COLUMNS`` order, normalised so that
        ``order_from_row`` gives the model ``orders_by_reference`` gives."""
        ...

    async def cancel_sales_order(self, order_id: str) -> SalesOrder:
        """Cancel the order; cancelling a cancelled order is a no-op.

        Raises ``RejectedError`` when the ERP refuses (billed or fulfilled)."""
        ...

    async def amend_sales_order(self, order_id: str, lines: Sequence[SalesOrderLine]) -> SalesOrder:
        """Replace the order's lines. Raises ``RejectedError`` when the ERP refuses."""
        ...

    async def aclose(self) -> None: ...
