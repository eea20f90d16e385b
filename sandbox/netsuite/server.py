"""The NetSuite-shaped ERP sandbox as a FastAPI app.

Run it::

    python -m sandbox.netsuite --port 8020 --db .syncline/netsuite.db
    # or, configured by the environment (see ``config_from_env``):
    uvicorn --factory sandbox.netsuite.server:app_from_env --port 8020

Run one process per database: the concurrency limit, stats and fault counters live
in the process (as the account limit lives in one NetSuite account).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.faults import FaultMiddleware, fault_admin_router, fault_rules_from_env
from sandbox.netsuite.admin import admin_router
from sandbox.netsuite.approval import ApprovalMode
from sandbox.netsuite.auth import auth_router
from sandbox.netsuite.auth_admin import auth_admin_router
from sandbox.netsuite.config import DEFAULT_ACCOUNT_ID, NetSuiteSandboxConfig
from sandbox.netsuite.errors import (
    UNEXPECTED_ERROR,
    NetSuiteError,
    error_response,
    handle_netsuite_error,
)
from sandbox.netsuite.finance import finance_router
from sandbox.netsuite.invoice_void import invoice_void_router
from sandbox.netsuite.limits import ConcurrencyLimitMiddleware
from sandbox.netsuite.metadata import metadata_router
from sandbox.netsuite.routes import query_router, record_router
from sandbox.netsuite.state import FAULTS_ENV_VAR, NetSuiteSandbox

__all__ = ["NetSuiteSandboxConfig", "app_from_env", "build_app", "config_from_env"]

logger = logging.getLogger(__name__)

ENV_PREFIX = "SYNCLINE_SANDBOX_ERP_"


def build_app(config: NetSuiteSandboxConfig) -> FastAPI:
    """A ready app; the database is opened (and seeded) here, not at start-up, so the
    app also works under an in-process transport that runs no lifespan."""
    sandbox = NetSuiteSandbox(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        sandbox.close()

    app = FastAPI(title="NetSuite sandbox (Syncline)", version="1", lifespan=lifespan)
    app.state.sandbox = sandbox
    app.include_router(auth_router(sandbox.auth))
    # Before the record routes, whose /{record_type} would take metadata-catalog.
    app.include_router(metadata_router(sandbox))
    app.include_router(record_router(sandbox))
    app.include_router(query_router(sandbox))
    app.include_router(invoice_void_router(sandbox))
    app.include_router(admin_router(sandbox))
    app.include_router(finance_router(sandbox))
    app.include_router(auth_admin_router(sandbox))
    app.include_router(fault_admin_router(sandbox.faults))
    app.add_exception_handler(NetSuiteError, handle_netsuite_error)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = "NONEXISTENT_ID" if exc.status_code == 404 else "INVALID_REQUEST"
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_response(500, UNEXPECTED_ERROR, "An unexpected error occurred.")

    # Added last = outermost: faults act like the network in front of the account,
    # the limiter like the account itself.
    app.add_middleware(ConcurrencyLimitMiddleware, limiter=sandbox.limiter)
    app.add_middleware(FaultMiddleware, injector=sandbox.faults)
    return app


def config_from_env(env: Mapping[str, str] | None = None) -> NetSuiteSandboxConfig:
    """The config from the dev stack's variables (the names ``sandbox.launch`` uses).

    ``SYNCLINE_ERP_ACCOUNT_ID``, and
    ``SYNCLINE_SANDBOX_ERP_{DB,CONCURRENCY_LIMIT,LATENCY_MS,SEED_CATALOG,FAULTS,APPROVAL}``
    (``APPROVAL``: ``off``, ``all`` or ``over_credit_limit``, see ``approval``).
    Credentials are not configured: they are set up as on a real account, through
    the admin routes (``/admin/oauth2/certificates``, ``/admin/tba/tokens``).
    """
    env = os.environ if env is None else env
    return NetSuiteSandboxConfig(
        db_path=Path(env.get(f"{ENV_PREFIX}DB", ".syncline/netsuite.db")),
        account_id=env.get("SYNCLINE_ERP_ACCOUNT_ID") or DEFAULT_ACCOUNT_ID,
        concurrency_limit=int(env.get(f"{ENV_PREFIX}CONCURRENCY_LIMIT", "5")),
        latency_ms=int(env.get(f"{ENV_PREFIX}LATENCY_MS", "0")),
        seed_catalog=env.get(f"{ENV_PREFIX}SEED_CATALOG", "1") not in ("0", "false", "no"),
        faults=fault_rules_from_env(FAULTS_ENV_VAR, env),
        approval_mode=ApprovalMode(env[f"{ENV_PREFIX}APPROVAL"])
        if env.get(f"{ENV_PREFIX}APPROVAL")
        else None,
    )


def app_from_env() -> FastAPI:
    """``uvicorn --factory sandbox.netsuite.server:app_from_env``."""
    return build_app(config_from_env())
