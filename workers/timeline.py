"""A deal's timeline: webhook deliveries (the CRM), ledger events (whichever system
made the fact), exceptions (Syncline) and what operators did to it, merged in time order
for an operator."""

from __future__ import annotations

from collections.abc import Sequence

from models.events import SourceSystem
from models.operators import AuditOutcome
from models.tables import AuditRow, ExceptionRow, LedgerEvent, WebhookDelivery
from reconciliation import contract as reconcile
from workers.api_models import TimelineEntry
from workers.inbox_relay import INBOX_PREFIX
from workflows.deal import contract as deal
from workflows.feed import contract as feed
from workflows.mirror import contract as mirror
from workflows.renewal import contract as renewal
from workflows.stream import contract as stream

_SYSTEM_OF_SOURCE = {
    SourceSystem.SALESFORCE: "crm",
    SourceSystem.NETSUITE: "erp",
    SourceSystem.TRYTON: "erp",
    SourceSystem.SYNCLINE: "syncline",
}

_PROCESSES = (
    (deal.ID_PREFIX, "deal"),
    (mirror.ID_PREFIX, "mirror"),
    (renewal.ID_PREFIX, "renewal"),
    (feed.ID_PREFIX, "feed"),
    (stream.ID_PREFIX, "crm_stream"),
    (reconcile.ON_DEMAND_PREFIX, "reconciliation"),
    (reconcile.SCHEDULED_WORKFLOW_ID, "reconciliation"),
    (INBOX_PREFIX, "inbox"),
)


def process_of(workflow_id: str) -> str:
    """Which process a workflow id names: deal, customer_mirror, item_mirror, renewal,
    feed, crm_stream, reconciliation (on demand ``reconcile:…``, nightly
    ``reconcile-nightly-…``), inbox (a webhook delivery the relay could not signal)."""
    for prefix, process in _PROCESSES:
        if workflow_id.startswith(prefix):
            if process == "mirror":
                kind = workflow_id.split(":")[2] if workflow_id.count(":") >= 3 else "record"
                return f"{kind}_mirror"
            return process
    return "other"


def _event_summary(event: LedgerEvent) -> str:
    payload = event.payload
    money = ""
    for key in ("total", "amount", "recurring_amount"):
        if payload.get(key) is not None:
            money = f" {payload[key]} {payload.get('currency', '')}".rstrip()
            break
    number = payload.get("order_number") or payload.get("invoice_number") or ""
    if payload.get("fulfilment_number"):  # what shipped, and whether that was all
        shipped = ", ".join(f"{line['quantity']} {line['sku']}" for line in payload["lines"])
        whole = "complete" if payload.get("complete") else "partial"
        money = f" {payload['fulfilment_number']} ({whole}): {shipped}"
    if event.event_type == "order.rejected" and payload.get("erp_order_id"):
        money = f": {payload.get('message')}"
    return f"{event.event_type} {number}{money}".replace("  ", " ").strip()


def _action_summary(action: AuditRow) -> str:
    verb = action.action.replace("exception.retry", "retry").replace(".", " ")
    who = f"{action.actor} ({action.role})" if action.role else str(action.actor)
    if action.outcome == AuditOutcome.DONE:
        return f"{verb} requested by {who}"
    return f"{verb} by {who} {action.outcome}: {action.reason}"


def deal_timeline(
    deliveries: Sequence[WebhookDelivery],
    events: Sequence[LedgerEvent],
    exceptions: Sequence[ExceptionRow],
    actions: Sequence[AuditRow] = (),
) -> list[TimelineEntry]:
    entries = [
        TimelineEntry(
            at=d.received_at,
            system="crm",
            kind="webhook",
            summary=f"webhook delivery {d.status}"
            + (f": {d.status_reason}" if d.status_reason else ""),
            ref=d.id,
        )
        for d in deliveries
    ]
    entries += [
        TimelineEntry(
            at=e.occurred_at,
            system=_SYSTEM_OF_SOURCE.get(SourceSystem(e.source_system), "syncline"),
            kind=e.event_type,
            summary=_event_summary(e) + (f", caused by {e.caused_by}" if e.caused_by else ""),
            ref=str(e.event_id),
            actor=e.caused_by,
        )
        for e in events
    ]
    entries += [
        TimelineEntry(
            at=a.at,
            system="syncline",
            kind=f"operator.{a.action}",
            summary=_action_summary(a),
            ref=a.target,
            actor=a.actor,
        )
        for a in actions
    ]
    for x in exceptions:
        entries.append(
            TimelineEntry(
                at=x.opened_at,
                system="syncline",
                kind="exception.opened",
                summary=f"{x.reason} at {x.step}: {x.message}",
                ref=x.id,
            )
        )
        if x.resolved_at is not None:
            entries.append(
                TimelineEntry(
                    at=x.resolved_at,
                    system="syncline",
                    kind="exception.resolved",
                    summary=f"{x.reason} resolved after {x.retry_count} retries",
                    ref=x.id,
                )
            )
    return sorted(entries, key=lambda entry: entry.at)
