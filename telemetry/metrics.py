"""Syncline's own metrics: the instruments every process records into.

They are made on OpenTelemetry's global meter, which is a no-op until a process installs
a provider (``workers/telemetry.py``): code that records costs next to nothing where
metrics are off, and tests that never configure them see no global state.

Names and units follow OpenTelemetry's semantic conventions where one exists
(``http.client.request.duration``); Syncline's own are under ``syncline.``. Labels are
low-cardinality by design: a system, an operation template, a reason, never a record id.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import metrics

_meter = metrics.get_meter("syncline")

# Seconds: from a fast local call to a slow ERP (OpenTelemetry's defaults are for ms).
SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Event lag spans seconds to days (a change the feed found after an outage).
LAG_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 4 * 3600, 24 * 3600)

HTTP_CLIENT_DURATION = _meter.create_histogram(
    "http.client.request.duration",
    unit="s",
    description="CRM and ERP API calls, per system, operation and outcome",
    explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
)
ACTIVITY_DURATION = _meter.create_histogram(
    "syncline.activity.duration",
    unit="s",
    description="Each attempt of a workflow stage (an activity), per type and outcome",
    explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
)
ACTIVITY_RETRIES = _meter.create_counter(
    "syncline.activity.retries",
    unit="{attempt}",
    description="Attempts after an activity's first: the engine retrying a stage",
)
EVENT_LAG = _meter.create_histogram(
    "syncline.event.lag",
    unit="s",
    description="From a fact in its system of record to Syncline acting on it: "
    "crm_close_to_order (CRM close to order.accepted), erp_commit_to_ledger, "
    "crm_commit_to_signal (a CRM change event's commit to its workflows signalled)",
    explicit_bucket_boundaries_advisory=LAG_BUCKETS,
)
WEBHOOK_DELIVERIES = _meter.create_counter(
    "syncline.webhook.deliveries",
    unit="{delivery}",
    description="Webhook deliveries by outcome: pending (stored, answered 202, for the "
    "inbox relay), ignored, rejected, throttled",
)
INBOX_RELAY_ATTEMPTS = _meter.create_counter(
    "syncline.inbox.relay.attempts",
    unit="{attempt}",
    description="The inbox relay's attempts to signal a delivery's workflows, by outcome: "
    "accepted, ignored, failed (Temporal refused it: an exception), unavailable (kept "
    "pending, tried again)",
)
INBOX_RELAY_LAG = _meter.create_histogram(
    "syncline.inbox.relay.lag",
    unit="s",
    description="From a delivery stored (and answered 202) to its workflows signalled",
    explicit_bucket_boundaries_advisory=SECONDS_BUCKETS,
)

CRM_CLOSE_TO_ORDER = "crm_close_to_order"
ERP_COMMIT_TO_LEDGER = "erp_commit_to_ledger"
CRM_COMMIT_TO_SIGNAL = "crm_commit_to_signal"

_VERSION = re.compile(r"^v\d+(\.\d+)?$")


def operation_of(method: str, path: str) -> str:
    """``GET /services/data/v59.0/sobjects/Opportunity/{id}``: the call without the
    values in it, so a label has a handful of values instead of one per record."""
    parts = []
    for part in path.split("/"):
        if _VERSION.match(part) or not (
            any(c.isdigit() for c in part) or "%" in part or ":" in part or len(part) > 40
        ):
            parts.append(part)
        else:
            parts.append("{id}")
    return f"{method} {'/'.join(parts)}"


@contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as elapsed:``; ``elapsed[0]`` holds the seconds afterwards."""
    holder = [0.0]
    started = time.perf_counter()
    try:
        yield holder
    finally:
        holder[0] = time.perf_counter() - started
