"""Search attributes that let an operator find a run in the Temporal Web UI by business key."""

from __future__ import annotations

from collections.abc import Sequence

from temporalio import workflow
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

CRM_OPPORTUNITY_ID = SearchAttributeKey.for_keyword("CrmOpportunityId")
ERP_ORDER_ID = SearchAttributeKey.for_keyword("ErpOrderId")
SYNC_STATUS = SearchAttributeKey.for_keyword("SyncStatus")
ERP_CUSTOMER_ID = SearchAttributeKey.for_keyword("ErpCustomerId")
ERP_SUBSCRIPTION_ID = SearchAttributeKey.for_keyword("ErpSubscriptionId")

ALL = (CRM_OPPORTUNITY_ID, ERP_ORDER_ID, SYNC_STATUS, ERP_CUSTOMER_ID, ERP_SUBSCRIPTION_ID)


Wanted = Sequence[tuple[SearchAttributeKey[str], str | None]]
"""The attributes a run shows, as (key, value); an empty value is left as it is."""


def at_start(wanted: Wanted) -> TypedSearchAttributes:
    """For a start: attributes the start sets cost no history event and no billable
    action (an upsert costs one of each)."""
    return TypedSearchAttributes(
        [SearchAttributePair(key, value) for key, value in wanted if value]
    )


def show(wanted: Wanted) -> None:
    """In a workflow: upsert only the values that differ from what the run shows."""
    shown = workflow.info().typed_search_attributes
    changed = [key.value_set(value) for key, value in wanted if value and shown.get(key) != value]
    if changed:
        workflow.upsert_search_attributes(changed)
