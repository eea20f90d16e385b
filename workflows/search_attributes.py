"""Search attributes that let an operator find a run in the Temporal Web UI by business key."""

from __future__ import annotations

from temporalio.common import SearchAttributeKey

CRM_OPPORTUNITY_ID = SearchAttributeKey.for_keyword("CrmOpportunityId")
ERP_ORDER_ID = SearchAttributeKey.for_keyword("ErpOrderId")
SYNC_STATUS = SearchAttributeKey.for_keyword("SyncStatus")
ERP_CUSTOMER_ID = SearchAttributeKey.for_keyword("ErpCustomerId")
ERP_SUBSCRIPTION_ID = SearchAttributeKey.for_keyword("ErpSubscriptionId")

ALL = (CRM_OPPORTUNITY_ID, ERP_ORDER_ID, SYNC_STATUS, ERP_CUSTOMER_ID, ERP_SUBSCRIPTION_ID)
