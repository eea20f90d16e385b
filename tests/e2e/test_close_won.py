"""Closed-won to ERP order through the real stack: dev server, API, worker, sandboxes."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from typing import Any

import pytest

from tests.deals import add_crm_product
from tests.e2e.conftest import Stack
from workflows.feed.contract import feed_workflow_id

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("clean_faults")]


async def _assert_exactly_one_order(stack: Stack, opportunity_id: str) -> dict[str, Any]:
    deal = await stack.wait_for_status(opportunity_id, "order_accepted")
    orders = await stack.erp_orders_for(opportunity_id)
    assert len(orders) == 1, orders
    assert deal["erp_order_id"] == orders[0].id
    accepted = [e for e in deal["events"] if e["event_type"] == "order.accepted"]
    assert len(accepted) == 1
    opportunity = await stack.crm.get("Opportunity", opportunity_id)
    assert opportunity["Syncline_Order_Number__c"] == orders[0].number
    return deal


async def test_a_deal_closed_won_in_the_crm_becomes_one_erp_order(stack: Stack) -> None:
    opportunity_id = await stack.open_deal(["SL-PLATFORM-ANNUAL", "SL-SEAT-PRO"])
    await stack.close_won(opportunity_id)  # the sandbox CRM calls the webhook, like a Flow
    deal = await _assert_exactly_one_order(stack, opportunity_id)
    accepted = next(e for e in deal["events"] if e["event_type"] == "order.accepted")
    assert accepted["payload"]["total"] == "5002.00"  # 2 x 1250.50, twice: exact to the cent
    # One fact, recorded by whichever writer reaches the ledger first: the deal, under
    # its correlation id, or the ERP change feed, which records every order it reads
    # (Tryton's placement confirms the sale in several calls, so the feed often reads
    # it before the deal's activity returns). Either way, once and with one payload.
    feed = feed_workflow_id(stack.env.get("SYNCLINE_ERP_KIND", "netsuite"))
    assert accepted["correlation_id"] in (deal["correlation_id"], feed)
    assert [e["event_type"] for e in deal["events"]].count("order.accepted") == 1
    assert deal["temporal_ui_url"].endswith("/history")


async def test_the_same_webhook_delivered_three_times_makes_one_order(stack: Stack) -> None:
    opportunity_id = await stack.open_deal()
    await stack.crm.update("Opportunity", opportunity_id, {"StageName": "Closed Won"})
    body = stack.callout(opportunity_id)
    # A sender's redelivery is signed anew (the same bytes again are a replay, refused).
    now = int(time.time())
    answers = await asyncio.gather(
        *(stack.post_webhook(body, stack.sign(body, timestamp=now - n)) for n in range(3))
    )
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert {a.json()["workflow_id"] for a in answers} == {f"close-won:salesforce:{opportunity_id}"}
    await _assert_exactly_one_order(stack, opportunity_id)
    # and later, once the run is over, another replay still finds the one order
    await stack.post_webhook(body)
    await asyncio.sleep(1.0)
    await _assert_exactly_one_order(stack, opportunity_id)


async def test_erp_failing_twice_with_500_then_succeeding_makes_one_order(stack: Stack) -> None:
    await stack.erp_faults({"mode": "error", "status": 500, "times": 2})
    opportunity_id = await stack.open_deal()
    await stack.close_won(opportunity_id)
    await _assert_exactly_one_order(stack, opportunity_id)
    assert (await stack.erp_admin("GET", "/admin/faults"))[0]["times"] == 0


async def test_a_response_lost_after_the_erp_committed_makes_one_order(stack: Stack) -> None:
    await stack.erp_faults({"mode": "commit_then_drop", "times": 1})
    opportunity_id = await stack.open_deal()
    await stack.close_won(opportunity_id)
    await _assert_exactly_one_order(stack, opportunity_id)
    assert (await stack.erp_admin("GET", "/admin/faults"))[0]["times"] == 0


async def test_unknown_sku_parks_the_deal_until_the_catalog_is_fixed_and_retried(
    stack: Stack,
) -> None:
    sku = "SL-E2E-NEW-ADDON"
    await add_crm_product(stack.crm, stack.entries, sku, "99.00")
    opportunity_id = await stack.open_deal([sku])
    await stack.close_won(opportunity_id)

    parked = await stack.wait_for_status(opportunity_id, "needs_attention")
    assert sku in parked["detail"]
    [exception] = [e for e in parked["exceptions"] if e["status"] == "open"]
    assert exception["reason"] == "unknown_sku" and exception["step"] == "place_order"
    assert await stack.erp_orders_for(opportunity_id) == []
    listed = (await stack.api.get("/api/exceptions", params={"status": "open"})).json()
    assert exception["id"] in {row["id"] for row in listed}

    # finance adds the item in the ERP (the catalog's owner), then an operator retries
    await stack.erp.add_item(sku, "Brand-new add-on", Decimal("99.00"))
    retried = await stack.api.post(f"/api/exceptions/{exception['id']}/retry")
    assert retried.status_code == 202, retried.text
    deal = await _assert_exactly_one_order(stack, opportunity_id)
    assert deal["retries"] == 1
    assert deal["exceptions"][0]["status"] == "resolved"


async def test_a_bad_signature_is_refused_and_stored_as_rejected(stack: Stack) -> None:
    body = stack.callout("006000000000000AAA")
    headers = stack.sign(body)
    headers["X-Syncline-Signature"] = "sha256=" + "0" * 64
    answer = await stack.post_webhook(body, headers)
    assert answer.status_code == 401
    stored = (await stack.api.get(f"/api/deliveries/{answer.json()['delivery_id']}")).json()
    assert stored["status"] == "rejected" and stored["signature_valid"] is False
    assert stored["raw_body"] == body.decode()


async def test_operator_routes_need_the_token(stack: Stack) -> None:
    for path in (
        "/api/exceptions",
        "/api/deals/006000000000000AAA",
        "/api/reports/bookings?from=2026-01-01&to=2026-12-31",
    ):
        answer = await stack.api.get(path, headers={"Authorization": "Bearer wrong"})
        assert answer.status_code == 401, path


async def test_bookings_report_equals_erp_confirmed_orders(stack: Stack) -> None:
    opportunity_id = await stack.open_deal(["SL-ONBOARDING"])
    await stack.close_won(opportunity_id)
    await _assert_exactly_one_order(stack, opportunity_id)
    report = (
        await stack.api.get(
            "/api/reports/bookings", params={"from": "2000-01-01", "to": "2100-01-01"}
        )
    ).json()
    orders = await stack.erp.all_orders()
    erp_total = sum(order.total for order in orders)
    [usd] = report["totals"]
    assert Decimal(usd["amount"]) == erp_total
    # The count is of ledger events: a cancelled order's acceptance and its cancellation
    # both moved the amount, so on a shared stack it is at least one per live order.
    assert usd["count"] >= len(orders)
