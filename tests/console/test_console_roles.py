"""The console signed in as different people: a viewer sees no button their role may not
use and the API refuses the call anyway; an operator signed in through the identity
provider retries under their own name, which the exception's history and the deal's
timeline show; an admin reads the audit trail."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from models.operators import Role
from store import Store
from tests.console.test_console import refresh, refresh_until, screenshot, tile
from tests.deals import add_crm_product
from tests.e2e.conftest import Stack
from tests.oidc import IdentityProvider
from workers.access.operators import add_operator, local_operator

pytestmark = pytest.mark.e2e

LABEL = "Personal key or identity provider token"


async def _key(stack: Stack, name: str, role: Role) -> str:
    """A key made as ``syncline operators add`` makes it, in the stack's database."""
    store = Store.from_url(stack.env["SYNCLINE_DATABASE_URL"])
    try:
        return (await add_operator(store, name, role, local_operator())).key
    finally:
        await store.close()


async def _sign_in(page: Page, stack: Stack, credential: str) -> None:
    await page.goto(f"{stack.dev.api_url}/console")
    await page.get_by_label(LABEL).fill(credential)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Flow health")).to_be_visible()


async def _parked_deal(stack: Stack, sku: str) -> tuple[str, str]:
    """A deal parked on a SKU the ERP lacks: its opportunity and exception ids."""
    await add_crm_product(stack.crm, stack.entries, sku, "49.00")
    opportunity_id = await stack.open_deal([sku], name=f"Roles {sku}")
    await stack.close_won(opportunity_id)
    deal = await stack.wait_for_status(opportunity_id, "needs_attention")
    return opportunity_id, deal["exceptions"][0]["id"]


async def _parked_again(stack: Stack, opportunity_id: str) -> None:
    """The run took the retry, tried again and parked again (the catalog is not fixed)."""
    for _ in range(150):
        deal = await stack.deal(opportunity_id)
        if deal["retries"] >= 1 and deal["status"] == "needs_attention":
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{opportunity_id} never parked again: {deal}")


def _waiting(page: Page, opportunity_id: str) -> Locator:
    waiting = page.get_by_role("list", name="Waiting exceptions")
    return waiting.get_by_role("listitem").filter(has_text=opportunity_id)


_CALL_AS_THE_PAGE = """async ([path, body]) => (await fetch(path, {
  method: "POST", body,
  headers: { Authorization: `Bearer ${sessionStorage.getItem("syncline.operatorToken")}`,
             "Content-Type": "application/json" },
})).status"""


async def test_a_viewer_sees_no_action_and_the_api_refuses_one_anyway(
    console_stack: Stack, page: Page
) -> None:
    opportunity_id, exception_id = await _parked_deal(console_stack, "SL-ROLES-VIEW")
    await _sign_in(page, console_stack, await _key(console_stack, "vera", Role.VIEWER))
    await expect(page.get_by_text("Signed in as vera (viewer)")).to_be_visible()
    item = _waiting(page, opportunity_id)
    await expect(item.get_by_role("heading")).to_have_text("Product missing from the ERP catalog")
    await expect(item.get_by_role("button", name="Open timeline")).to_be_visible()
    await expect(item.get_by_role("button", name="Retry")).to_have_count(0)
    await expect(page.get_by_role("button", name="Run reconciliation now")).to_have_count(0)
    await expect(page.get_by_role("heading", name="Audit trail")).to_be_hidden()
    await screenshot(page, "viewer")

    # What the page does not offer, the API refuses: the calls its buttons would make.
    retry = f"/api/exceptions/{exception_id}/retry"
    assert await page.evaluate(_CALL_AS_THE_PAGE, [retry, None]) == 403
    assert await page.evaluate(_CALL_AS_THE_PAGE, ["/api/reconciliations", "{}"]) == 403
    await refresh(page)
    await expect(item.get_by_role("list", name="What operators did")).to_contain_text(
        "Retry by vera (viewer) refused"
    )
    deal = await console_stack.deal(opportunity_id)
    assert deal["status"] == "needs_attention" and deal["retries"] == 0


async def test_an_operator_from_the_identity_provider_retries_under_their_own_name(
    console_stack: Stack, console_idp: IdentityProvider, page: Page
) -> None:
    sku = "SL-ROLES-OIDC"
    opportunity_id, _ = await _parked_deal(console_stack, sku)

    await page.goto(f"{console_stack.dev.api_url}/console")
    await page.get_by_label(LABEL).fill(console_idp.token("operator", expires_in=-3600))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("token has expired")
    # One refused sign-in is one refusal in the trail (the lock-out counts them), not
    # one per call the page would have made.
    refusals = await console_stack.api.get("/api/audit", params={"outcome": "refused"})
    expired = [e for e in refusals.json()["entries"] if "expired" in (e["reason"] or "")]
    assert len(expired) == 1, expired

    token = console_idp.token("operator", email="olivia@example.com")
    await _sign_in(page, console_stack, token)
    await expect(page.get_by_text("Signed in as olivia@example.com (operator)")).to_be_visible()
    await expect(page.get_by_role("heading", name="Audit trail")).to_be_hidden()
    item = _waiting(page, opportunity_id)
    # Pressed before the fix: the run parks again, and the history says who asked.
    await item.get_by_role("button", name="Retry").click()

    async def asked() -> None:
        await expect(item.get_by_role("list", name="What operators did")).to_contain_text(
            "Retry requested by olivia@example.com (operator)", timeout=1000
        )

    await refresh_until(page, asked)
    await _parked_again(console_stack, opportunity_id)
    await console_stack.erp.add_item(sku, "Roles add-on", Decimal("49.00"))
    await item.get_by_role("button", name="Retry").click()

    async def resolved() -> None:
        await expect(item).to_have_count(0, timeout=1000)
        await expect(page.get_by_text("the last requested by olivia@example.com")).to_be_attached(
            timeout=1000
        )

    await refresh_until(page, resolved)
    await page.get_by_role("button", name=opportunity_id).click()
    timeline = page.get_by_role("table", name="Timeline across CRM, Syncline and ERP")
    await expect(timeline).to_contain_text("retry requested by olivia@example.com (operator)")
    accepted = timeline.get_by_role("row").filter(has_text="order.accepted")
    await expect(accepted).to_contain_text("caused by olivia@example.com")
    await screenshot(page, "operator-retry-timeline", section="Deal timeline")
    retries = await console_stack.api.get(
        "/api/audit", params={"action": "exception.retry", "subject_id": opportunity_id}
    )
    assert [(e["actor"], e["outcome"]) for e in retries.json()["entries"]] == [
        ("olivia@example.com", "done")
    ] * 2
    events = (await console_stack.deal(opportunity_id))["events"]
    assert {e["event_type"]: e["caused_by"] for e in events}["order.accepted"] == (
        "olivia@example.com"
    )


async def test_an_admin_reads_the_audit_trail(console_stack: Stack, page: Page) -> None:
    viewer = await _key(console_stack, "walter", Role.VIEWER)
    async with httpx.AsyncClient(
        base_url=console_stack.dev.api_url, headers={"Authorization": f"Bearer {viewer}"}
    ) as walter:
        assert (await walter.post("/api/reconciliations", json={})).status_code == 403

    await _sign_in(page, console_stack, console_stack.env["SYNCLINE_OPERATOR_KEY"])
    await expect(page.get_by_text("Signed in as dev-admin (admin)")).to_be_visible()
    await expect(tile(page, "Workers")).to_contain_text("Polling")
    trail = page.get_by_role("table", name="Latest operator actions and refused attempts")
    refused = trail.get_by_role("row").filter(has_text="walter").filter(has_text="refused")
    await expect(refused).to_contain_text("Reconciliation run")
    await expect(refused).to_contain_text("refused (403): the viewer role may not do this")
    added = trail.get_by_role("row").filter(has_text="walter").filter(has_text="Key added")
    await expect(added).to_contain_text(local_operator().name)
    await screenshot(page, "admin-audit", section="Audit trail")
