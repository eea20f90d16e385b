"""Activities that talk to the CRM."""

from __future__ import annotations

from temporalio import activity

from activities.errors import translate_connector_errors
from activities.heartbeat import heartbeating
from connectors.errors import NotFoundError, RejectedError
from connectors.protocols import CrmClient
from models.changes import CustomerChange
from models.crm import (
    MAX_ORDER_LINES,
    Account,
    AccountLegalMirror,
    ProductMirror,
    RenewalOpportunity,
)
from models.identity import ObjectType
from models.messages import (
    FetchOpportunityInput,
    FetchOpportunityResult,
    MirrorCustomerInput,
    MirrorCustomerResult,
    MirrorItemInput,
    OpenRenewalInput,
    OpenRenewalResult,
    WriteBillingStatusInput,
    WriteOrderStatusInput,
)
from models.types import utc_now
from store import Store
from telemetry.correlation import correlation_scope

# Salesforce caps an opportunity name at 120 characters.
_NAME_LIMIT = 120


class CrmActivities:
    def __init__(self, crm: CrmClient, store: Store | None = None) -> None:
        self._crm = crm
        self._store = store

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def fetch_opportunity(self, request: FetchOpportunityInput) -> FetchOpportunityResult:
        """Re-read the opportunity: the webhook is a trigger, the CRM is the truth."""
        with correlation_scope(request.correlation_id):
            try:
                opportunity, account = await self._crm.get_opportunity_and_account(
                    request.opportunity_id
                )
            except NotFoundError:
                return FetchOpportunityResult(opportunity=None, account=None)
            if len(opportunity.lines) > MAX_ORDER_LINES:
                # The count is the news; the lines would only bloat the history.
                opportunity = opportunity.model_copy(
                    update={"lines": [], "lines_in_crm": len(opportunity.lines)}
                )
        return FetchOpportunityResult(opportunity=opportunity, account=account)

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def write_order_status(self, request: WriteOrderStatusInput) -> None:
        with correlation_scope(request.correlation_id):
            await self._crm.write_order_status(request.opportunity_id, request.update)

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def write_billing_status(self, request: WriteBillingStatusInput) -> None:
        with correlation_scope(request.correlation_id):
            await self._crm.write_billing_status(request.opportunity_id, request.update)

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def mirror_customer(self, request: MirrorCustomerInput) -> MirrorCustomerResult:
        """Write the ERP's legal customer onto the CRM account(s) it belongs to.

        An account belongs to the customer when it was created from it (the customer's
        external id), already mirrors it, or shares its tax id. An account that already
        mirrors a *different* ERP customer means two ERP customers match one account:
        nothing is written and the workflow asks a person.
        """
        customer = request.customer
        with correlation_scope(request.correlation_id):
            accounts = await self._matching_accounts(customer)
            claimed = {
                a.id: a.erp_customer_id
                for a in accounts
                if a.erp_customer_id and a.erp_customer_id != customer.id
            }
            if claimed:
                return MirrorCustomerResult(
                    account_ids=sorted(a.id for a in accounts), claimed_by_other=claimed
                )
            mirror = AccountLegalMirror(
                erp_customer_id=customer.id,
                legal_name=customer.legal_name,
                billing_address=customer.billing_address,
                tax_id=customer.tax_id,
                synced_at=utc_now(),
            )
            for account in accounts:
                await self._crm.write_account_mirror(account.id, mirror)
                if self._store is not None:
                    await self._store.link(ObjectType.CUSTOMER, account.id, customer.id)
        return MirrorCustomerResult(
            account_ids=sorted(a.id for a in accounts), mirror=mirror if accounts else None
        )

    async def _matching_accounts(self, customer: CustomerChange) -> list[Account]:
        found = {
            a.id: a
            for a in await self._crm.find_accounts(
                erp_customer_id=customer.id, tax_id=customer.tax_id
            )
        }
        if customer.external_id and customer.external_id not in found:
            try:
                account = await self._crm.get_account(customer.external_id)
            except (NotFoundError, RejectedError):
                # An external id that is not an account of this CRM (an ERP can number
                # customers its own way: Tryton's codes for parties keyed in there).
                pass
            else:
                found[account.id] = account
        return list(found.values())

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def mirror_item(self, request: MirrorItemInput) -> None:
        """Create or update the CRM product and list price of one ERP item, and keep the
        catalog identity map (SKU → active ERP item) with it: a deal then maps its SKUs
        without asking the ERP."""
        item = request.item
        with correlation_scope(request.correlation_id):
            await self._crm.upsert_product_mirror(
                ProductMirror(
                    erp_item_id=item.id,
                    sku=item.sku,
                    name=item.name,
                    price=item.price,
                    is_active=item.is_active,
                )
            )
        if self._store is not None:
            await self._map_item(item.sku, item.id if item.is_active else None)

    async def _map_item(self, sku: str, item_id: str | None) -> None:
        assert self._store is not None
        known = (await self._store.erp_ids_for(ObjectType.PRODUCT, [sku])).get(sku)
        if known == item_id:
            return
        # Linking is first-wins: a link to another (or an inactive) item goes first.
        await self._store.forget_link(ObjectType.PRODUCT, sku)
        if item_id is not None:
            await self._store.link(ObjectType.PRODUCT, sku, item_id)

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def open_renewal(self, request: OpenRenewalInput) -> OpenRenewalResult:
        """Open the renewal opportunity for a subscription's current term, once.

        The account is the one the subscription was sold to: the original
        opportunity's, or else the one account mirroring the ERP customer.
        """
        subscription = request.subscription
        with correlation_scope(request.correlation_id):
            account_id, sold_as = await self._renewal_account(
                subscription.crm_opportunity_id, subscription.customer_id
            )
            if account_id is None:
                return OpenRenewalResult(
                    opportunity_id=None,
                    problem=(
                        f"ERP customer {subscription.customer_id} has no single CRM account "
                        f"to open the renewal of subscription {subscription.name} on"
                    ),
                )
            renewal = RenewalOpportunity(
                key=f"renewal:{subscription.id}:{subscription.start_date.isoformat()}",
                account_id=account_id,
                name=f"Renewal: {sold_as or subscription.name} "
                f"(term ends {subscription.end_date.isoformat()})"[:_NAME_LIMIT],
                close_date=subscription.end_date,
                amount=subscription.recurring_amount,
                renewal_of=subscription.crm_opportunity_id,
                erp_subscription_id=subscription.id,
            )
            opportunity_id = await self._crm.create_renewal_opportunity(renewal)
        return OpenRenewalResult(opportunity_id=opportunity_id, renewal=renewal)

    async def _renewal_account(
        self, opportunity_id: str | None, customer_id: str
    ) -> tuple[str | None, str | None]:
        if opportunity_id:
            try:
                original = await self._crm.get_opportunity(opportunity_id)
            except NotFoundError:
                original = None
            if original is not None and original.account_id:
                return original.account_id, original.name
        accounts = await self._crm.find_accounts(erp_customer_id=customer_id)
        if len(accounts) == 1:
            return accounts[0].id, None
        return None, None
