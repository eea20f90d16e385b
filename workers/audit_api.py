"""Who is signed in, the audit trail, and the operators' keys (the last two: admins only).

Keys are created only by ``syncline operators add``, which shows the key once on the
terminal of whoever holds the database's credentials: no API answer ever carries one.
An admin may list and revoke them here, e.g. from a laptop when someone leaves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from models.operators import AuditAction, AuditOutcome, Operator, Role
from store import Store
from store.audit import AuditQuery
from store.operator_keys import OperatorKeys
from workers.access.guard import Access, audited
from workers.api_models import (
    OPERATOR_ERRORS,
    AuditEntry,
    AuditPage,
    OperatorKeyView,
    OperatorView,
)


def audit_router(access: Access, store: Store) -> APIRouter:
    router = APIRouter(responses=OPERATOR_ERRORS, tags=["operators"])
    keys = OperatorKeys(store)
    # Dependencies as defaults, not Annotated aliases: these are local to the factory,
    # and FastAPI resolves (postponed) annotations in the module's namespace only.
    signed_in = Depends(access.require(Role.VIEWER))
    admin = Depends(access.require(Role.ADMIN))

    @router.get("/api/me", response_model=OperatorView)
    async def me(who: Operator = signed_in) -> OperatorView:
        """The operator the credential names and their role (the console hides what the
        role may not do; the API refuses it anyway)."""
        return OperatorView(
            name=who.name, role=who.role, sign_in=who.sign_in, credential_id=who.credential_id
        )

    @router.get("/api/audit", response_model=AuditPage)
    async def audit(
        who: Operator = admin,
        actor: str | None = None,
        action: Annotated[
            str | None, Query(description="e.g. exception.retry, reconciliation.run")
        ] = None,
        outcome: AuditOutcome | None = None,
        target: Annotated[str | None, Query(description="an exception id, a run…")] = None,
        subject_id: Annotated[str | None, Query(description="e.g. an opportunity id")] = None,
        address: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: Annotated[int | None, Query(description="next_before of the last page")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> AuditPage:
        """Every operator action and refused attempt, newest first, a page at a time."""
        query = AuditQuery(
            actor=actor,
            action=action,
            outcome=outcome,
            target=target,
            subject_id=subject_id,
            address=address,
            since=since,
            until=until,
        )
        rows = await access.audit.page(query, before=before, limit=limit)
        entries = [AuditEntry.of(row) for row in rows]
        return AuditPage(
            entries=entries, next_before=entries[-1].id if len(entries) == limit else None
        )

    @router.get("/api/operators", response_model=list[OperatorKeyView])
    async def operators(who: Operator = admin) -> list[OperatorKeyView]:
        """Every personal key ever issued (revoked ones too): whose, which role, by whom."""
        return [
            OperatorKeyView.model_validate(row, from_attributes=True) for row in await keys.every()
        ]

    @router.post(
        "/api/operators/{operator}/revoke",
        response_model=list[OperatorKeyView],
        openapi_extra=audited(AuditAction.OPERATOR_REVOKED),
    )
    async def revoke(
        operator: str, request: Request, who: Operator = admin
    ) -> list[OperatorKeyView]:
        """Revoke the operator's live keys (or the one key with this id): refused from the
        next request on, on every API replica."""
        revoked = await keys.revoke(operator, revoked_by=who.name)
        await access.record(
            request,
            who,
            AuditAction.OPERATOR_REVOKED,
            AuditOutcome.DONE if revoked else AuditOutcome.FAILED,
            status=200 if revoked else 404,
            target=operator,
            reason=None if revoked else "no live key",
            detail={"key_ids": [row.key_id for row in revoked]},
        )
        if not revoked:
            raise HTTPException(404, f"{operator} has no live key")
        return [OperatorKeyView.model_validate(row, from_attributes=True) for row in revoked]

    return router
