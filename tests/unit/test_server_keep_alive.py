"""The servers Syncline starts (the API, the sandboxes) keep an idle connection open
longer than its clients do: a server that closes one just as a client reuses it cuts
a request mid-flight (a benchmark's CRM write died of it after a quiet spell)."""

from __future__ import annotations

from fastapi import FastAPI

from connectors.http import KEEPALIVE_EXPIRY
from workers.cli import serving


def test_a_server_keeps_idle_connections_longer_than_its_clients() -> None:
    server = serving(FastAPI(), "127.0.0.1", 0)
    assert server.config.timeout_keep_alive > KEEPALIVE_EXPIRY
