"""Timeouts and retry policies every Syncline workflow gives its activities.

Retry forever on what may pass (outages, rate limits), with a capped backoff: a run
waits out a CRM or ERP outage instead of failing. What cannot pass is non-retryable
and parks the run for a person.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.errors import NON_RETRYABLE_TYPES

CALL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=1),
    non_retryable_error_types=list(NON_RETRYABLE_TYPES),
)
CALL_TIMEOUT = timedelta(minutes=2)
# Activities beat while they wait on the CRM or ERP: a killed worker is noticed in
# seconds instead of after the whole call timeout.
HEARTBEAT_TIMEOUT = timedelta(seconds=10)
# Local activities on Syncline's own store (ledger, exceptions).
LOCAL_TIMEOUT = timedelta(seconds=30)
# One try of a CRM call run as a local activity. Without a heartbeat, a hung call is
# noticed only by this timeout: long enough for a slow CRM (the connector's HTTP
# timeout is 30 s a read), far shorter than ``CALL_TIMEOUT``.
CRM_LOCAL_TIMEOUT = timedelta(seconds=60)
