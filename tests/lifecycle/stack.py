"""The whole stack on an event loop of its own, for synchronous callers.

Hypothesis' rules are plain functions; the stack's clients are asyncio. The loop runs in
a background thread for as long as the stack lives, and ``call`` hands it one coroutine
at a time and waits for the answer (bounded), so every client stays on the loop that
made it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Coroutine
from pathlib import Path
from typing import Any, Literal, TypeVar

from tests.e2e.conftest import Stack, _probe
from workers.demo import seed_crm_catalog
from workers.dev_stack import DevStack, StackOptions, StackPorts

T = TypeVar("T")

RECONCILE_SLA_SECONDS = 1.5
"""How old a difference must be before reconciliation calls it an error. Short, so a
settled sequence is past it after a few seconds; the settle wait waits it out."""
ERP_POLL_SECONDS = 0.3


class LifecycleDevStack(DevStack):
    """The dev stack without the nightly reconciliation Schedule: a run at 02:00 in the
    middle of a sequence would be an actor the history does not record."""

    def environment(self) -> dict[str, str]:
        return {**super().environment(), "SYNCLINE_RECONCILE_SCHEDULE": "false"}


async def _running(options: StackOptions) -> AsyncGenerator[Stack, None]:
    """As ``tests.e2e.conftest._running_stack``, on ``LifecycleDevStack``."""
    import httpx

    from connectors.salesforce import SalesforceClient
    from tests.lifecycle.http import RetryingReads

    dev = LifecycleDevStack(options)
    env = await dev.start(timeout=180)
    crm = SalesforceClient(
        env["SYNCLINE_CRM_BASE_URL"],
        env["SYNCLINE_CRM_CLIENT_ID"],
        env["SYNCLINE_CRM_CLIENT_SECRET"],
        client_name="sales_user",
    )
    erp = await _probe(dev, env)
    api = httpx.AsyncClient(
        base_url=dev.api_url,
        headers={"Authorization": f"Bearer {env['SYNCLINE_OPERATOR_KEY']}"},
        timeout=30,
        transport=RetryingReads(),
    )
    try:
        entries = await seed_crm_catalog(crm, erp.erp)
        yield Stack(dev=dev, env=env, crm=crm, erp=erp, api=api, entries=entries)
    finally:
        await crm.aclose()
        await erp.aclose()
        await api.aclose()
        dev.stop()


class LoopStack:
    """A running stack and the loop it lives on."""

    def __init__(
        self,
        workdir: Path,
        erp: Literal["netsuite", "tryton"] = "netsuite",
        tryton_cache_dir: Path | None = None,
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        options = StackOptions(
            # The webhook path alone: what this counts (deliveries, duplicates, ERP calls)
            # is the webhook's; the CRM change stream is measured on a stack of its own.
            crm_stream="off",
            workdir=workdir,
            ports=StackPorts.free(),
            ui=False,
            erp=erp,
            tryton_cache_dir=tryton_cache_dir,
            erp_poll_seconds=ERP_POLL_SECONDS,
            reconcile_sla_minutes=RECONCILE_SLA_SECONDS / 60,
            api_rate_limit="10000/second",
            metrics=False,
        )
        self._running = _running(options)
        self.stack: Stack = self.call(anext(self._running), timeout=300)

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        """Run ``coroutine`` on the stack's loop; its result, or its exception."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def close(self) -> None:
        try:
            self.call(self._running.aclose(), timeout=60)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)
            self.loop.close()
