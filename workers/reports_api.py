"""Revenue reports from the event ledger, and the metric definitions they follow."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query

from models.operators import Role
from reporting.compute import BadQuery, Report, parse_group_by, report_from_ledger
from reporting.definitions import DEFINITIONS, MetricDefinition, UnknownMetric, metric_names
from store import Store
from workers.access.guard import Access
from workers.api_models import OPERATOR_ERRORS, invalid


def reports_router(store: Store, access: Access) -> APIRouter:
    """Every route here is for any signed-in operator (viewers included)."""
    router = APIRouter(
        dependencies=[Depends(access.require(Role.VIEWER))],
        responses=OPERATOR_ERRORS,
        tags=["reports"],
    )

    @router.get("/api/metric-definitions", response_model=list[MetricDefinition])
    async def list_definitions() -> list[MetricDefinition]:
        """Every version of every metric: what it counts, the event that makes a value
        visible and the one that makes it authoritative."""
        return sorted(DEFINITIONS, key=lambda d: (d.name, d.version))

    @router.get("/api/reports/{metric}", response_model=Report)
    async def report(
        metric: str,
        start: Annotated[date, Query(alias="from")],
        end: Annotated[date, Query(alias="to", description="inclusive")],
        group_by: Annotated[
            str | None,
            Query(description="comma-separated: month, customer, sku, revenue_type"),
        ] = None,
        version: Annotated[int | None, Query(description="default: the newest", ge=1)] = None,
    ) -> Report:
        """A metric over UTC days ``from``..``to``, per currency (never added across),
        computed from the ledger alone, stating the definition version it used."""
        try:
            return await report_from_ledger(
                store, metric, start, end, parse_group_by(group_by), version
            )
        except UnknownMetric as error:
            raise HTTPException(
                404, {"message": str(error), "known_metrics": metric_names()}
            ) from None
        except BadQuery as error:
            raise invalid(("query",), str(error)) from None

    return router
