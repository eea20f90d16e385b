"""The deployment file validates with Compose and bakes in no secret.

Compose itself is the validator (`docker compose config`, or the standalone
`docker-compose` that `.ci/run` installs from Debian where the v2 plugin is absent).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import system_tool

ROOT = Path(__file__).resolve().parents[2]
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|PWD", re.IGNORECASE)


def _compose() -> list[str]:
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    return [system_tool("docker-compose", "docker-compose")]


def _project(tmp_path: Path, env: str | None) -> Path:
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    shutil.copy(ROOT / "Dockerfile", tmp_path)
    shutil.copytree(ROOT / "deploy", tmp_path / "deploy")
    if env is not None:
        (tmp_path / ".env").write_text(env)
    return tmp_path


def _filled_example() -> tuple[str, list[str]]:
    """deploy/example.env with every empty or placeholder value given a fresh secret."""
    lines, given = [], []
    for line in (ROOT / "deploy" / "example.env").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and value in ("", "change-me"):
            value = secrets.token_hex(16)
            given.append(value)
        lines.append(f"{name}{sep}{value}")
    return "\n".join(lines) + "\n", given


def _config(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_compose(), "config"], cwd=project, capture_output=True, text=True, timeout=60
    )


def test_the_compose_file_validates_with_the_example_settings(tmp_path: Path) -> None:
    env, _ = _filled_example()
    result = _config(_project(tmp_path, env))
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = yaml.safe_load(result.stdout)["services"]
    assert {
        "temporal",
        "temporal-db",
        "temporal-ui",
        "syncline-db",
        "syncline-migrate",
        "syncline-worker",
        "syncline-api",
    } <= set(services)
    worker = services["syncline-worker"]
    # Scalable: nothing that two replicas could not share.
    assert "container_name" not in worker and "ports" not in worker
    for name in ("temporal", "temporal-db", "syncline-db", "syncline-worker", "syncline-api"):
        assert "healthcheck" in services[name], name


def test_no_secret_is_written_in_the_compose_file() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    found = []

    def walk(node: object, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                literal = isinstance(value, str | int) and not str(value).startswith("${")
                if SECRET_NAME.search(str(key)) and literal:
                    found.append(f"{path}.{key}")
                walk(value, f"{path}.{key}")
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, f"{path}[{index}]")

    walk(compose, "")
    assert found == []


def test_compose_refuses_to_run_without_the_database_passwords(tmp_path: Path) -> None:
    result = _config(_project(tmp_path, ""))
    assert result.returncode != 0
    assert "set TEMPORAL_DB_PASSWORD in .env" in result.stderr + result.stdout
