"""Gauges read from Syncline's store: what an operator must see before finance does.

- ``syncline.exceptions.open``: runs waiting for a person, by process, reason and age;
- ``syncline.reconciliation.unexplained`` and ``syncline.reconciliation.variance``: the
  last completed reconciliation, per metric and currency (ERP minus ledger);
- ``syncline.data.freshness``: seconds since the newest fact of each domain reached
  the ledger;
- ``syncline.inbox.pending`` and ``syncline.inbox.oldest_age``: webhook deliveries
  answered 202 and not yet signalled by the inbox relay, and how long the oldest waits
  (a Temporal outage shows here first);
- ``syncline.sync.completeness``: the share of deals won in the last 30 days (and older
  than the SLA) whose order was accepted within the SLA.

The API process publishes them (one publisher, so a scrape of several replicas is not
several truths about one database). They are read on a timer, not per scrape, so a
scraper's rate never becomes the database's load.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Meter, Observation

from models.events import EventType
from models.reconciliation import RunStatus
from models.tables import ExceptionStatus
from models.types import utc_now
from reconciliation.records import ReconciliationRecords
from store import Store
from store.inbox import Inbox
from workers.timeline import process_of

log = logging.getLogger(__name__)

DOMAINS: dict[str, tuple[EventType, ...]] = {
    "deals": (EventType.OPPORTUNITY_CLOSED_WON,),
    "orders": (
        EventType.ORDER_ACCEPTED,
        EventType.ORDER_AMENDED,
        EventType.ORDER_CANCELLED,
        EventType.ORDER_REJECTED,
    ),
    "billing": (EventType.INVOICE_POSTED, EventType.PAYMENT_APPLIED),
    "customers": (EventType.CUSTOMER_UPSERTED,),
    "renewals": (EventType.RENEWAL_OPENED,),
}
COMPLETENESS_WINDOW = timedelta(days=30)


def age_band(age: timedelta) -> str:
    if age < timedelta(hours=1):
        return "under_1h"
    if age < timedelta(days=1):
        return "1h_to_1d"
    return "over_1d"


class StoreGauges:
    def __init__(self, store: Store, sla: timedelta, meter: Meter | None = None) -> None:
        self._store = store
        self._inbox = Inbox(store)
        self._records = ReconciliationRecords(store)
        self._sla = sla
        self._seen: dict[str, list[Observation]] = {}
        self._newest: dict[str, datetime] = {}
        meter = meter or metrics.get_meter("syncline")
        for name, unit, description in (
            ("syncline.exceptions.open", "{exception}", "Runs waiting for a person"),
            ("syncline.exceptions.oldest_age", "s", "Age of the oldest open exception"),
            ("syncline.reconciliation.unexplained", "{difference}", "Left to a person"),
            ("syncline.reconciliation.variance", "", "ERP minus ledger, per metric"),
            ("syncline.data.freshness", "s", "Since the newest fact of a domain"),
            ("syncline.sync.completeness", "1", "Won deals ordered within the SLA"),
            ("syncline.inbox.pending", "{delivery}", "Deliveries the relay has not signalled"),
            ("syncline.inbox.oldest_age", "s", "Since the oldest pending delivery arrived"),
        ):
            meter.create_observable_gauge(
                name, callbacks=[self._reader(name)], unit=unit, description=description
            )

    def _reader(self, name: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        def read(_: CallbackOptions) -> Iterable[Observation]:
            if name == "syncline.data.freshness":  # an age: as of this scrape
                now = utc_now()
                return [
                    Observation((now - newest).total_seconds(), {"syncline.domain": domain})
                    for domain, newest in self._newest.items()
                ]
            return list(self._seen.get(name, []))

        return read

    async def run(self, every: float) -> None:
        while True:
            try:
                await self.refresh()
            except Exception:  # a database hiccup must not end the API's metrics
                log.exception("could not refresh the store's gauges")
            await asyncio.sleep(every)

    async def refresh(self) -> None:
        now = utc_now()
        seen: dict[str, list[Observation]] = {}
        seen.update(await self._exceptions(now))
        seen.update(await self._reconciliation())
        seen["syncline.sync.completeness"] = await self._completeness(now)
        pending, oldest = await self._inbox.depth()
        seen["syncline.inbox.pending"] = [Observation(pending)]
        seen["syncline.inbox.oldest_age"] = [
            Observation((now - oldest).total_seconds() if oldest else 0.0)
        ]
        self._newest = await self._newest_per_domain()
        self._seen = seen

    async def _exceptions(self, now: datetime) -> dict[str, list[Observation]]:
        rows = await self._store.list_exceptions(status=ExceptionStatus.OPEN)
        counts: Counter[tuple[str, str, str]] = Counter()
        oldest: dict[tuple[str, str], float] = {}
        for row in rows:
            process, age = process_of(row.workflow_id), now - row.opened_at
            counts[(process, row.reason, age_band(age))] += 1
            key = (process, row.reason)
            oldest[key] = max(oldest.get(key, 0.0), age.total_seconds())
        return {
            "syncline.exceptions.open": [
                Observation(n, {"syncline.process": p, "syncline.reason": r, "syncline.age": a})
                for (p, r, a), n in counts.items()
            ],
            "syncline.exceptions.oldest_age": [
                Observation(age, {"syncline.process": p, "syncline.reason": r})
                for (p, r), age in oldest.items()
            ],
        }

    async def _reconciliation(self) -> dict[str, list[Observation]]:
        runs = await self._records.recent_runs(limit=10)
        done = next((r for r in runs if r.status == RunStatus.COMPLETED), None)
        if done is None:
            return {}
        return {
            "syncline.reconciliation.unexplained": [Observation(done.unexplained)],
            "syncline.reconciliation.variance": [
                Observation(
                    float(totals.variance),
                    {"syncline.metric": totals.metric, "currency": totals.currency},
                )
                for totals in done.metrics
            ],
        }

    async def _newest_per_domain(self) -> dict[str, datetime]:
        newest = await self._store.newest_event_times()
        per_domain = {}
        for domain, types in DOMAINS.items():
            times = [newest[t] for t in types if t in newest]
            if times:
                per_domain[domain] = max(times)
        return per_domain

    async def _completeness(self, now: datetime) -> list[Observation]:
        since, settled = now - COMPLETENESS_WINDOW, now - self._sla
        won = await self._store.event_times(EventType.OPPORTUNITY_CLOSED_WON, since, settled)
        if not won:
            return []
        accepted: dict[str, datetime] = {}
        for subject, _, recorded in await self._store.event_times(
            EventType.ORDER_ACCEPTED, since, now
        ):
            if subject and subject not in accepted:
                accepted[subject] = recorded
        on_time = sum(
            1
            for subject, occurred, _ in won
            if subject in accepted and accepted[subject] - occurred <= self._sla
        )
        return [Observation(on_time / len(won), {"syncline.domain": "orders"})]
