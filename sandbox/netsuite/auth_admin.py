"""What a NetSuite administrator does in the UI to let an integration in, as admin
routes: map a certificate for OAuth 2.0 client credentials (Setup > Integration >
Manage Authentication > OAuth 2.0 Client Credentials (M2M) Setup), create a
token-based authentication access token (Setup > Users/Roles > Access Tokens), revoke
either, and read the Login Audit Trail.

``restore`` has no counterpart in NetSuite, where a revoked mapping or token stays
revoked and a new one is made: it lets a test take a running stack's credential
away and give it back without reconfiguring the worker.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from sandbox.netsuite.certificates import CertificateRefused
from sandbox.netsuite.credentials import CredentialConflict
from sandbox.netsuite.state import NetSuiteSandbox


class CertificateUpload(BaseModel):
    client_id: str = Field(min_length=1, description="the integration record's client id")
    certificate: str = Field(description="the public certificate, x.509 PEM")


class TbaTokenRequest(BaseModel):
    """Values to register; any left out are generated (and shown once, in the answer)."""

    consumer_key: str | None = Field(None, min_length=1)
    consumer_secret: str | None = Field(None, min_length=1)
    token_id: str | None = Field(None, min_length=1)
    token_secret: str | None = Field(None, min_length=1)


def auth_admin_router(sandbox: NetSuiteSandbox) -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])
    credentials = sandbox.credentials

    @router.get("/oauth2/certificates")
    async def list_certificates() -> list[dict[str, Any]]:
        return [mapping.public() for mapping in credentials.certificates()]

    @router.post("/oauth2/certificates")
    async def map_certificate(upload: CertificateUpload) -> dict[str, Any]:
        try:
            mapping = await credentials.map_certificate(upload.client_id, upload.certificate)
        except CertificateRefused as refused:
            raise HTTPException(400, str(refused)) from None
        return mapping.public()

    async def _certificate(certificate_id: str, revoked: bool) -> dict[str, Any]:
        mapping = await credentials.set_certificate_revoked(certificate_id, revoked)
        if mapping is None:
            raise HTTPException(404, f"no certificate {certificate_id}")
        return mapping.public()

    @router.post("/oauth2/certificates/{certificate_id}/revoke")
    async def revoke_certificate(certificate_id: str) -> dict[str, Any]:
        return await _certificate(certificate_id, True)

    @router.post("/oauth2/certificates/{certificate_id}/restore")
    async def restore_certificate(certificate_id: str) -> dict[str, Any]:
        return await _certificate(certificate_id, False)

    @router.get("/tba/tokens")
    async def list_tba_tokens() -> list[dict[str, Any]]:
        return [token.public() for token in credentials.tba_tokens()]

    @router.post("/tba/tokens")
    async def create_tba_token(request: TbaTokenRequest) -> dict[str, Any]:
        try:
            token = await credentials.add_tba_token(
                request.consumer_key,
                request.consumer_secret,
                request.token_id,
                request.token_secret,
            )
        except CredentialConflict as conflict:
            raise HTTPException(409, str(conflict)) from None
        return {
            **token.public(),
            "consumer_secret": token.consumer_secret,
            "token_secret": token.token_secret,
        }

    async def _tba(token_id: str, revoked: bool) -> dict[str, Any]:
        token = await credentials.set_tba_revoked(token_id, revoked)
        if token is None:
            raise HTTPException(404, f"no token {token_id}")
        return token.public()

    @router.post("/tba/tokens/{token_id}/revoke")
    async def revoke_tba_token(token_id: str) -> dict[str, Any]:
        return await _tba(token_id, True)

    @router.post("/tba/tokens/{token_id}/restore")
    async def restore_tba_token(token_id: str) -> dict[str, Any]:
        return await _tba(token_id, False)

    @router.get("/login-audit-trail")
    async def login_audit_trail() -> list[dict[str, Any]]:
        return sandbox.auth.audit.entries()

    return router
