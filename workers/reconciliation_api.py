"""Operator routes for reconciliation: run one now, read its report and its findings."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from models.operators import AuditAction, AuditOutcome, Operator, Role
from models.reconciliation import (
    Domain,
    DriftClass,
    FindingState,
    ReconcileRequest,
    ReconcileTrigger,
    ReconciliationReport,
)
from reconciliation import contract
from reconciliation.records import ReconciliationRecords
from reconciliation.report import findings_csv
from store import Store
from workers.access.guard import Access, audited
from workers.api_models import OPERATOR_ERRORS, invalid
from workers.settings import Settings


class ReconciliationAsked(BaseModel):
    """``POST /api/reconciliations``: what to compare. Everything, by default."""

    since: date | None = None
    domains: list[Domain] = Field(default_factory=lambda: list(Domain))
    repair: bool = True
    page_size: int = Field(500, ge=10, le=2000, description="records per call to each system")


class ReconciliationStarted(BaseModel):
    id: str
    status_url: str
    temporal_ui_url: str


class FindingView(BaseModel):
    domain: Domain
    key: str
    drift: DriftClass
    state: FindingState
    remedy: str
    summary: str
    currency: str | None
    crm: str | None
    erp: str | None
    ledger: str | None
    erp_id: str | None
    evidence: dict[str, str]


async def start_reconciliation(
    client: Client, settings: Settings, request: ReconcileRequest
) -> str:
    return await contract.start_reconciliation(client, settings.task_queue, request)


def reconciliation_router(
    settings: Settings, store: Store, client: Client, access: Access
) -> APIRouter:
    """Mounted inside the operator router: viewers read, operators start runs."""
    router = APIRouter(tags=["reconciliation"], responses=OPERATOR_ERRORS)
    records = ReconciliationRecords(store)
    may_reconcile = Depends(access.require(Role.OPERATOR))
    signed_in = Depends(access.require(Role.VIEWER))

    @router.post(
        "/api/reconciliations",
        response_model=ReconciliationStarted,
        status_code=202,
        openapi_extra=audited(AuditAction.RECONCILE),
    )
    async def reconcile_now(
        request: Request,
        asked: ReconciliationAsked | None = None,
        who: Operator = may_reconcile,
    ) -> ReconciliationStarted:
        """Start a reconciliation now (the nightly Schedule runs the same workflow);
        operators and admins."""
        asked = asked or ReconciliationAsked()
        if not asked.domains:
            raise invalid(("body", "domains"), "name at least one domain")
        run_id = await start_reconciliation(
            client,
            settings,
            ReconcileRequest(
                since=asked.since,
                domains=asked.domains,
                repair=asked.repair,
                trigger=ReconcileTrigger.API,
                page_size=asked.page_size,
                requested_by=who.name,
            ),
        )
        await access.record(
            request,
            who,
            AuditAction.RECONCILE,
            AuditOutcome.DONE,
            status=202,
            target=run_id,
            detail=asked.model_dump(mode="json"),
        )
        return ReconciliationStarted(
            id=run_id,
            status_url=f"/api/reconciliations/{run_id}",
            temporal_ui_url=settings.workflow_ui_link(run_id),
        )

    @router.get("/api/reconciliations", response_model=list[ReconciliationReport])
    async def recent(
        limit: Annotated[int, Query(ge=1, le=200)] = 20,
    ) -> list[ReconciliationReport]:
        """The latest runs, newest first."""
        return await records.recent_runs(limit)

    @router.get("/api/reconciliations/{run_id}", response_model=ReconciliationReport)
    async def report(run_id: str) -> ReconciliationReport:
        """The run's report: counts per domain and class, money per metric, repaired,
        still open, freshness, duration. ``status`` says whether it is still running."""
        stored = await records.get_run(run_id)
        if stored is not None and stored.status != "running":
            return stored
        try:
            live = await contract.REPORT.ask(client.get_workflow_handle(run_id))
        except RPCError as error:
            if stored is not None:
                return stored
            if error.status == RPCStatusCode.NOT_FOUND:
                raise HTTPException(404, f"no reconciliation {run_id}") from None
            raise
        if live is None:
            raise HTTPException(404, f"reconciliation {run_id} has not started yet")
        return live

    @router.get("/api/reconciliations/{run_id}/findings", response_model=list[FindingView])
    async def findings(
        run_id: str,
        domain: Domain | None = None,
        state: FindingState | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 200,
        after: str = "",
    ) -> list[FindingView]:
        """A page of the run's differences (``after``: the last row's key of the previous
        page, as ``domain:class:key``)."""
        rows = await records.findings(
            run_id,
            domain=domain,
            state=state,
            after=f"{run_id}:{after}" if after else "",
            limit=limit,
        )
        return [
            FindingView(
                domain=Domain(row.domain),
                key=row.key,
                drift=DriftClass(row.drift),
                state=FindingState(row.state),
                remedy=row.remedy,
                summary=row.summary,
                currency=row.currency,
                crm=row.crm,
                erp=row.erp,
                ledger=row.ledger,
                erp_id=row.erp_id,
                evidence={k: str(v) for k, v in row.evidence.items()},
            )
            for row in rows
        ]

    @router.get(
        "/api/reconciliations/{run_id}/findings.csv",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/csv": {}}}},
        openapi_extra=audited(AuditAction.EXPORT_FINDINGS),
    )
    async def findings_as_csv(
        run_id: str, request: Request, who: Operator = signed_in
    ) -> StreamingResponse:
        """Every difference of the run, for finance's spreadsheet (an export: audited)."""
        found = await records.get_run(run_id) is not None
        await access.record(
            request,
            who,
            AuditAction.EXPORT_FINDINGS,
            AuditOutcome.DONE if found else AuditOutcome.FAILED,
            status=200 if found else 404,
            target=run_id,
        )
        if not found:
            raise HTTPException(404, f"no finished reconciliation {run_id}")
        return StreamingResponse(
            findings_csv(records, run_id),
            media_type="text/csv",
            headers={
                "Content-Disposition": f'attachment; filename="{run_id.replace(":", "-")}.csv"'
            },
        )

    return router
