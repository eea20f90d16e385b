"""What the console charts: figures the API already holds (the store, Temporal's
visibility, reconciliation reports), gathered into one answer per refresh."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError

from models.deal import DealStatus
from models.reconciliation import Metric, RunStatus
from models.tables import DeliveryStatus, ExceptionRow, ExceptionStatus
from models.types import utc_now
from reconciliation.records import ReconciliationRecords
from store import Store
from workers.console.explanations import Explanations, all_explanations
from workers.settings import Settings
from workers.timeline import process_of
from workflows.deal import contract as deal
from workflows.search_attributes import CRM_OPPORTUNITY_ID, SYNC_STATUS

DELIVERY_HOURS = 24
VARIANCE_RUNS = 10
RECENT_DEALS = 8
# Upper bounds of the backlog's age bands: a person should see at once what is stale.
AGE_BANDS: tuple[tuple[str, timedelta | None], ...] = (
    ("under 1 hour", timedelta(hours=1)),
    ("1 to 24 hours", timedelta(days=1)),
    ("1 to 7 days", timedelta(days=7)),
    ("over 7 days", None),
)
_DEALS = deal.VISIBILITY_QUERY


class HourOfDeliveries(BaseModel):
    hour: datetime
    """The hour's start, UTC."""
    by_status: dict[DeliveryStatus, int]


class BacklogRow(BaseModel):
    """The waiting exceptions of one reason, by how long they have waited."""

    process: str
    reason: str
    by_age: dict[str, int]
    oldest_opened_at: datetime


class VariancePoint(BaseModel):
    """One metric in one currency in one finished run: what the ledger lacks against
    the ERP."""

    run_id: str
    finished_at: datetime
    metric: Metric
    currency: str
    variance: Decimal


class RecentDeal(BaseModel):
    crm_opportunity_id: str
    status: str | None
    started_at: datetime


class ConsoleSummary(BaseModel):
    generated_at: datetime
    deals_by_status: dict[DealStatus, int] | None
    """None when Temporal cannot be asked."""
    recent_deals: list[RecentDeal]
    deliveries_per_hour: list[HourOfDeliveries]
    """The last 24 hours, oldest first, empty hours included."""
    exception_backlog: list[BacklogRow]
    reconciliation_variance: list[VariancePoint]
    """From the last finished runs, oldest first."""
    temporal_workflows_url: str
    """Append a workflow id to reach its page in the Temporal Web UI."""
    age_bands: list[str]
    explanations: Explanations


async def console_summary(settings: Settings, store: Store, client: Client) -> ConsoleSummary:
    now = utc_now()
    deals, recent, deliveries, waiting, runs = await asyncio.gather(
        _deals_by_status(client),
        _recent_deals(client),
        _deliveries_per_hour(store, now),
        _waiting_exceptions(store),
        ReconciliationRecords(store).recent_runs(VARIANCE_RUNS),
    )
    variance = [
        VariancePoint(
            run_id=run.id,
            finished_at=run.finished_at,
            metric=totals.metric,
            currency=totals.currency,
            variance=totals.variance,
        )
        for run in reversed(runs)
        if run.status == RunStatus.COMPLETED and run.finished_at is not None
        for totals in run.metrics
    ]
    return ConsoleSummary(
        generated_at=now,
        deals_by_status=deals,
        recent_deals=recent,
        deliveries_per_hour=deliveries,
        exception_backlog=_backlog(waiting, now),
        reconciliation_variance=variance,
        temporal_workflows_url=settings.workflow_ui_link(""),
        age_bands=[label for label, _ in AGE_BANDS],
        explanations=all_explanations(),
    )


async def _deals_by_status(client: Client) -> dict[DealStatus, int] | None:
    # Visibility cannot group by a custom attribute, so one count per state.
    try:
        counts = await asyncio.gather(
            *(
                client.count_workflows(f"{_DEALS} AND {SYNC_STATUS.name}='{status.value}'")
                for status in DealStatus
            )
        )
    except RPCError:
        return None
    return {status: answer.count for status, answer in zip(DealStatus, counts, strict=True)}


async def _recent_deals(client: Client) -> list[RecentDeal]:
    deals: list[RecentDeal] = []
    try:
        async for execution in client.list_workflows(_DEALS, limit=RECENT_DEALS):
            attributes = execution.typed_search_attributes
            opportunity = attributes.get(CRM_OPPORTUNITY_ID) or execution.id.rsplit(":", 1)[-1]
            deals.append(
                RecentDeal(
                    crm_opportunity_id=opportunity,
                    status=attributes.get(SYNC_STATUS),
                    started_at=execution.start_time,
                )
            )
    except RPCError:
        return []
    return deals


async def _deliveries_per_hour(store: Store, now: datetime) -> list[HourOfDeliveries]:
    current = now.replace(minute=0, second=0, microsecond=0)
    hours = [current - timedelta(hours=back) for back in range(DELIVERY_HOURS - 1, -1, -1)]
    counts: dict[datetime, dict[DeliveryStatus, int]] = {hour: {} for hour in hours}
    for hour, status, count in await store.delivery_counts_by_hour(hours[0]):
        if hour in counts:
            counts[hour][DeliveryStatus(status)] = count
    return [HourOfDeliveries(hour=hour, by_status=counts[hour]) for hour in hours]


async def _waiting_exceptions(store: Store) -> list[ExceptionRow]:
    open_rows, retried = await asyncio.gather(
        store.list_exceptions(status=ExceptionStatus.OPEN),
        store.list_exceptions(status=ExceptionStatus.RETRY_REQUESTED),
    )
    return [*open_rows, *retried]


def _age_band(age: timedelta) -> str:
    for label, bound in AGE_BANDS:
        if bound is None or age < bound:
            return label
    raise AssertionError("the last band has no bound")


def _backlog(rows: list[ExceptionRow], now: datetime) -> list[BacklogRow]:
    grouped: dict[tuple[str, str], list[ExceptionRow]] = defaultdict(list)
    for row in rows:
        grouped[(process_of(row.workflow_id), row.reason)].append(row)
    backlog = []
    for (process, reason), members in grouped.items():
        by_age: dict[str, int] = defaultdict(int)
        for row in members:
            by_age[_age_band(now - row.opened_at)] += 1
        backlog.append(
            BacklogRow(
                process=process,
                reason=reason,
                by_age=dict(by_age),
                oldest_opened_at=min(row.opened_at for row in members),
            )
        )
    return sorted(backlog, key=lambda row: (-sum(row.by_age.values()), row.reason))
