"""Deals that may have followed their order's billing for ``BILLING_FOLLOW``: asked.

A deal's run follows its order's invoices and payments until the order is paid. One the
ERP never bills in full would follow for ever; rather than a 400-day timer in every
deal (a history event and a billable action each, and most deals are paid long before),
reconciliation asks each running deal that started ``BILLING_FOLLOW`` before now and
shows a following status (``FOLLOW_CHECK``). The deal judges by its own clock: one that
began following later than its start (it waited for an approval, or for a person) goes
on, and a later night asks it again.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import datetime

from temporalio.client import Client

from models.deal import BILLING_FOLLOW, FollowCheck
from reconciliation.visibility import listed
from workflows.deal import contract as deal
from workflows.search_attributes import CRM_OPPORTUNITY_ID, SYNC_STATUS

log = logging.getLogger(__name__)


def following_deals_query(now: datetime) -> str:
    """Visibility's running deals that show a following status and started at least
    ``BILLING_FOLLOW`` before ``now`` (a run cannot have followed longer than it ran)."""
    started_before = (now - BILLING_FOLLOW).strftime("%Y-%m-%dT%H:%M:%SZ")
    statuses = ", ".join(f"'{status.value}'" for status in deal.FOLLOWING_STATUSES)
    return (
        f"{deal.VISIBILITY_QUERY} AND ExecutionStatus = 'Running' "
        f"AND StartTime < '{started_before}' AND {SYNC_STATUS.name} IN ({statuses})"
    )


async def ask_following_deals(
    client: Client, now: datetime, asked_by: str, keys: Collection[str] | None = None
) -> int:
    """Ask every deal of ``following_deals_query`` (of ``keys`` only, when given)
    whether its follow is over; how many were asked."""
    wanted = set(keys) if keys is not None else None
    asked = 0
    query = following_deals_query(now)
    async for execution in listed(client, query, "following deals not asked"):
        opportunity_id = execution.typed_search_attributes.get(CRM_OPPORTUNITY_ID)
        if opportunity_id is None or (wanted is not None and opportunity_id not in wanted):
            continue
        # That run, not the id's newest: a run that ended since is not asked.
        handle = client.get_workflow_handle(execution.id, run_id=execution.run_id)
        if await deal.FOLLOW_CHECK.send_if_running(handle, FollowCheck(asked_by=asked_by)):
            asked += 1
    if asked:
        log.info("asked %d deals whether their billing follow is over", asked)
    return asked
