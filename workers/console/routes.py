"""The operator console: a static page at ``/console`` and the one JSON route it adds.

The page holds no data. It asks for a personal key or an identity provider token once,
keeps it in the tab's ``sessionStorage`` and sends it as ``Authorization: Bearer`` on
every call to the same JSON API scripts use, so the console has no second way in and no
second set of rules: no cookie to forge across sites, no credential in a URL or an
access log, without one nothing but the sign-in form is shown, and the role that hides a
button is the role the API checks.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from fastapi import APIRouter, Depends, HTTPException, Response
from temporalio.client import Client

from models.operators import Role
from store import Store
from workers.access.guard import Access
from workers.api_models import OPERATOR_ERRORS
from workers.console.summary import ConsoleSummary, console_summary
from workers.settings import Settings

_ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "charts.js": "text/javascript; charset=utf-8",
}
# Scripts and styles only from these files: an injected string cannot run, and the
# page can talk to nothing but this API.
_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@cache
def _static(name: str) -> bytes:
    return (files("workers.console") / "static" / name).read_bytes()


def console_router(settings: Settings, store: Store, client: Client, access: Access) -> APIRouter:
    router = APIRouter(tags=["console"])
    operator = Depends(access.require(Role.VIEWER))

    @router.get("/console", include_in_schema=False)
    async def page() -> Response:
        return Response(_static("index.html"), media_type="text/html", headers=_HEADERS)

    @router.get("/console/{asset}", include_in_schema=False)
    async def asset(asset: str) -> Response:
        if asset not in _ASSETS:
            raise HTTPException(404, "no such console file")
        return Response(_static(asset), media_type=_ASSETS[asset], headers=_HEADERS)

    @router.get(
        "/api/console/summary",
        response_model=ConsoleSummary,
        dependencies=[operator],
        responses=OPERATOR_ERRORS,
    )
    async def summary() -> ConsoleSummary:
        """The console's figures: deals by state, deliveries per hour, the exception
        backlog by reason and age, reconciliation variance per metric, and the
        plain-language explanation of every reason code."""
        return await console_summary(settings, store, client)

    return router
