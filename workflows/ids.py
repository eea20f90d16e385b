"""Workflow ids are business keys, so the engine itself refuses a second run per deal."""

from __future__ import annotations

CLOSE_WON_PREFIX = "close-won:salesforce:"


def close_won_workflow_id(crm_opportunity_id: str) -> str:
    return f"{CLOSE_WON_PREFIX}{crm_opportunity_id}"
