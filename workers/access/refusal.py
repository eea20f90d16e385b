"""Why a request was not let in: what the 401 (or 403) says, and who it was, if known."""

from __future__ import annotations


class Refused(Exception):
    def __init__(
        self,
        reason: str,
        *,
        status: int = 401,
        actor: str | None = None,
        credential_id: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        """Says which check failed, never what the credential held."""
        self.status = status
        self.actor = actor
        """The operator the credential named (a revoked key's owner), when it named one."""
        self.credential_id = credential_id
