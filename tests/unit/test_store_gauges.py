"""The store's gauges from a seeded store, on both backends: backlog by reason and age,
the last completed reconciliation's variance, freshness per domain, and completeness."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from models.events import BusinessEvent, EventType, SourceSystem, event_id_for
from models.reconciliation import (
    Metric,
    MetricTotals,
    ReconcileTrigger,
    ReconciliationReport,
    RunStatus,
)
from models.tables import ExceptionRow
from models.types import utc_now
from reconciliation import contract as reconcile_contract
from reconciliation.records import ReconciliationRecords
from store import Store
from workers.store_gauges import StoreGauges

SLA = timedelta(minutes=15)


def _event(kind: EventType, subject: str, age: timedelta) -> BusinessEvent:
    at = utc_now() - age
    return BusinessEvent(
        event_id=event_id_for(kind, SourceSystem.SYNCLINE, f"{subject}:{kind}"),
        event_type=kind,
        occurred_at=at,
        recorded_at=at,
        source_system=SourceSystem.SYNCLINE,
        source_id=subject,
        subject_id=subject,
        correlation_id="c",
        payload={},
    )


def _points(reader: InMemoryMetricReader) -> dict[str, list[tuple[dict[str, Any], float]]]:
    found: dict[str, list[tuple[dict[str, Any], float]]] = {}
    data = reader.get_metrics_data()
    assert data is not None
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    value = float(point.value)  # type: ignore[union-attr]
                    found.setdefault(metric.name, []).append((dict(point.attributes or {}), value))
    return found


async def test_the_gauges_read_what_the_store_holds(store: Store) -> None:
    # Two deals won over the SLA ago: one ordered within it, one never.
    await store.append_event(_event(EventType.OPPORTUNITY_CLOSED_WON, "006A", timedelta(hours=2)))
    await store.append_event(_event(EventType.OPPORTUNITY_CLOSED_WON, "006B", timedelta(hours=2)))
    await store.append_event(
        _event(EventType.ORDER_ACCEPTED, "006A", timedelta(hours=2) - timedelta(minutes=1))
    )
    for n, (reason, age) in enumerate(
        [("unknown_sku", timedelta(minutes=5)), ("unknown_sku", timedelta(days=2))]
    ):
        await store.open_exception(
            ExceptionRow(
                id=f"x{n}",
                workflow_id=f"close-won:salesforce:006X{n}",
                subject_id=f"006X{n}",
                reason=reason,
                step="place_order",
                message="m",
                details={},
                correlation_id="c",
                opened_at=utc_now() - age,
            )
        )
    await ReconciliationRecords(store).save_run(
        ReconciliationReport(
            id=f"{reconcile_contract.ON_DEMAND_PREFIX}{uuid.uuid4().hex}",
            status=RunStatus.COMPLETED,
            trigger=ReconcileTrigger.API,
            started_at=utc_now(),
            finished_at=utc_now(),
            metrics=[
                MetricTotals(
                    metric=Metric.BOOKINGS, currency="USD", erp=Decimal("100"), ledger=Decimal("90")
                )
            ],
        )
    )

    reader = InMemoryMetricReader()
    gauges = StoreGauges(store, SLA, MeterProvider(metric_readers=[reader]).get_meter("test"))
    await gauges.refresh()
    points = _points(reader)

    backlog = {
        (labels["syncline.reason"], labels["syncline.age"]): value
        for labels, value in points["syncline.exceptions.open"]
    }
    assert backlog == {("unknown_sku", "under_1h"): 1, ("unknown_sku", "over_1d"): 1}
    [(_, oldest)] = points["syncline.exceptions.oldest_age"]
    assert oldest >= timedelta(days=2).total_seconds()
    assert points["syncline.reconciliation.variance"] == [
        ({"syncline.metric": "bookings", "currency": "USD"}, 10.0)
    ]
    assert points["syncline.reconciliation.unexplained"] == [({}, 0.0)]
    freshness = {
        labels["syncline.domain"]: age for labels, age in points["syncline.data.freshness"]
    }
    assert set(freshness) == {"deals", "orders"}
    assert 3500 < freshness["orders"] < 7300
    assert points["syncline.sync.completeness"] == [({"syncline.domain": "orders"}, 0.5)]
