"""The operator console in headless Chromium against a real stack: empty, healthy and
exception states, a retry after the fix, a deal's timeline, and nothing without the token.

The tests share one private stack and run in file order: the empty state is only empty
before the others have made deals.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from datetime import date
from decimal import Decimal
from importlib.resources import files

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from tests.console.conftest import SCREENSHOTS
from tests.deals import add_crm_product, erp_order_outside_syncline
from tests.e2e.conftest import RECONCILE_SLA_SECONDS, Stack

pytestmark = pytest.mark.e2e


async def sign_in(page: Page, stack: Stack) -> None:
    await page.goto(f"{stack.dev.api_url}/console")
    await page.get_by_label("Personal key or identity provider token").fill(
        stack.env["SYNCLINE_OPERATOR_KEY"]
    )
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Flow health")).to_be_visible()


def tile(page: Page, title: str) -> Locator:
    return page.get_by_role("listitem").filter(has=page.get_by_role("heading", name=title))


async def refresh(page: Page) -> None:
    """Press Refresh and wait until the page has drawn the answers."""
    async with page.expect_response(lambda response: "/api/console/summary" in response.url):
        await page.get_by_role("button", name="Refresh").click()
    await expect(page.locator("#console")).to_have_attribute("aria-busy", "false")


async def refresh_until(
    page: Page, check: Callable[[], Awaitable[None]], timeout: float = 30.0
) -> None:
    """Refresh until ``check`` passes: the stack moves on its own time."""
    deadline = time.monotonic() + timeout
    while True:
        await refresh(page)
        try:
            await check()
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def screenshot(page: Page, name: str, section: str | None = None) -> None:
    if section is not None:
        heading = page.get_by_role("heading", name=section, exact=True)
        await heading.evaluate("node => node.closest('section').scrollIntoView()")
    await page.screenshot(path=SCREENSHOTS / f"{name}.png")


async def test_without_the_token_no_data_is_served(console_stack: Stack, page: Page) -> None:
    async with httpx.AsyncClient(base_url=console_stack.dev.api_url) as anonymous:
        assert (await anonymous.get("/api/console/summary")).status_code == 401
        wrong = {"Authorization": "Bearer not-the-token"}
        assert (await anonymous.get("/api/console/summary", headers=wrong)).status_code == 401
        # The page itself is the packaged file, byte for byte: it carries no data.
        served = await anonymous.get("/console")
        packaged = (files("workers.console") / "static" / "index.html").read_bytes()
        assert served.status_code == 200 and served.content == packaged
        assert "script-src 'self'" in served.headers["content-security-policy"]

    await page.goto(f"{console_stack.dev.api_url}/console")
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_role("heading", name="Flow health")).to_be_hidden()
    await page.get_by_label("Personal key or identity provider token").fill("not-the-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("not accepted")
    await expect(page.get_by_role("heading", name="Exceptions queue")).to_be_hidden()
    assert await page.evaluate("sessionStorage.length") == 0


async def test_empty_state(console_stack: Stack, page: Page) -> None:
    await sign_in(page, console_stack)
    await expect(tile(page, "Workers")).to_contain_text("Polling")
    await expect(tile(page, "Deals")).to_contain_text("0 deals")
    await expect(tile(page, "Open exceptions")).to_contain_text("nothing is waiting")
    await expect(tile(page, "Last reconciliation")).to_contain_text("Not run yet")
    # This stack reads no change stream (tests/e2e/test_crm_stream.py has one).
    await expect(tile(page, "CRM change stream")).to_contain_text("webhooks only")
    await expect(page.get_by_text("No open exceptions.")).to_be_visible()
    await expect(page.get_by_text("No deal has reached Syncline yet.")).to_be_visible()
    await expect(page.get_by_text("No webhook deliveries in the last 24 hours.")).to_be_attached()
    await expect(page.get_by_text("No finished reconciliation yet.")).to_be_attached()
    await screenshot(page, "empty")


async def test_healthy_state(console_stack: Stack, page: Page) -> None:
    opportunities = [
        await console_stack.open_deal(["SL-PLATFORM-ANNUAL", "SL-SEAT-PRO"], name=f"Healthy {n}")
        for n in range(3)
    ]
    for opportunity_id in opportunities:
        await console_stack.close_won(opportunity_id)
    for opportunity_id in opportunities:
        await console_stack.wait_for_status(opportunity_id, "order_accepted")

    await sign_in(page, console_stack)
    await expect(tile(page, "Deals")).to_contain_text("3 order accepted")
    await expect(tile(page, "Open exceptions")).to_contain_text("0")
    for opportunity_id in opportunities:
        await expect(page.get_by_role("button", name=opportunity_id)).to_be_visible()

    await page.get_by_role("button", name="Run reconciliation now").click()

    async def reconciled() -> None:
        await expect(page.get_by_text("nothing is unexplained")).to_be_visible(timeout=1000)

    await refresh_until(page, reconciled)
    await expect(tile(page, "Last reconciliation")).to_contain_text("Nothing unexplained")
    bookings = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="bookings"))
    await expect(bookings).to_contain_text("15006.00")  # 3 x 2 x 2 x 1250.50, to the cent
    await expect(page.get_by_role("img", name=re.compile(r"^Order accepted: 3$"))).to_be_attached()
    await expect(
        page.get_by_role("img", name=re.compile(r"deliver(y|ies) in the last 24 hours:.*accepted"))
    ).to_be_attached()
    await expect(
        page.get_by_role("img", name=re.compile(r"bookings USD variance"))
    ).to_be_attached()
    await screenshot(page, "healthy")
    await screenshot(page, "healthy-metrics", section="Metrics")


async def test_exception_state_retry_and_timeline(console_stack: Stack, page: Page) -> None:
    sku = "SL-CONSOLE-ADDON"
    await add_crm_product(console_stack.crm, console_stack.entries, sku, "99.00")
    opportunity_id = await console_stack.open_deal([sku], name="Parked")
    await console_stack.close_won(opportunity_id)
    await console_stack.wait_for_status(opportunity_id, "needs_attention")

    await sign_in(page, console_stack)
    waiting = page.get_by_role("list", name="Waiting exceptions")
    item = waiting.get_by_role("listitem").filter(has_text=opportunity_id)
    await expect(item.get_by_role("heading")).to_have_text("Product missing from the ERP catalog")
    await expect(item).to_contain_text("Ask finance to add (or reactivate) the item in the ERP")
    await expect(tile(page, "Open exceptions")).to_contain_text("1")
    await expect(tile(page, "Deals")).to_contain_text("1 needs attention")
    await expect(
        page.get_by_role("img", name="Product missing from the ERP catalog: 1 waiting")
    ).to_be_attached()
    await screenshot(page, "exception")

    # the technical details stay open across a refresh
    await item.get_by_text("Details from Syncline").click()
    await expect(item).to_contain_text(f"no active ERP item for SKU {sku}")
    await refresh(page)
    await expect(item.locator("details")).to_have_attribute("open", "")

    await item.get_by_role("button", name="Open timeline").click()
    deal = page.get_by_role("article").filter(
        has=page.get_by_role("heading", name=f"Opportunity {opportunity_id}")
    )
    await expect(deal).to_contain_text("Needs attention")
    timeline = deal.get_by_role("table", name=re.compile("Timeline across CRM, Syncline and ERP"))
    crm_lane, syncline_lane = 0, 1  # the time is the row's header; lanes follow
    won = timeline.get_by_role("row").filter(has_text="opportunity.closed_won")
    await expect(won.get_by_role("cell").nth(crm_lane)).to_contain_text("opportunity.closed_won")
    parked = timeline.get_by_role("row").filter(has_text="unknown_sku")
    await expect(parked.get_by_role("cell").nth(syncline_lane)).to_contain_text(sku)
    link = deal.get_by_role("link", name="Open the workflow in the Temporal Web UI")
    assert f"/workflows/close-won:salesforce:{opportunity_id}/" in (
        await link.get_attribute("href") or ""
    )
    await screenshot(page, "deal-timeline", section="Deal timeline")

    # finance adds the item to the ERP's catalog; the operator presses Retry
    await console_stack.erp.add_item(sku, "Console add-on", Decimal("99.00"))
    await item.get_by_role("button", name="Retry").click()
    await expect(page.get_by_role("status").filter(has_text="Retry requested")).to_contain_text(
        opportunity_id
    )

    async def resolved() -> None:
        await expect(item).to_have_count(0, timeout=1000)
        await expect(tile(page, "Open exceptions")).to_contain_text("0", timeout=1000)
        await expect(page.get_by_text("Resolved in the last 24 hours")).to_be_visible(timeout=1000)

    await refresh_until(page, resolved)
    await page.get_by_role("button", name=opportunity_id).click()
    await expect(deal).to_contain_text("Order accepted")
    await expect(timeline.get_by_role("row").filter(has_text="order.accepted")).to_have_count(1)
    await expect(timeline).to_contain_text("unknown_sku resolved after 1 retries")
    await screenshot(page, "exception-resolved", section="Deal timeline")


async def test_a_difference_reconciliation_leaves_to_a_person(
    console_stack: Stack, page: Page
) -> None:
    never_won = await console_stack.open_deal(name="Never won")
    orphan = await erp_order_outside_syncline(console_stack.erp.erp, never_won, date.today())
    await asyncio.sleep(RECONCILE_SLA_SECONDS)  # older than the SLA: no longer in flight

    await sign_in(page, console_stack)
    await page.get_by_role("button", name="Run reconciliation now").click()
    waiting = page.get_by_role("list", name="Waiting exceptions")
    item = waiting.get_by_role("listitem").filter(has_text=never_won)

    async def found() -> None:
        await expect(item.get_by_role("heading")).to_have_text(
            "ERP order for a deal that is not won", timeout=1000
        )

    await refresh_until(page, found)
    await expect(item).to_contain_text("Reconciliation")
    await expect(item).to_contain_text("Reconciliation found this")
    await expect(page.get_by_text("1 difference needs a person")).to_be_visible()
    await expect(tile(page, "Last reconciliation")).to_contain_text("1 open difference")
    await screenshot(page, "reconciliation-exception")

    # finance cancels the stray order; Retry compares that one record again
    await console_stack.erp.erp.cancel_sales_order(orphan.id)
    await item.get_by_role("button", name="Retry").click()

    async def resolved() -> None:
        await expect(item).to_have_count(0, timeout=1000)

    await refresh_until(page, resolved)


async def test_the_token_never_reaches_a_url_or_the_api_log(
    console_stack: Stack, page: Page
) -> None:
    token = console_stack.env["SYNCLINE_OPERATOR_KEY"]
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    await sign_in(page, console_stack)
    await refresh(page)
    await expect(tile(page, "Workers")).to_contain_text("Polling")
    assert any("/api/console/summary" in url for url in urls)
    assert not [url for url in [*urls, page.url] if token in url]
    assert token not in (console_stack.dev.workdir / "logs" / "api.log").read_text()

    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("heading", name="Flow health")).to_be_hidden()
    assert await page.evaluate("sessionStorage.length") == 0
    await page.reload()  # a reload does not bring the data back either
    await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    await expect(page.get_by_role("heading", name="Exceptions queue")).to_be_hidden()
