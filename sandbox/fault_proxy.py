"""A reverse proxy that injects faults in front of a real server (Tryton, say).

A real ERP cannot be asked to fail on cue, yet the failures Syncline exists for must be
tried against it too: a 5xx, a 429 with ``Retry-After``, latency, and above all a
response lost after the write committed (``commit_then_drop``). The proxy forwards
every request unchanged and lets the sandboxes' ``FaultInjector`` decide, per request,
whether to answer instead, delay, or forward and then cut the connection.

Rules come from ``SYNCLINE_SANDBOX_PROXY_FAULTS`` at start and from ``/admin/faults``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from starlette.requests import ClientDisconnect

from sandbox.faults import (
    FaultInjector,
    FaultMiddleware,
    fault_admin_router,
    fault_rules_from_env,
)

FAULTS_ENV_VAR = "SYNCLINE_SANDBOX_PROXY_FAULTS"

# Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, not the message.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


def tryton_error_body(status: int, code: str, detail: str) -> Any:
    """Tryton's REST error shape."""
    return {"status": status, "message": detail, "description": code}


def build_app(
    upstream: str,
    injector: FaultInjector | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    injector = injector or FaultInjector(
        fault_rules_from_env(FAULTS_ENV_VAR), error_body=tryton_error_body
    )
    http = httpx.AsyncClient(
        base_url=upstream.rstrip("/"), timeout=httpx.Timeout(120.0), transport=transport
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await http.aclose()

    app = FastAPI(title="Syncline fault proxy", lifespan=lifespan, openapi_url=None)
    app.state.injector = injector
    app.include_router(fault_admin_router(injector))

    @app.get("/admin/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "upstream": upstream}

    @app.api_route(
        "/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
    )
    async def forward(path: str, request: Request) -> Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP}
        try:
            body = await request.body()
        except ClientDisconnect:  # the caller gave up (or was killed): nothing to forward
            return Response(status_code=499)
        try:
            upstream_response = await http.request(
                request.method,
                "/" + path,
                params=str(request.query_params),
                headers=headers,
                content=body,
            )
        except httpx.TransportError as exc:
            return Response(status_code=502, content=f"upstream unreachable: {exc}")
        return Response(
            status_code=upstream_response.status_code,
            content=upstream_response.content,
            headers={
                k: v
                for k, v in upstream_response.headers.items()
                if k.lower() not in _HOP_BY_HOP and k.lower() != "content-encoding"
            },
        )

    app.add_middleware(FaultMiddleware, injector=injector)
    return app
