"""Subscriptions: a term whose renewal is due has its ``renewal.opened`` in the ledger."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, time

from models.changes import ChangeKind, SubscriptionChange, SubscriptionStatus
from models.events import EventType, SourceSystem, event_id_for
from models.reconciliation import Domain, DriftClass, Finding, Remedy
from reconciliation.context import Batch, PassContext, Policy, money_text
from reconciliation.erp_records import erp_pages


def renewal_due_at(subscription: SubscriptionChange, policy: Policy) -> datetime:
    return datetime.combine(subscription.end_date, time.min, tzinfo=UTC) - policy.renewal_lead


def renewal_event_id(subscription: SubscriptionChange, system: SourceSystem) -> uuid.UUID:
    """The id ``renewal_opened_event`` gives this term (one renewal per term start)."""
    term = f"{subscription.id}:{subscription.start_date.isoformat()}"
    return event_id_for(EventType.RENEWAL_OPENED, system, term)


def classify_subscription(
    subscription: SubscriptionChange,
    opened: bool,
    policy: Policy,
    *,
    repair_pending: bool = False,
) -> Finding | None:
    if subscription.status is not SubscriptionStatus.ACTIVE or opened:
        return None
    due = renewal_due_at(subscription, policy)
    if due > policy.now:
        return None
    summary = (
        f"subscription {subscription.name} ends {subscription.end_date.isoformat()}; its "
        f"renewal was due {due.date().isoformat()} and none was opened"
    )
    drift, remedy, summary = policy.judge(
        DriftClass.MISSING_LEDGER_EVENT,
        Remedy.REPUBLISH,
        summary,
        max(due, subscription.modified_at),
        repair_pending,
    )
    return Finding(
        domain=Domain.SUBSCRIPTIONS,
        key=subscription.id,
        drift=drift,
        remedy=remedy,
        summary=summary,
        erp=money_text(subscription.recurring_amount),
        currency=subscription.recurring_amount.currency,
        erp_id=subscription.id,
        record=subscription.model_dump(mode="json"),
        evidence={
            "term_start": subscription.start_date.isoformat(),
            "term_end": subscription.end_date.isoformat(),
            "crm_opportunity_id": subscription.crm_opportunity_id or "",
        },
    )


async def subscriptions_pass(ctx: PassContext, checkpoint: str | None) -> AsyncIterator[Batch]:
    async for page, position in erp_pages(ctx, ChangeKind.SUBSCRIPTION, checkpoint):
        subscriptions = [s for s in page if isinstance(s, SubscriptionChange) and ctx.wanted(s.id)]
        ids = {s.id: renewal_event_id(s, ctx.erp_system) for s in subscriptions}
        opened = await ctx.store.existing_event_ids(list(ids.values()))
        batch = Batch(compared=len(subscriptions), findings=[], checkpoint=position)
        for subscription in subscriptions:
            found = classify_subscription(
                subscription,
                ids[subscription.id] in opened,
                ctx.policy,
                repair_pending=subscription.id in ctx.pending_repairs,
            )
            if found is not None:
                batch.findings.append(found)
            batch.saw(subscription.modified_at)
        yield batch
