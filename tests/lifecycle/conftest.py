"""One stack for the lifecycle tests, on an event loop of its own (the tests are
synchronous: hypothesis' rules call into it)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lifecycle.driver import Driver
from tests.lifecycle.machine import Runtime, Scripted
from tests.lifecycle.stack import LoopStack


def _runtime(stack: LoopStack) -> Iterator[Runtime]:
    driver = Driver(stack.stack)
    try:
        yield Runtime(stack=stack, driver=driver)
    finally:
        stack.call(driver.aclose())
        stack.close()


@pytest.fixture(scope="package")
def lifecycle_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    """The NetSuite-shaped sandbox ERP."""
    yield from _runtime(LoopStack(tmp_path_factory.mktemp("lifecycle")))


@pytest.fixture(scope="package")
def lifecycle_runtime_tryton(
    tmp_path_factory: pytest.TempPathFactory, tryton_cache_dir: Path
) -> Iterator[Runtime]:
    """A real Tryton, where it supports the operation (no cancelling or re-lining a
    confirmed sale; README, "Where each ERP stands")."""
    stack = LoopStack(
        tmp_path_factory.mktemp("lifecycle-tryton"), erp="tryton", tryton_cache_dir=tryton_cache_dir
    )
    yield from _runtime(stack)


@pytest.fixture
def seq(request: pytest.FixtureRequest) -> Scripted:
    """A fresh sequence to write out by hand, on the NetSuite-shaped sandbox, or on the
    ERP named by an indirect parameter (``"netsuite"``, ``"tryton"``)."""
    erp = getattr(request, "param", "netsuite")
    runtime: Runtime = request.getfixturevalue(
        "lifecycle_runtime" if erp == "netsuite" else "lifecycle_runtime_tryton"
    )
    runtime.fail_on = "unknown"
    return Scripted(runtime)
