"""Where CI says every system tool must be there (``SYNCLINE_REQUIRE_SYSTEM_TOOLS=1``), a
test that needs PostgreSQL fails when there is none rather than skipping, so CI cannot
pass with the whole PostgreSQL half skipped; elsewhere it skips, so a first ``pytest`` on
a fresh machine runs."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import pytest

from store import Store
from tests.conftest import postgres_url


@pytest.mark.postgres
def test_asks_for_the_url() -> None:
    postgres_url()


@pytest.mark.postgres
@pytest.mark.skipif(True, reason="a skipif mark added some day")
def test_marked_and_skipped() -> None:
    pass


async def test_on_the_shared_store(store: Store) -> None:
    pass
"""


def _outcomes(tmp_path: Path, *, require: bool) -> tuple[int, dict[str, str]]:
    """The probe in a pytest of its own, with the suite's conftest and no PostgreSQL: its
    exit status, and each test's outcome with the message."""
    (tmp_path / "test_probe.py").write_text(PROBE)
    unset = ("SYNCLINE_TEST_POSTGRES_URL", "SYNCLINE_DATABASE_URL", "SYNCLINE_REQUIRE_SYSTEM_TOOLS")
    env = {name: value for name, value in os.environ.items() if name not in unset}
    if require:
        env["SYNCLINE_REQUIRE_SYSTEM_TOOLS"] = "1"
    report = tmp_path / "report.xml"
    run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"),
            *("-p", "tests.conftest", "-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT)),
            *(f"--junitxml={report}", str(tmp_path / "test_probe.py")),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    outcomes = {}
    for case in ET.parse(report).iter("testcase"):
        found = [(child.tag, child.get("message", "")) for child in case]
        outcomes[case.get("name", "")] = " ".join(f"{tag}: {said}" for tag, said in found)
    return run.returncode, outcomes


NO_SERVER = "needs PostgreSQL: set SYNCLINE_TEST_POSTGRES_URL (.ci/postgres.sh starts one)"


def test_without_postgres_its_tests_skip_on_a_laptop(tmp_path: Path) -> None:
    status, outcomes = _outcomes(tmp_path, require=False)
    assert status == 0
    assert outcomes == {
        "test_asks_for_the_url": f"skipped: {NO_SERVER}",
        "test_marked_and_skipped": "skipped: a skipif mark added some day",
        "test_on_the_shared_store[sqlite]": "",
        "test_on_the_shared_store[postgres]": f"skipped: {NO_SERVER}",
    }


def test_without_postgres_its_tests_fail_in_ci(tmp_path: Path) -> None:
    status, outcomes = _outcomes(tmp_path, require=True)
    assert status == 1
    assert outcomes == {
        "test_asks_for_the_url": f"failure: Failed: {NO_SERVER}",
        # The safety net: a skip by any other means is a failure too.
        "test_marked_and_skipped": 'error: failed on setup with "a PostgreSQL test may not '
        'skip in CI: a skipif mark added some day"',
        "test_on_the_shared_store[sqlite]": "",
        "test_on_the_shared_store[postgres]": f'error: failed on setup with "Failed: {NO_SERVER}"',
    }
