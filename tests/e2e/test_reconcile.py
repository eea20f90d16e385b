"""Reconciliation on the running stack: the nightly Schedule, `syncline reconcile`, the
API and CSV, and a worker killed in the middle of a pass."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time
from datetime import date, timedelta
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, ScheduleOverlapPolicy, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter

from models.deal import BILLING_FOLLOW
from models.erp import SalesOrder
from models.types import utc_now
from reconciliation.following_deals import ask_following_deals
from reconciliation.schedule import SCHEDULE_ID
from tests.deals import erp_order_outside_syncline
from tests.e2e.conftest import RECONCILE_SLA_SECONDS, Stack
from tests.e2e.test_cli import _syncline
from tests.workflows.histories import signals_taken
from workflows.deal import contract as deal

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_faults")]

# Orders dated far ahead, so `--since` picks out this test's records from everything
# the session's other tests left in the shared stack.
FUTURE = date(2098, 1, 1)


async def _temporal(stack: Stack) -> Client:
    return await Client.connect(stack.dev.temporal_address, data_converter=pydantic_data_converter)


async def _orphan(stack: Stack, tran_date: date) -> SalesOrder:
    """An ERP order for an opportunity that was never won."""
    opportunity_id = await stack.open_deal(name="Never won")
    return await erp_order_outside_syncline(stack.erp.erp, opportunity_id, tran_date)


async def _report(stack: Stack, run_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = await stack.api.get(f"/api/reconciliations/{run_id}")
        if answer.status_code == 200 and answer.json()["status"] != "running":
            report: dict[str, Any] = answer.json()
            return report
        await asyncio.sleep(0.3)
    raise AssertionError(f"{run_id} did not finish")


async def test_the_nightly_schedule_exists_and_a_triggered_run_completes(stack: Stack) -> None:
    client = await _temporal(stack)
    handle = client.get_schedule_handle(SCHEDULE_ID)
    description = await handle.describe()
    spec = description.schedule.spec
    # The server keeps a cron expression as the calendar it means: 02:00 every day.
    (calendar,) = spec.calendars
    assert [(r.start, r.end) for r in calendar.hour] == [(2, 2)]
    assert [(r.start, r.end) for r in calendar.minute] == [(0, 0)]
    assert spec.time_zone_name == "UTC"
    assert description.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
    assert description.schedule.policy.catchup_window == timedelta(hours=6)

    await handle.trigger()
    deadline = time.monotonic() + 60
    run_id = None
    while run_id is None and time.monotonic() < deadline:
        runs = (await stack.api.get("/api/reconciliations")).json()
        run_id = next((r["id"] for r in runs if r["trigger"] == "schedule"), None)
        await asyncio.sleep(0.3)
    assert run_id is not None and run_id.startswith("reconcile-nightly")
    report = await _report(stack, run_id, timeout=180)
    assert report["status"] == "completed"
    domains = {d["domain"] for d in report["domains"]}
    assert {"orders", "customers", "invoices", "payments"} <= domains


async def test_syncline_reconcile_reports_what_is_left_and_exits_by_it(stack: Stack) -> None:
    since = FUTURE.isoformat()
    orphan = await _orphan(stack, FUTURE)
    csv_path = stack.dev.workdir / "findings.csv"

    # Seconds old, the order may still be on its way through normal sync: in flight.
    code, output = await _syncline(stack, "reconcile", "--since", since, "--json")
    assert code == 0, output
    report = json.loads(output[output.index("{") :])
    assert {d["domain"]: d["by_class"] for d in report["domains"]}["orders"] == {"in_flight": 1}
    await asyncio.sleep(RECONCILE_SLA_SECONDS)

    code, output = await _syncline(
        stack, "reconcile", "--since", since, "--domain", "orders", "--json", "--csv", str(csv_path)
    )
    assert code == 1, output  # an orphan order waits for a person
    report = json.loads(output[output.index("{") :])
    (orders,) = report["domains"]
    assert orders["by_class"] == {"orphan_erp_order": 1} and orders["open"] == 1
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert [(r["key"], r["class"], r["erp_id"]) for r in rows] == [
        (orphan.external_id, "orphan_erp_order", orphan.id)
    ]
    exceptions = (await stack.api.get("/api/exceptions?process=reconciliation")).json()
    assert orphan.external_id in {e["subject_id"] for e in exceptions}

    if stack.erp.kind == "tryton":
        return  # a confirmed Tryton sale is processing at once: it cannot be cancelled
    # Finance cancels the order; the exception's retry re-checks that one record.
    await stack.erp.erp.cancel_sales_order(orphan.id)
    (exception,) = [e for e in exceptions if e["subject_id"] == orphan.external_id]
    retried = await stack.api.post(f"/api/exceptions/{exception['id']}/retry")
    assert retried.status_code == 202, retried.text
    await _report(stack, retried.json()["workflow_id"])
    resolved = (await stack.api.get("/api/exceptions?process=reconciliation")).json()
    assert {e["id"]: e["status"] for e in resolved}[exception["id"]] == "resolved"

    code, output = await _syncline(stack, "reconcile", "--since", since, "--domain", "orders")
    assert code == 0, output
    assert "nothing unexplained" in output


async def test_a_worker_killed_mid_pass_resumes_from_its_checkpoint(stack: Stack) -> None:
    tran_date = date(2099, 6, 1)
    orphans = [await _orphan(stack, tran_date) for _ in range(40)]
    await asyncio.sleep(RECONCILE_SLA_SECONDS)
    await stack.erp.set_latency(300)
    try:
        started = await stack.api.post(
            "/api/reconciliations",
            json={
                "since": tran_date.isoformat(),
                "domains": ["orders"],
                "repair": False,
                "page_size": 10,
            },
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        client = await _temporal(stack)
        handle = client.get_workflow_handle(run_id)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = (await handle.describe()).raw_description.pending_activities
            if pending and pending[0].heartbeat_details.payloads:
                break  # a checkpoint is on record: at least one page is compared
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the pass never heartbeated a checkpoint")
        stack.dev.restart("worker")  # SIGKILL in the middle of the pass
    finally:
        await stack.erp.set_latency(0)

    report = await _report(stack, run_id, timeout=180)
    (orders,) = report["domains"]
    # Every record compared once: the resumed attempt did not start over or double.
    assert orders["by_class"] == {"orphan_erp_order": len(orphans)}
    assert orders["compared"] == len(orphans)
    history = [e async for e in handle.fetch_history_events()]
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history
        if e.HasField("activity_task_started_event_attributes")
    ]
    assert max(attempts) >= 2  # the pass really was retried after the kill


async def test_deals_following_their_billing_are_asked_and_judge_by_their_own_clock(
    stack: Stack,
) -> None:
    """The sweep that replaces a 400-day timer in every deal, against a real server's
    visibility: a deal started today is not asked; seen from ``BILLING_FOLLOW`` ahead it
    is, and it goes on following, since its own clock says it began today."""
    opportunity_id = await stack.open_deal(["SL-SEAT-PRO"], name="Following")
    await stack.close_won(opportunity_id)
    await stack.wait_for_status(opportunity_id, "order_accepted")
    client = await _temporal(stack)
    keys = {opportunity_id}
    assert await ask_following_deals(client, utc_now(), "e2e", keys) == 0

    ahead = utc_now() + BILLING_FOLLOW + timedelta(days=1)
    deadline = time.monotonic() + 30
    while not await ask_following_deals(client, ahead, "e2e", keys):
        # Visibility shows the deal's status a moment after the run moved it.
        assert time.monotonic() < deadline, "the following deal was never asked"
        await asyncio.sleep(0.3)
    handle = deal.deal_handle(client, opportunity_id)
    deadline = time.monotonic() + 10
    while not await signals_taken(handle):
        assert time.monotonic() < deadline, "the deal never took the question"
        await asyncio.sleep(0.1)
    signals = [
        event.workflow_execution_signaled_event_attributes.signal_name
        for event in (await handle.fetch_history()).events
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
    ]
    assert deal.FOLLOW_CHECK.name in signals
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    state = await deal.STATE.ask(handle)
    assert state.step == "follow_billing" and state.following_since is not None
