"""The CRM's billing mirror: each opportunity's invoiced, paid and balance amounts
against what the ledger's facts of its order's invoices add up to.

This pass runs after the billing pass has compared every invoice with the ERP and its
repairs have recorded what the ledger lacked, so the ledger here already agrees with
the ERP (a difference left there is a finding of its own). The expected values are
made by the deal's own ``DealBilling`` from snapshots rebuilt out of the facts: one
meaning of "invoiced", "paid" and "balance" for the deal that writes them and for the
run that checks them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, time
from decimal import Decimal

from activities.ledger_billing import invoice_from_facts
from models.billing import BillingStatus, DealBilling
from models.crm import OpportunityBillingMirror
from models.events import EventType
from models.reconciliation import Domain, DriftClass, Finding, Remedy
from models.tables import LedgerEvent
from reconciliation.context import Batch, PassContext, Policy

_INVOICE_TYPES = (
    EventType.INVOICE_POSTED,
    EventType.INVOICE_VOIDED,
    EventType.CREDIT_MEMO_APPLIED,
    EventType.PAYMENT_APPLIED,
)
LEDGER_TYPES = (EventType.ORDER_ACCEPTED, EventType.ORDER_AMENDED, *_INVOICE_TYPES)
_FIELDS = ("invoiced_amount", "paid_amount", "balance")


def _booking(events: Sequence[LedgerEvent], order_id: str | None) -> LedgerEvent | None:
    """The newest booking of the deal's order (the one the CRM names, else the newest
    booked): what the deal's billing is measured against."""
    bookings = [
        e
        for e in events
        if e.event_type in (EventType.ORDER_ACCEPTED, EventType.ORDER_AMENDED)
        and (order_id is None or e.source_id == order_id)
    ]
    if not bookings:
        return None
    return max(bookings, key=lambda e: (e.occurred_at, int(e.payload.get("amendment", 0))))


def ledger_billing(events: Sequence[LedgerEvent], order_id: str | None) -> DealBilling | None:
    """What the deal would mirror, from the ledger's facts of one opportunity; None when
    the ledger books no order for it."""
    booking = _booking(events, order_id)
    if booking is None:
        return None
    order = booking.source_id
    posted: dict[str, LedgerEvent] = {}
    settling: dict[str, list[LedgerEvent]] = {}
    for event in events:
        if event.event_type not in _INVOICE_TYPES or event.payload.get("erp_order_id") != order:
            continue
        if event.event_type == EventType.INVOICE_POSTED:
            posted[event.source_id] = event
        else:
            settling.setdefault(event.source_id, []).append(event)
    billing = DealBilling(
        currency=str(booking.payload["currency"]),
        order_total=Decimal(str(booking.payload["total"])),
    )
    for invoice_id, fact in posted.items():
        billing.apply(invoice_from_facts(fact, settling.get(invoice_id, [])))
    return billing


def classify_mirror(
    opportunity_id: str,
    mirror: OpportunityBillingMirror | None,
    events: Sequence[LedgerEvent],
    policy: Policy,
    *,
    repair_pending: bool = False,
) -> Finding | None:
    """A stale mirror (or none where the ledger bills something) is one finding whose
    record is the update that makes it right."""
    if mirror is None:
        return None  # no such opportunity in the CRM: the orders domain reports that
    billing = ledger_billing(events, mirror.erp_order_id)
    if billing is None:
        return None  # nothing booked: no billing to mirror yet
    expected = {name: getattr(billing, name) for name in _FIELDS}
    shown = {name: getattr(mirror, name) for name in _FIELDS}
    if billing.status is BillingStatus.NOT_INVOICED and all(v is None for v in shown.values()):
        return None
    stale = [name for name in _FIELDS if shown[name] != expected[name]]
    if not stale:
        return None
    currency = billing.currency
    summary = "; ".join(
        f"{name.replace('_', ' ')} {shown[name]} on the opportunity, {expected[name]} "
        "by its invoices"
        for name in stale
    )
    changed_at = max((e.recorded_at for e in events), default=None)
    if changed_at is not None and changed_at.tzinfo is None:
        changed_at = changed_at.replace(tzinfo=UTC)
    drift, remedy, summary = policy.judge(
        DriftClass.STALE_MIRROR, Remedy.WRITE_MIRROR, summary, changed_at, repair_pending
    )
    update = billing.crm_update(synced_at=policy.now)
    evidence = {"crm_opportunity_id": opportunity_id, "fields": ",".join(stale)}
    for name in _FIELDS:
        evidence[f"{name}.crm"] = "" if shown[name] is None else str(shown[name])
        evidence[f"{name}.ledger"] = str(expected[name])
        evidence[f"{name}.difference_cents"] = str(
            int((expected[name] - (shown[name] or Decimal(0))) * 100)
        )
    return Finding(
        domain=Domain.BILLING_MIRROR,
        key=opportunity_id,
        drift=drift,
        remedy=remedy,
        summary=summary,
        crm=" / ".join(f"{shown[n]} {currency}" for n in stale),
        ledger=" / ".join(f"{expected[n]} {currency}" for n in stale),
        currency=currency,
        erp_id=mirror.erp_order_id,
        record=update.model_dump(mode="json"),
        evidence=evidence,
    )


async def mirrors_pass(ctx: PassContext, checkpoint: str | None) -> AsyncIterator[Batch]:
    """Pages of the opportunities the ledger holds a posted invoice for, by id."""
    since = None if ctx.since is None else datetime.combine(ctx.since, time.min, tzinfo=UTC)
    after = checkpoint
    while True:
        if ctx.keys is not None:
            subjects = sorted(k for k in ctx.keys if after is None or k > after)
        else:
            # Every billed opportunity has a posted invoice (the billing pass has just
            # restored any the ledger lacked): one type keeps the keyset on its index.
            subjects = await ctx.store.subjects_with_events(
                EventType.INVOICE_POSTED, after, ctx.page_size, since
            )
        # A subject of the form <erp>:<kind>:<id> bills no opportunity: nothing mirrors it.
        wanted = [s for s in subjects if ":" not in s]
        events = await ctx.store.events_for_subjects(wanted, LEDGER_TYPES)
        by_subject: dict[str, list[LedgerEvent]] = {}
        for event in events:
            by_subject.setdefault(event.subject_id, []).append(event)
        mirrors = await ctx.crm.billing_mirrors(wanted) if wanted else {}
        last = subjects[-1] if subjects else None
        batch = Batch(compared=len(wanted), findings=[], checkpoint=last)
        for subject in wanted:
            found = classify_mirror(
                subject,
                mirrors.get(subject),
                by_subject.get(subject, []),
                ctx.policy,
                repair_pending=subject in ctx.pending_repairs,
            )
            if found is not None:
                batch.findings.append(found)
        yield batch
        if ctx.keys is not None or len(subjects) < ctx.page_size:
            return
        after = subjects[-1]
