"""What the checks share: the settings, the clients, and steps several checks need."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from temporalio.client import Client

from connectors.governor import LocalGovernor
from connectors.protocols import CrmClient, ErpClient
from workers.doctor.model import Skipped
from workers.settings import Settings
from workers.temporal import connect
from workers.wiring import build_crm, build_erp

T = TypeVar("T")


class DoctorContext:
    """Built once per run. The clients are the ones ``syncline worker`` builds from the
    same settings (``workers.wiring``), so a login the doctor passes is the worker's.

    A step several checks need (connecting to Temporal, logging in to the CRM) runs once,
    started by whichever check asks first; its failure is reported by the check that owns
    it, and the checks that needed it are skipped, not failed a second time.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._steps: dict[str, asyncio.Task[Any]] = {}
        self._crm: CrmClient | None = None
        self._erp: ErpClient | None = None

    def step(self, key: str, run: Callable[[], Awaitable[T]]) -> Awaitable[T]:
        """The shared step ``key``, started now unless a check already started it.

        Shielded: a check that times out stops waiting, the step goes on for the others.
        """
        task = self._steps.get(key)
        if task is None:

            async def _run() -> T:
                return await run()

            task = self._steps[key] = asyncio.ensure_future(_run())
        return cast(Awaitable[T], asyncio.shield(task))

    @staticmethod
    async def requires(step: Awaitable[T], unavailable: str) -> T:
        """``step``'s result, or ``Skipped(unavailable)`` when it failed."""
        try:
            return await step
        except Skipped:
            raise  # skipped for what the step itself needed: that is the reason to give
        except Exception:
            raise Skipped(unavailable) from None

    async def temporal(self) -> Client:
        return await self.step("temporal.connect", lambda: connect(self.settings))

    def crm(self) -> CrmClient:
        if self._crm is None:
            self._crm = build_crm(self.settings)
        return self._crm

    def erp(self) -> ErpClient:
        if self._erp is None:
            # One call at a time, outside the workers' shared governor: the doctor must
            # not depend on the database to reach the ERP, and must not take more than
            # its share of the account's concurrency while the workers run.
            self._erp, _ = build_erp(self.settings, LocalGovernor(1))
        return self._erp

    async def aclose(self) -> None:
        for task in self._steps.values():
            task.cancel()
        await asyncio.gather(*self._steps.values(), return_exceptions=True)
        for client in (self._crm, self._erp):
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.aclose()
