"""The one door of every operator route: who is asking, may their role do this, and the
audit trail of what they did or were refused.

Each route depends on ``access.require(role)``. The dependency runs before the handler,
so a refused request never reaches one: it is answered 401 (no valid credential), 403
(the role may not) or 429 (locked out, or over the operator's rate), and every 401 and
403 is one row of the audit trail, with the reason the answer gives, under the action
the route declares (``openapi_extra=audited(...)``) or else its method and path.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any, NoReturn

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from models.operators import AuditOutcome, Operator, Role
from models.tables import AuditRow
from store import Store
from store.audit import AuditTrail
from workers.access.identify import Identifier
from workers.access.lockout import Lockout
from workers.access.refusal import Refused
from workers.rate_limits import RateLimit
from workers.settings import Settings

log = logging.getLogger(__name__)

_BEARER = HTTPBearer(
    auto_error=False,
    description="A personal key (syncline operators add) or an identity provider token",
)


AUDIT_ACTION = "x-syncline-audit-action"


def audited(action: str) -> dict[str, Any]:
    """A route's ``openapi_extra``: the action its calls are audited under (refused ones
    too, whichever of the router's or the route's dependencies refused them)."""
    return {AUDIT_ACTION: action}


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


class Access:
    """Built once per app; shared by every router."""

    def __init__(self, settings: Settings, store: Store) -> None:
        self.audit = AuditTrail(store)
        self._identifier = Identifier(settings, store)
        self._lockout = Lockout(
            self.audit,
            settings.auth_lockout_refusals,
            timedelta(minutes=settings.auth_lockout_minutes),
        )
        self._rate = RateLimit(settings.api_operator_rate_limit)

    def require(self, role: Role) -> Callable[..., Awaitable[Operator]]:
        """A dependency letting in operators of ``role`` or above."""

        async def operator(
            request: Request,
            credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
        ) -> Operator:
            who = await self._identify(request, credentials)
            if not who.role.allows(role):
                reason = f"the {who.role} role may not do this (needs {role})"
                await self._refuse(request, Refused(reason, status=403), who)
            return who

        return operator

    async def _identify(
        self,
        request: Request,
        credentials: HTTPAuthorizationCredentials | None,
    ) -> Operator:
        known: Operator | None = getattr(request.state, "operator", None)
        if known is not None:  # a router's and a route's dependency in one request
            return known
        address = client_address(request)
        wait = await self._lockout.of_address(address)
        if wait is not None:
            raise _locked_out("this address", wait)
        try:
            who = await self._identifier.identify(credentials.credentials if credentials else None)
        except Refused as refused:
            await self._refuse(request, refused, None)
        wait = await self._lockout.of_operator(who.name)
        if wait is not None:
            raise _locked_out(f"operator {who.name}", wait)
        verdict = await self._rate.take("operator", who.name)
        if not verdict.allowed:
            raise HTTPException(
                429,
                f"{who.name} made more than {self._rate.rate} requests; retry later",
                headers={"Retry-After": str(verdict.retry_after_seconds)},
            )
        request.state.operator = who
        return who

    async def _refuse(self, request: Request, refused: Refused, who: Operator | None) -> NoReturn:
        """Audit the refusal, then answer it."""
        await self.record(
            request,
            who,
            action_of(request),
            AuditOutcome.REFUSED if refused.status in (401, 403) else AuditOutcome.FAILED,
            status=refused.status,
            reason=refused.reason,
            actor=refused.actor,
            credential_id=refused.credential_id,
            target=_printable("/".join(str(v) for v in request.path_params.values())) or None,
        )
        headers = {"WWW-Authenticate": "Bearer"} if refused.status == 401 else None
        raise HTTPException(refused.status, refused.reason, headers=headers)

    async def record(
        self,
        request: Request,
        who: Operator | None,
        action: str,
        outcome: AuditOutcome,
        *,
        status: int,
        target: str | None = None,
        subject_id: str | None = None,
        reason: str | None = None,
        detail: dict[str, Any] | None = None,
        actor: str | None = None,
        credential_id: str | None = None,
    ) -> None:
        """One row of the audit trail for this request."""
        await self.audit.append(
            AuditRow(
                actor=who.name if who else actor,
                role=who.role if who else None,
                sign_in=who.sign_in if who else None,
                credential_id=who.credential_id if who else credential_id,
                action=action,
                target=target,
                subject_id=subject_id,
                address=client_address(request),
                outcome=outcome,
                status=status,
                reason=reason,
                detail=detail or {},
            )
        )


def _printable(text: str) -> str:
    """A caller's own text, fit for the trail: PostgreSQL refuses NUL in text (the row,
    and with it the record of the refusal, would be lost), and nobody needs a megabyte."""
    return text.replace("\x00", "\\x00")[:512]


def action_of(request: Request) -> str:
    route = request.scope.get("route")
    declared = (getattr(route, "openapi_extra", None) or {}).get(AUDIT_ACTION)
    return _printable(
        str(declared or f"{request.method} {getattr(route, 'path', request.url.path)}")
    )


def _locked_out(whom: str, seconds: int) -> HTTPException:
    return HTTPException(
        429,
        f"too many refused attempts by {whom}; retry in {seconds} s",
        headers={"Retry-After": str(seconds)},
    )
