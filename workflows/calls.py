"""How a workflow calls its activities: one place for timeouts, retries and queues.

A call to the CRM or the ERP is a remote activity with a heartbeat, retried by the
engine as long as the failure may pass (``policies.CALL_RETRY``); ERP calls go to the
ERP's own task queue, whose slots the worker bounds by the ERP's concurrency limit.
A write to Syncline's own store is a local activity: cheap, idempotent, no queue.

A short CRM call whose repetition is harmless (a read, or a write of values the
workflow already decided) may also run as a local activity (``crm_local``): it then
costs one marker in the history instead of an activity's three events and a
workflow task of its own. It keeps the remote call's retry policy (the SDK retries it
in the worker, and past a minute's backoff with a durable timer), but it has no
heartbeat, and a workflow task that fails after it ran runs it again: so only calls
for which "again" changes nothing belong there.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.policies import (
        CALL_RETRY,
        CALL_TIMEOUT,
        CRM_LOCAL_TIMEOUT,
        HEARTBEAT_TIMEOUT,
        LOCAL_TIMEOUT,
    )
    from workflows.task_queues import erp_task_queue

InT = TypeVar("InT")
OutT = TypeVar("OutT")


def crm(activity: Callable[[Any, InT], Awaitable[OutT]], request: InT) -> Awaitable[OutT]:
    """A CRM call (or any remote activity on the main task queue)."""
    return workflow.execute_activity_method(
        activity,
        request,
        start_to_close_timeout=CALL_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=CALL_RETRY,
    )


def crm_local(activity: Callable[[Any, InT], Awaitable[OutT]], request: InT) -> Awaitable[OutT]:
    """A short CRM call that is safe to repeat, as a local activity (see above)."""
    return workflow.execute_local_activity_method(
        activity,
        request,
        start_to_close_timeout=CRM_LOCAL_TIMEOUT,
        retry_policy=CALL_RETRY,
    )


def erp(activity: Callable[[Any, InT], Awaitable[OutT]], request: InT) -> Awaitable[OutT]:
    """An ERP call, on the ERP's task queue."""
    return workflow.execute_activity_method(
        activity,
        request,
        task_queue=erp_task_queue(workflow.info().task_queue),
        start_to_close_timeout=CALL_TIMEOUT,
        heartbeat_timeout=HEARTBEAT_TIMEOUT,
        retry_policy=CALL_RETRY,
    )


def store(activity: Callable[[Any, InT], Awaitable[OutT]], request: InT) -> Awaitable[OutT]:
    """A read or write of Syncline's own store (ledger, exceptions)."""
    return workflow.execute_local_activity_method(
        activity, request, start_to_close_timeout=LOCAL_TIMEOUT
    )
