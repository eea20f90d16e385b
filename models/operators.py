"""Who acts on Syncline: named operators, their roles, and what the audit trail says of
each action they take (or were refused)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel


class Role(StrEnum):
    """What an operator may do; each role may do everything the one before it may."""

    VIEWER = "viewer"
    """Read deals, exceptions, reports, reconciliations and the console."""
    OPERATOR = "operator"
    """Also retry parked runs and start reconciliations."""
    ADMIN = "admin"
    """Also read the audit trail and manage operators."""

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank

    @classmethod
    def named(cls, value: object) -> Role | None:
        """The role a claim or an argument names, None for anything else."""
        return next((role for role in cls if role.value == value), None)


class SignIn(StrEnum):
    """How an operator proved who they are."""

    KEY = "key"
    """A personal API key (``syncline operators add``)."""
    OIDC = "oidc"
    """A bearer token from the company's identity provider."""
    SHARED_TOKEN = "shared_token"
    """The deprecated ``SYNCLINE_API_TOKEN``: an admin nobody can name."""
    LOCAL = "local"
    """The command line with the database's own credentials (creating keys, exporting)."""


SHARED_TOKEN_ACTOR = "shared-token"
"""The actor recorded for the deprecated shared token: it names no person."""


class Operator(BaseModel):
    """An authenticated caller."""

    name: str
    role: Role
    sign_in: SignIn
    credential_id: str | None = None
    """The key's public id, or the identity provider's subject; never a secret."""


class AuditOutcome(StrEnum):
    DONE = "done"
    REFUSED = "refused"
    """Not let in: a bad credential (401), a role that may not (403)."""
    FAILED = "failed"
    """Let in, but the action could not be done (no such exception, already resolved)."""


class AuditAction(StrEnum):
    """The actions an operator takes; a refused request to any other route is recorded
    under its method and path template (``GET /api/deals/{crm_opportunity_id}``)."""

    RETRY = "exception.retry"
    RECONCILE = "reconciliation.run"
    EXPORT_FINDINGS = "export.findings_csv"
    EXPORT_LEDGER = "export.ledger"
    OPERATOR_ADDED = "operator.add"
    OPERATOR_REVOKED = "operator.revoke"
