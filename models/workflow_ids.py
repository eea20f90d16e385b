"""Workflow ids are business keys, so the engine itself refuses a second run per deal."""

from __future__ import annotations

CLOSE_WON_PREFIX = "close-won:salesforce:"


def close_won_workflow_id(crm_opportunity_id: str) -> str:
    return f"{CLOSE_WON_PREFIX}{crm_opportunity_id}"


def mirror_workflow_id(erp_system: str, kind: str, erp_id: str) -> str:
    """One mirror per ERP customer or item: ``erp-mirror:netsuite:customer:42``."""
    return f"erp-mirror:{erp_system}:{kind}:{erp_id}"


def renewal_workflow_id(erp_system: str, subscription_id: str) -> str:
    return f"renewal:{erp_system}:{subscription_id}"
