"""The one error taxonomy every connector raises.

A connector turns its API's failures into exactly one of these; ``activities/errors.py``
maps them to Temporal retry semantics in one place. Messages never contain secrets.
"""

from __future__ import annotations


class ConnectorError(Exception):
    """Base of every failure a connector reports."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status_code: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.system = system
        self.status_code = status_code
        self.code = code

    def __str__(self) -> str:
        parts = [f"{self.system}: {self.message}"]
        if self.code:
            parts.append(f"[{self.code}]")
        if self.status_code is not None:
            parts.append(f"(HTTP {self.status_code})")
        return " ".join(parts)


class TransientError(ConnectorError):
    """Worth retrying as is: a timeout, a dropped connection, a 5xx."""


class RateLimitedError(TransientError):
    """The system asked us to slow down (429, or a concurrency limit exceeded)."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status_code: int | None = None,
        code: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, system=system, status_code=status_code, code=code)
        self.retry_after = retry_after


class RejectedError(ConnectorError):
    """The system refused the request on its merits; retrying the same data fails again."""

    def __init__(
        self,
        message: str,
        *,
        system: str,
        status_code: int | None = None,
        code: str | None = None,
        fields: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message, system=system, status_code=status_code, code=code)
        self.fields = fields


class PositionLostError(RejectedError):
    """A stream cannot resume where it stopped: what came after that position is no
    longer kept (a change event replay id past the CRM's retention)."""


class NotFoundError(ConnectorError):
    """The record does not exist."""


class AuthError(ConnectorError):
    """Credentials were refused even after a fresh token."""
