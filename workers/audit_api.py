"""Who is signed in, the audit trail, and the operators' keys (the last two: admins only).

Keys are created only by ``syncline operators add``, which shows the key once on the
terminal of whoever holds the database's credentials: no API answer ever carries one.
An admin may list and revoke them here, e.g. from a laptop when someone leaves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import AwareDatetime

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
    invalid,
)

# Filters are compared in SQL: no NUL (PostgreSQL refuses it in text), nothing huge.
Filter = Annotated[str | None, Query(max_length=512, pattern=r"^[^\x00]*$")]
Instant = Annotated[AwareDatetime | None, Query(description="with its UTC offset")]


def _utc(value: datetime | None, name: str) -> datetime | None:
    try:
        return value.astimezone(UTC) if value is not None else None
    except OverflowError:
        raise invalid(("query", name), "out of range") from None


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
        actor: Filter = None,
        action: Filter = None,
        outcome: AuditOutcome | None = None,
        target: Filter = None,
        subject_id: Filter = None,
        address: Filter = None,
        since: Instant = None,
        until: Instant = None,
        before: Annotated[
            int | None, Query(ge=1, le=2**31 - 1, description="next_before of the last page")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ) -> AuditPage:
        """Every operator action and refused attempt, newest first, a page at a time;
        ``action`` e.g. ``exception.retry``, ``target`` an exception id or a run,
        ``subject_id`` e.g. an opportunity id."""
        query = AuditQuery(
            actor=actor,
            action=action,
            outcome=outcome,
            target=target,
            subject_id=subject_id,
            address=address,
            since=_utc(since, "since"),
            until=_utc(until, "until"),
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
