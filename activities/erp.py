"""Activities that talk to the ERP, keeping the identity map in step."""

from __future__ import annotations

from temporalio import activity

from activities.errors import translate_connector_errors
from activities.heartbeat import heartbeating
from connectors.context import correlation_scope
from connectors.protocols import ErpClient
from connectors.store import Store
from models.erp import CustomerUpsert
from models.events import SourceSystem
from models.identity import ObjectType
from models.messages import (
    CreateSalesOrderInput,
    CreateSalesOrderResult,
    EnsureCustomerInput,
    EnsureCustomerResult,
    ResolveItemsInput,
    ResolveItemsResult,
)


class ErpActivities:
    def __init__(self, erp: ErpClient, store: Store, system: SourceSystem) -> None:
        self._erp = erp
        self._store = store
        self._system = system

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def ensure_customer(self, request: EnsureCustomerInput) -> EnsureCustomerResult:
        """Find the ERP customer for the CRM account, or create it from the account.

        After creation the ERP owns the legal customer: an existing customer is returned
        as it is, never overwritten from CRM data.
        """
        account = request.account
        with correlation_scope(request.correlation_id):
            customer = await self._erp.upsert_customer(
                CustomerUpsert(
                    external_id=account.id,
                    company_name=account.name,
                    billing_address=account.billing_address,
                    tax_id=account.tax_id,
                    currency=request.currency,
                )
            )
        await self._store.link(ObjectType.CUSTOMER, account.id, customer.id)
        return EnsureCustomerResult(customer=customer)

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def resolve_items(self, request: ResolveItemsInput) -> ResolveItemsResult:
        """Map SKUs to active ERP items. Unknown SKUs are reported, not guessed.

        The catalog identity map saves an ERP call per deal (ERP calls are the scarce
        resource); a workflow retrying after an ERP rejection asks again without it.
        """
        skus = sorted(set(request.skus))
        item_ids = (
            await self._store.erp_ids_for(ObjectType.PRODUCT, skus) if request.use_cache else {}
        )
        missing = [sku for sku in skus if sku not in item_ids]
        if missing:
            with correlation_scope(request.correlation_id):
                found = await self._erp.find_items(missing)
            for sku, item in found.items():
                if not request.use_cache:
                    await self._store.forget_link(ObjectType.PRODUCT, sku)
                await self._store.link(ObjectType.PRODUCT, sku, item.id)
                item_ids[sku] = item.id
        unknown = [sku for sku in skus if sku not in item_ids]
        return ResolveItemsResult(item_ids=item_ids, unknown_skus=unknown)

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def create_sales_order(self, request: CreateSalesOrderInput) -> CreateSalesOrderResult:
        """Find-or-create by external id: a retry after a lost response finds the order."""
        with correlation_scope(request.correlation_id):
            order = await self._erp.create_sales_order(request.draft)
        await self._store.link(ObjectType.SALES_ORDER, request.crm_opportunity_id, order.id)
        return CreateSalesOrderResult(order=order, source_system=self._system)
