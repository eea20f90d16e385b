"""The CLI a user runs against the stack: the demo and the exceptions commands."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tests.e2e.conftest import Stack

pytestmark = pytest.mark.e2e


async def _syncline(stack: Stack, *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "workers.cli",
        *args,
        "--env-file",
        str(stack.env_file),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_demo_turns_every_deal_into_one_order(stack: Stack) -> None:
    code, output = await _syncline(stack, "demo", "--deals", "8", "--concurrency", "4")
    assert code == 0, output
    assert "orders accepted" in output and "latency p50" in output


async def test_exceptions_list_shows_parked_deals(stack: Stack) -> None:
    code, output = await _syncline(stack, "exceptions", "list")
    assert code == 0, output
    assert "exceptions" in output
