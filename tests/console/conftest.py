"""The console in a real browser (Debian's chromium, driven by Playwright) against a
stack of its own: the empty state needs a stack nothing else has touched."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from tests.conftest import system_tool
from tests.e2e.conftest import RECONCILE_SLA_SECONDS, Stack, _running_stack
from tests.oidc import IdentityProvider, identity_provider
from workers.dev_stack import StackOptions, StackPorts

# No network beyond loopback here: without these, Chromium keeps dialling Google's hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(scope="package")
def console_idp() -> Iterator[IdentityProvider]:
    """The company's identity provider the console stack's API trusts."""
    with identity_provider() as provider:
        yield provider


@pytest.fixture(scope="package")
async def console_stack(
    tmp_path_factory: pytest.TempPathFactory, console_idp: IdentityProvider
) -> AsyncIterator[Stack]:
    options = StackOptions(
        # The webhook path alone: what this counts (deliveries, duplicates, ERP calls)
        # is the webhook's; the CRM change stream is measured on a stack of its own.
        crm_stream="off",
        workdir=tmp_path_factory.mktemp("console"),
        ports=StackPorts.free(),
        ui=False,
        erp="netsuite",
        erp_poll_seconds=0.5,
        reconcile_sla_minutes=RECONCILE_SLA_SECONDS / 60,
        extra_env=console_idp.env(),
    )
    async for running in _running_stack(options):
        yield running


@pytest.fixture(scope="package")
async def browser() -> AsyncIterator[Browser]:
    chromium = system_tool("chromium", "chromium")
    async with async_playwright() as playwright:
        # Playwright gives each launch a fresh, empty profile of its own.
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport=VIEWPORT)
    opened = await context.new_page()
    yield opened
    await context.close()
