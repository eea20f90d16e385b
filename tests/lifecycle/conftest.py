"""One stack for the lifecycle tests, on an event loop of its own (the tests are
synchronous: hypothesis' rules call into it)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.lifecycle.driver import Driver
from tests.lifecycle.machine import Runtime, Scripted
from tests.lifecycle.stack import LoopStack


@pytest.fixture(scope="session")
def lifecycle_runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    stack = LoopStack(tmp_path_factory.mktemp("lifecycle"))
    driver = Driver(stack.stack)
    try:
        yield Runtime(stack=stack, driver=driver)
    finally:
        stack.call(driver.aclose())
        stack.close()


@pytest.fixture
def seq(lifecycle_runtime: Runtime) -> Scripted:
    """A fresh sequence to write out by hand."""
    lifecycle_runtime.fail_on = "unknown"
    return Scripted(lifecycle_runtime)
