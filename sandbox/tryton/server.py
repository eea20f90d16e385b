"""A real trytond on a free loopback port while a block runs (tests, benchmarks)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from sandbox.tryton.bootstrap import TrytonSetup, rest_base_url, trytond_argv

HOST = "127.0.0.1"


@dataclass(frozen=True)
class RunningTryton:
    setup: TrytonSetup
    port: int

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def rest_url(self) -> str:
        return rest_base_url(HOST, self.port, self.setup.database)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_trytond(
    setup: TrytonSetup, log_path: Path, timeout: float = 60
) -> Iterator[RunningTryton]:
    port = free_port()
    with serving(trytond_argv(setup, HOST, port), port, log_path, timeout=timeout):
        yield RunningTryton(setup, port)


@contextmanager
def serving(
    command: list[str],
    port: int,
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run a Tryton server ``command`` (trytond, or a WSGI server hosting it) until it
    answers on ``port``, and stop it when the block ends."""
    deadline = time.monotonic() + timeout
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, env=None if env is None else dict(env)
        )
    try:
        _wait_until_answering(process, f"http://{HOST}:{port}/", log_path, deadline)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_answering(
    process: subprocess.Popen[bytes], url: str, log_path: Path, deadline: float
) -> None:
    # With -d the models load before the socket opens: any HTTP answer means ready.
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"trytond exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"trytond did not answer:\n{log_path.read_text()}") from None
            time.sleep(0.1)
