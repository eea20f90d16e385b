"""The metrics a scripted run must move, read the way Prometheus reads them: from the
API's /metrics (with the operator token) and the worker's own endpoint."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.deals import add_crm_product
from tests.e2e.conftest import RECONCILE_SLA_SECONDS, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_faults")]

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "syncline-dashboard.json"

Labels = dict[str, str]


async def _scrape(stack: Stack, where: str) -> dict[str, list[tuple[Labels, float]]]:
    if where == "worker":
        async with httpx.AsyncClient() as http:
            text = (await http.get(stack.dev.worker_metrics_url)).text
    else:
        answer = await stack.api.get("/metrics")
        answer.raise_for_status()
        text = answer.text
    found: dict[str, list[tuple[Labels, float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return found


def _total(
    scraped: dict[str, list[tuple[Labels, float]]],
    name: str,
    where: Callable[[Labels], bool] = lambda _: True,
) -> float:
    return sum(value for labels, value in scraped.get(name, []) if where(labels))


async def _eventually(
    stack: Stack,
    where: str,
    name: str,
    check: Callable[[float], bool],
    labels: Callable[[Labels], bool] = lambda _: True,
    timeout: float = 20,
) -> float:
    deadline = time.monotonic() + timeout
    value = 0.0
    while time.monotonic() < deadline:
        value = _total(await _scrape(stack, where), name, labels)
        if check(value):
            return value
        await asyncio.sleep(0.5)
    names = sorted(await _scrape(stack, where))
    raise AssertionError(f"{name} stayed {value}; {where} exports {names}")


async def test_three_deliveries_of_one_deal_count_two_duplicates(stack: Stack) -> None:
    name = "syncline_webhook_duplicates_suppressed_total"
    before = _total(await _scrape(stack, "worker"), name)
    opportunity_id = await stack.open_deal(name="Delivered thrice")
    await stack.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    await stack.wait_for_status(opportunity_id, "order_accepted")
    now, body = int(time.time()), stack.callout(opportunity_id)
    for n in (1, 2):  # two more, as a sender redelivers: signed anew
        answer = await stack.post_webhook(body, stack.sign(body, timestamp=now - n))
        assert answer.status_code == 202
    await _eventually(stack, "worker", name, lambda v: v == before + 2)
    # Answered 202 from the inbox, then signalled by the API's relay.
    taken = await _eventually(
        stack,
        "api",
        "syncline_webhook_deliveries_total",
        lambda v: v >= 2,
        lambda labels: labels.get("syncline_outcome") == "pending",
    )
    assert taken >= 2
    relayed = await _eventually(
        stack,
        "api",
        "syncline_inbox_relay_attempts_total",
        lambda v: v >= 2,
        lambda labels: labels.get("syncline_outcome") == "accepted",
    )
    assert relayed >= 2
    lag = "syncline_inbox_relay_lag_seconds_count"
    assert await _eventually(stack, "api", lag, lambda v: v >= 2) >= 2


async def test_erp_calls_are_timed_per_operation_with_failures_and_retries(stack: Stack) -> None:
    await stack.erp_faults({"mode": "error", "status": 500, "times": 2})
    opportunity_id = await stack.open_deal(name="Retried through 500s")
    await stack.close_won(opportunity_id)
    await stack.wait_for_status(opportunity_id, "order_accepted")
    scraped = await _scrape(stack, "worker")
    calls = "http_client_request_duration_seconds_count"
    erp = stack.erp.kind
    assert _total(scraped, calls, lambda labels: labels.get("syncline_system") == erp) > 0
    assert (
        _total(scraped, calls, lambda labels: labels.get("http_response_status_code") == "500") >= 2
    )
    operations = {labels["syncline_operation"] for labels, _ in scraped[calls]}
    assert not any(opportunity_id in operation for operation in operations)  # no record ids
    assert _total(scraped, "syncline_activity_retries_total") >= 1
    place_order = _total(
        scraped,
        "syncline_activity_duration_seconds_count",
        lambda labels: labels.get("syncline_activity") == "place_order",
    )
    assert place_order >= 3  # two failed attempts and the one that placed it
    close_to_order = _total(
        scraped,
        "syncline_event_lag_seconds_count",
        lambda labels: labels.get("syncline_lag") == "crm_close_to_order",
    )
    assert close_to_order >= 1
    # The Temporal SDK's own worker metrics come through the same endpoint.
    assert any(name.startswith("temporal_") for name in scraped), sorted(scraped)


async def test_a_parked_deal_shows_in_the_exception_backlog(stack: Stack) -> None:
    sku = "SL-METRICS-MISSING"
    await add_crm_product(stack.crm, stack.entries, sku, "10.00")
    opportunity_id = await stack.open_deal([sku], name="Parked for metrics")
    await stack.close_won(opportunity_id)
    await stack.wait_for_status(opportunity_id, "needs_attention")
    await _eventually(
        stack,
        "api",
        "syncline_exceptions_open",
        lambda v: v >= 1,
        lambda labels: (
            labels.get("syncline_reason") == "unknown_sku"
            and labels.get("syncline_process") == "deal"
        ),
    )
    scraped = await _scrape(stack, "api")
    freshness = {
        labels["syncline_domain"]
        for labels, _ in scraped.get("syncline_data_freshness_seconds", [])
    }
    assert {"deals", "orders"} <= freshness
    await stack.erp.add_item(sku, "Now in the catalog", Decimal("10.00"))


async def test_the_api_metrics_need_the_operator_token(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.dev.api_url) as anonymous:
        assert (await anonymous.get("/metrics")).status_code == 401


async def test_every_dashboard_query_names_a_metric_the_processes_export(stack: Stack) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    wanted = set()
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            # Label names sit in ``by (…)`` and in ``{…}``: what is left names metrics.
            expr = re.sub(r"by \([^)]*\)|\{[^}]*\}", "", target["expr"])
            wanted |= set(re.findall(r"\b(?:syncline|temporal|http_client)_[a-z0-9_]+", expr))
    # A run that touches every panel: an ERP failure retried, a duplicate delivery, a
    # parked deal, a completed reconciliation; then a wait past the SLA and a refresh.
    sku = "SL-DASHBOARD-MISSING"
    await add_crm_product(stack.crm, stack.entries, sku, "10.00")
    parked = await stack.open_deal([sku], name="Parked for the dashboard")
    await stack.close_won(parked)
    await stack.erp_faults({"mode": "error", "status": 500, "times": 1})
    opportunity_id = await stack.open_deal(name="For the dashboard")
    await stack.close_won(opportunity_id)
    await stack.wait_for_status(opportunity_id, "order_accepted")
    body = stack.callout(opportunity_id)
    await stack.post_webhook(body, stack.sign(body, timestamp=int(time.time()) - 1))
    started = (await stack.api.post("/api/reconciliations", json={"domains": ["orders"]})).json()
    for _ in range(120):
        run = (await stack.api.get(f"/api/reconciliations/{started['id']}")).json()
        if run["status"] != "running":
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(RECONCILE_SLA_SECONDS + 2)
    exported = set(await _scrape(stack, "worker")) | set(await _scrape(stack, "api"))
    assert wanted - exported == set(), sorted(exported)
