"""The ERP activity: customer, catalog mapping and sales order in one engine round trip.

The three parts share everything that matters to the engine (same system, same retry
semantics, each keyed by external id, so a retry of the whole is safe), and each
activity costs the Temporal server a handful of history events and two task
dispatches. One activity instead of three is the cheapest way to carry more deals per
second on the same server; the workflow still decides what the order is and what an
unknown SKU means.

ERP calls are the scarce resource (the account's concurrency limit sets throughput),
so the activity spends them only where Syncline's own identity map cannot answer: a
known customer and known SKUs cost no call, and a first try at an opportunity never
placed goes straight to the create (``may_exist=False``). A retry (the activity's
attempt number), a run after a park, or an opportunity the map already links to an
order (a deal won again after its order was cancelled) looks the order up first.
"""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import activity

from activities.errors import translate_connector_errors
from activities.heartbeat import heartbeating
from activities.ledger import append_fact, fact_appended
from activities.ledger_billing import invoices_in_ledger
from connectors.protocols import ErpClient
from models.billing import InvoiceSnapshot
from models.changes import ChangeKind, ErpChangePage
from models.crm import Account
from models.erp import CustomerUpsert, SalesOrder, SalesOrderDraft, SalesOrderLine
from models.events import SourceSystem
from models.facts import OrderFacts, order_accepted_event
from models.identity import ObjectType
from models.messages import (
    AmendOrderInput,
    AmendOrderResult,
    CancelOrderInput,
    FetchChangesInput,
    OrderLineRequest,
    PlaceOrderInput,
    PlaceOrderResult,
)
from models.types import utc_now
from store import Store
from telemetry.correlation import correlation_scope


class ErpActivities:
    def __init__(self, erp: ErpClient, store: Store, system: SourceSystem) -> None:
        self._erp = erp
        self._store = store
        self._system = system

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def place_order(self, request: PlaceOrderInput) -> PlaceOrderResult:
        """Find or create the customer, map the SKUs, find or create the order.

        Unknown SKUs are reported, not guessed, and then no order is created.

        The deal's facts are recorded here, where they are learnt, rather than by local
        activities of the workflow (two history events and two store round trips fewer
        per deal): the closed-won the workflow decided before the ERP is asked, and the
        order's acceptance once the ERP holds the order, unless it awaits approval.

        The store is asked once before the ERP (every link the map holds) and written
        once after it (``Store.record_placement``), plus once for a new customer's
        links: each round trip is a turn of SQLite's one write lock, which under a burst
        of deals the whole stack queues for while ERP slots stand idle.
        """
        # After a park the ERP's records may have been fixed by hand: the identity map
        # is not asked then. A retry may follow a try whose order committed: it looks
        # the order up before creating one.
        first_try = activity.info().attempt == 1 and request.use_cache
        skus = sorted({line.sku for line in request.lines})
        with correlation_scope(request.correlation_id):
            if request.closed_won is not None:
                await append_fact(self._store, request.closed_won.caused(request.caused_by))
            # One read for all the map can say: the customer, the items, an earlier order.
            known = await self._store.links_of(
                {
                    ObjectType.ORDER_CUSTOMER: [request.account.id] if request.use_cache else [],
                    ObjectType.PRODUCT: skus if request.use_cache else [],
                    ObjectType.SALES_ORDER: [request.crm_opportunity_id],
                }
            )
            customer_id = known.get(ObjectType.ORDER_CUSTOMER, {}).get(request.account.id)
            if customer_id is None:
                customer_id = await self._upsert_customer(
                    request.account, request.currency, request.use_cache
                )
            item_ids = await self._item_ids(
                skus, known.get(ObjectType.PRODUCT, {}), request.use_cache
            )
            unknown = [sku for sku in skus if sku not in item_ids]
            if unknown:
                return PlaceOrderResult(
                    customer_id=customer_id,
                    order=None,
                    unknown_skus=unknown,
                    source_system=self._system,
                )
            placed_before = request.crm_opportunity_id in known.get(ObjectType.SALES_ORDER, {})
            order = await self._erp.create_sales_order(
                SalesOrderDraft(
                    external_id=request.crm_opportunity_id,
                    customer_id=customer_id,
                    currency=request.currency,
                    tran_date=request.tran_date,
                    memo=request.memo,
                    lines=_order_lines(request.lines, item_ids),
                ),
                may_exist=not first_try or placed_before,
            )
        accepted = (
            None
            if order.awaits_approval
            else order_accepted_event(
                OrderFacts.of_order(order, request.crm_opportunity_id),
                self._system,
                request.correlation_id,
                utc_now(),
            ).caused(request.caused_by)
        )
        ordered, appended = await self._store.record_placement(
            request.crm_opportunity_id, order, accepted
        )
        if accepted is not None:
            await fact_appended(self._store, accepted, appended)
        invoices: list[InvoiceSnapshot] = []
        if not first_try or placed_before:
            invoices = await invoices_in_ledger(
                self._store, self._system, request.crm_opportunity_id, order.id
            )
        return PlaceOrderResult(
            customer_id=customer_id,
            order=order,
            source_system=self._system,
            invoices=invoices,
            ordered=ordered,
        )

    @activity.defn
    async def change_kinds(self) -> list[ChangeKind]:
        """What this ERP can report; the feed reads only those."""
        return sorted(self._erp.change_kinds)

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def fetch_changes(self, request: FetchChangesInput) -> ErpChangePage:
        """One page of one kind of ERP change after the feed's cursor for it."""
        with correlation_scope(activity.info().workflow_id or "erp-change-feed"):
            return await self._erp.changes(request.kind, request.after, request.limit)

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def cancel_order(self, request: CancelOrderInput) -> SalesOrder:
        """Compensation for a deal undone before billing. The ERP refuses what it has
        billed; that refusal reaches the workflow as a rejection with the ERP's words."""
        with correlation_scope(request.correlation_id):
            return await self._erp.cancel_sales_order(request.erp_order_id)

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def amend_order(self, request: AmendOrderInput) -> AmendOrderResult:
        """Replace the order's lines with the amended deal's; unknown SKUs change nothing."""
        with correlation_scope(request.correlation_id):
            skus = sorted({line.sku for line in request.lines})
            item_ids = await self._item_ids(skus, {}, use_cache=False)
            unknown = [sku for sku in skus if sku not in item_ids]
            if unknown:
                return AmendOrderResult(order=None, unknown_skus=unknown)
            order = await self._erp.amend_sales_order(
                request.erp_order_id, _order_lines(request.lines, item_ids)
            )
        if request.crm_opportunity_id is not None:
            await self._store.save_ordered(request.crm_opportunity_id, order.id, order.lines)
        return AmendOrderResult(order=order)

    async def _upsert_customer(self, account: Account, currency: str, use_map: bool) -> str:
        """The ERP customer the account's orders go to, when the identity map does not
        know it (or is not asked): created or found by external id (the account id).
        After creation the ERP owns the legal customer: an existing one is returned as
        it is, never overwritten from CRM data."""
        customer = await self._erp.upsert_customer(
            CustomerUpsert(
                external_id=account.id,
                company_name=account.name,
                billing_address=account.billing_address,
                tax_id=account.tax_id,
                currency=currency,
            )
        )
        if not use_map:
            # The ERP's answer replaces whatever the map said (a merged or recreated
            # customer); linking is first-wins, so the old link goes first.
            await self._store.forget_link(ObjectType.ORDER_CUSTOMER, account.id)
        await self._store.link_all(
            [
                (ObjectType.ORDER_CUSTOMER, account.id, customer.id),
                (ObjectType.CUSTOMER, account.id, customer.id),
            ]
        )
        return customer.id

    async def _item_ids(
        self, skus: Sequence[str], known: dict[str, str], use_cache: bool
    ) -> dict[str, str]:
        """ERP item id by SKU: ``known`` from the catalog identity map (which saves an
        ERP call per deal: ERP calls are the scarce resource), the rest asked of the
        ERP; after a park the workflow asks afresh (``use_cache`` False)."""
        item_ids = dict(known) if use_cache else {}
        missing = [sku for sku in skus if sku not in item_ids]
        if not missing:
            return item_ids
        found = await self._erp.find_items(missing)
        if not use_cache:
            for sku in found:
                await self._store.forget_link(ObjectType.PRODUCT, sku)
        await self._store.link_all(
            [(ObjectType.PRODUCT, sku, item.id) for sku, item in found.items()]
        )
        item_ids.update({sku: item.id for sku, item in found.items()})
        return item_ids


def _order_lines(
    lines: Sequence[OrderLineRequest], item_ids: dict[str, str]
) -> list[SalesOrderLine]:
    return [
        SalesOrderLine(
            item_id=item_ids[line.sku],
            sku=line.sku,
            quantity=line.quantity,
            rate=line.rate,
            description=line.description,
        )
        for line in lines
    ]
