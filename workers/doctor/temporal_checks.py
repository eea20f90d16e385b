"""Temporal: the frontend, the namespace, the search attributes and the nightly Schedule."""

from __future__ import annotations

from collections.abc import Awaitable

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeNamespaceResponse
from temporalio.client import ScheduleActionStartWorkflow
from temporalio.service import RPCError, RPCStatusCode

from reconciliation.contract import WORKFLOW_TYPE as RECONCILE_WORKFLOW
from reconciliation.schedule import SCHEDULE_ID
from workers.doctor.context import DoctorContext
from workers.doctor.cron import cron_matches
from workers.doctor.model import Outcome, failed, passed
from workflows.search_attributes import ALL as SEARCH_ATTRIBUTES

_UNREACHABLE = "Temporal is unreachable (see temporal.connection)"
_NO_NAMESPACE = "the namespace is missing (see temporal.namespace)"


def _type_name(value: int) -> str:
    """``INDEXED_VALUE_TYPE_KEYWORD`` as the CLI writes it: ``Keyword``."""
    name = IndexedValueType.Name(IndexedValueType.ValueType(value))
    name = name.removeprefix("INDEXED_VALUE_TYPE_")
    return "".join(word.capitalize() for word in name.split("_"))


async def check_connection(ctx: DoctorContext) -> Outcome:
    await ctx.temporal()
    return passed(f"frontend reachable at {ctx.settings.temporal_address}")


async def _describe_namespace(ctx: DoctorContext) -> DescribeNamespaceResponse:
    client = await ctx.requires(ctx.temporal(), _UNREACHABLE)
    return await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=ctx.settings.temporal_namespace)
    )


def _namespace(ctx: DoctorContext) -> Awaitable[DescribeNamespaceResponse]:
    return ctx.step("temporal.namespace", lambda: _describe_namespace(ctx))


async def check_namespace(ctx: DoctorContext) -> Outcome:
    namespace = ctx.settings.temporal_namespace
    try:
        described = await _namespace(ctx)
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return failed(
            f"namespace {namespace!r} does not exist on {ctx.settings.temporal_address}",
            f"create it (temporal operator namespace create --namespace {namespace}) "
            "or set TEMPORAL_NAMESPACE to the one Syncline should use",
        )
    retention = described.config.workflow_execution_retention_ttl.ToTimedelta()
    return passed(f"namespace {namespace!r} exists (retention {retention.days} days)")


async def check_search_attributes(ctx: DoctorContext) -> Outcome:
    namespace = ctx.settings.temporal_namespace
    await ctx.requires(
        ctx.step("temporal.namespace", lambda: _describe_namespace(ctx)), _NO_NAMESPACE
    )
    client = await ctx.temporal()
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    registered = {name: int(kind) for name, kind in listed.custom_attributes.items()}
    missing = [key for key in SEARCH_ATTRIBUTES if key.name not in registered]
    wrong = [
        f"{key.name} is {_type_name(registered[key.name])}, "
        f"needs {_type_name(key.indexed_value_type)}"
        for key in SEARCH_ATTRIBUTES
        if key.name in registered and registered[key.name] != int(key.indexed_value_type)
    ]
    if missing or wrong:
        problems = ([f"missing: {', '.join(k.name for k in missing)}"] if missing else []) + wrong
        create = " ".join(
            f"--name {k.name} --type {_type_name(k.indexed_value_type)}" for k in missing
        )
        fix = (
            f"register them: temporal operator search-attribute create --namespace {namespace} "
            f"{create}"
            if missing
            else "remove each and create it again with the type Syncline needs"
        )
        return failed("; ".join(problems), fix)
    return passed(f"all {len(SEARCH_ATTRIBUTES)} registered in {namespace!r} with the right type")


async def check_schedule(ctx: DoctorContext) -> Outcome:
    settings = ctx.settings
    if not settings.reconcile_schedule:
        return passed(
            "not kept by Syncline (SYNCLINE_RECONCILE_SCHEDULE is off): nightly "
            "reconciliation runs only as you start it"
        )
    await ctx.requires(
        ctx.step("temporal.namespace", lambda: _describe_namespace(ctx)), _NO_NAMESPACE
    )
    client = await ctx.temporal()
    try:
        described = await client.get_schedule_handle(SCHEDULE_ID).describe()
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        return failed(
            f"no Schedule {SCHEDULE_ID!r} in namespace {settings.temporal_namespace!r}",
            "start `syncline worker`: it creates the Schedule at start-up",
        )
    schedule = described.schedule
    problems: list[str] = []
    action = schedule.action
    if not isinstance(action, ScheduleActionStartWorkflow) or action.workflow != RECONCILE_WORKFLOW:
        problems.append(f"it does not start {RECONCILE_WORKFLOW}")
    elif action.task_queue != settings.task_queue:
        problems.append(
            f"it starts runs on task queue {action.task_queue!r}, the workers poll "
            f"{settings.task_queue!r}"
        )
    if (schedule.spec.time_zone_name or "UTC") != settings.reconcile_timezone:
        problems.append(
            f"time zone {schedule.spec.time_zone_name!r}, configured "
            f"{settings.reconcile_timezone!r}"
        )
    matches = cron_matches(schedule.spec, settings.reconcile_cron)
    if matches is False:
        problems.append(f"its calendar is not the configured cron {settings.reconcile_cron!r}")
    if schedule.state.paused:
        note = f" ({schedule.state.note})" if schedule.state.note else ""
        problems.append(f"paused{note}")
    if problems:
        return failed(
            "; ".join(problems),
            "restart `syncline worker` with these settings (it updates the Schedule), and "
            f"unpause it if no one meant to: temporal schedule toggle --schedule-id "
            f"{SCHEDULE_ID} --unpause",
        )
    upcoming = described.info.next_action_times
    when = f", next run {upcoming[0]:%Y-%m-%d %H:%M} UTC" if upcoming else ""
    compared = "" if matches else " (cron form not compared)"
    return passed(f"{SCHEDULE_ID} runs {settings.reconcile_cron!r}{compared}{when}")
