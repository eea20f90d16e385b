"""A stack of its own for the storm: it restarts Temporal, which no other test's stack
may see."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.e2e.conftest import Stack, _running_stack
from workers.dev_stack import StackOptions, StackPorts


@pytest.fixture(scope="session")
async def storm_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    options = StackOptions(
        workdir=tmp_path_factory.mktemp("storm"),
        ports=StackPorts.free(),
        ui=False,
        erp="netsuite",
        erp_poll_seconds=0.5,
        reconcile_sla_minutes=0.05,
    )
    async for running in _running_stack(options):
        yield running
