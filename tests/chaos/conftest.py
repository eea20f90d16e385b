"""A stack of its own for each storm: it restarts Temporal, which no other test's stack
may see.

Three storms, one per kind of deployment the storm's promises must hold on:

* ``netsuite-sqlite``: the NetSuite-shaped sandbox, the embedded store, one worker;
* ``tryton-sqlite``: a real Tryton 8.2 behind the fault proxy, one worker;
* ``netsuite-postgres-2-workers``: Syncline's store on a fresh PostgreSQL database,
  the ERP limit held by the PostgreSQL governor (advisory locks) across two workers, one
  of which is killed while the other goes on.

The deal counts keep the three inside CI's budget on a 2-core machine (about eight
minutes together; README, "Reliability: the storm"); ``SYNCLINE_CHAOS_DEALS`` overrides
all three.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from tests.conftest import POSTGRES_URL
from tests.e2e.conftest import Stack, _database, _running_stack
from workers.dev_stack import StackOptions, StackPorts


@dataclass(frozen=True)
class Variant:
    erp: Literal["netsuite", "tryton"]
    store: Literal["sqlite", "postgres"]
    workers: int
    deals: int
    """Deals closed won in this storm, unless ``SYNCLINE_CHAOS_DEALS`` says otherwise."""

    @property
    def name(self) -> str:
        workers = f"-{self.workers}-workers" if self.workers > 1 else ""
        return f"{self.erp}-{self.store}{workers}"


VARIANTS = (
    Variant("netsuite", "sqlite", workers=1, deals=1000),
    # Tryton confirms a sale in ~130-260 ms of its own CPU, one process, two calls at a
    # time: about 1.7 deals/s at best against the sandbox's ~8 (benchmarks/README.md).
    Variant("tryton", "sqlite", workers=1, deals=200),
    Variant("netsuite", "postgres", workers=2, deals=500),
)


@dataclass(frozen=True)
class Storm:
    stack: Stack
    variant: Variant

    @property
    def deals(self) -> int:
        return int(os.environ.get("SYNCLINE_CHAOS_DEALS", str(self.variant.deals)))


def _needs_postgres() -> None:
    """No PostgreSQL: CI (``SYNCLINE_REQUIRE_SYSTEM_TOOLS=1``) fails, so a storm can
    never pass there by not running; a fresh machine skips, as for Chromium."""
    if POSTGRES_URL is not None:
        return
    reason = 'SYNCLINE_TEST_POSTGRES_URL not set: eval "$(bash .ci/postgres.sh)"'
    if os.environ.get("SYNCLINE_REQUIRE_SYSTEM_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


def _params() -> list[object]:
    return [
        pytest.param(v, id=v.name, marks=[pytest.mark.postgres] if v.store == "postgres" else [])
        for v in VARIANTS
    ]


# Function-scoped: each stack is stopped when its storm ends, not left polling its ERP
# through the rest of the session.
@pytest.fixture(params=_params())
async def storm(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    tryton_cache_dir: Path,
) -> AsyncIterator[Storm]:
    variant: Variant = request.param
    if variant.store == "postgres":
        _needs_postgres()
    async with _database(variant.store) as database_url:
        options = StackOptions(
            # The webhook path alone: what this counts (deliveries, duplicates, ERP calls)
            # is the webhook's; the CRM change stream is measured on a stack of its own.
            crm_stream="off",
            workdir=tmp_path_factory.mktemp(f"storm-{variant.name}"),
            ports=StackPorts.free(),
            ui=False,
            database_url=database_url,
            erp=variant.erp,
            tryton_cache_dir=tryton_cache_dir,
            erp_poll_seconds=0.5,
            reconcile_sla_minutes=0.05,
            workers=variant.workers,
            # Several workers share the ERP limit only through PostgreSQL's advisory
            # locks; named, not left to "auto", so the storm proves that governor.
            erp_governor="postgres" if variant.store == "postgres" else "local",
        )
        async for running in _running_stack(options):
            yield Storm(running, variant)


@pytest.fixture
async def quiet_stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Stack]:
    """A NetSuite stack of its own with no storm: for replaying, on cue, one race the
    storm found by chance."""
    options = StackOptions(
        # The webhook path alone: what this counts (deliveries, duplicates, ERP calls)
        # is the webhook's; the CRM change stream is measured on a stack of its own.
        crm_stream="off",
        workdir=tmp_path_factory.mktemp("race"),
        ports=StackPorts.free(),
        ui=False,
        erp_poll_seconds=0.5,
    )
    async for running in _running_stack(options):
        yield running
