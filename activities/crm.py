"""Activities that talk to the CRM."""

from __future__ import annotations

from temporalio import activity

from activities.errors import translate_connector_errors
from activities.heartbeat import heartbeating
from connectors.context import correlation_scope
from connectors.errors import NotFoundError
from connectors.protocols import CrmClient
from models.messages import (
    FetchOpportunityInput,
    FetchOpportunityResult,
    WriteBillingStatusInput,
    WriteOrderStatusInput,
)


class CrmActivities:
    def __init__(self, crm: CrmClient) -> None:
        self._crm = crm

    @activity.defn
    @heartbeating
    @translate_connector_errors
    async def fetch_opportunity(self, request: FetchOpportunityInput) -> FetchOpportunityResult:
        """Re-read the opportunity: the webhook is a trigger, the CRM is the truth."""
        with correlation_scope(request.correlation_id):
            try:
                opportunity = await self._crm.get_opportunity(request.opportunity_id)
            except NotFoundError:
                return FetchOpportunityResult(opportunity=None, account=None)
            if opportunity.account_id is None:
                return FetchOpportunityResult(opportunity=opportunity, account=None)
            account = await self._crm.get_account(opportunity.account_id)
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
