"""Connector errors to Temporal retry semantics, in this one place.

Retryable failures stay retryable and the engine backs off (a rate limit asks for a
specific delay). Failures retrying cannot fix are non-retryable and carry a type the
workflow recognises, so it parks the run for a person instead of failing it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar

from temporalio import activity
from temporalio.exceptions import ApplicationError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    PositionLostError,
    RateLimitedError,
    RejectedError,
    TransientError,
)

# The error types a workflow may see, as ``ApplicationError.type``.
TRANSIENT = "Transient"
RATE_LIMITED = "RateLimited"
REJECTED = "Rejected"
NOT_FOUND = "NotFound"
AUTH_FAILED = "AuthFailed"
UNEXPECTED = "Unexpected"
"""An error no connector explains, given up on after ``UnexpectedErrors.attempts``."""
POSITION_LOST = "PositionLost"
"""A stream's position is past what the system keeps: the gap needs reconciling."""

NON_RETRYABLE_TYPES = (REJECTED, NOT_FOUND, AUTH_FAILED, UNEXPECTED, POSITION_LOST)


def to_application_error(error: ConnectorError) -> ApplicationError:
    details = {"system": error.system, "code": error.code or "", "message": error.message}
    if isinstance(error, RateLimitedError):
        delay = timedelta(seconds=error.retry_after) if error.retry_after else None
        return ApplicationError(
            str(error), details, type=RATE_LIMITED, non_retryable=False, next_retry_delay=delay
        )
    if isinstance(error, TransientError):
        return ApplicationError(str(error), details, type=TRANSIENT, non_retryable=False)
    if isinstance(error, PositionLostError):
        return ApplicationError(str(error), details, type=POSITION_LOST, non_retryable=True)
    if isinstance(error, RejectedError):
        details["fields"] = ",".join(error.fields)
        return ApplicationError(str(error), details, type=REJECTED, non_retryable=True)
    if isinstance(error, NotFoundError):
        return ApplicationError(str(error), details, type=NOT_FOUND, non_retryable=True)
    if isinstance(error, AuthError):
        return ApplicationError(str(error), details, type=AUTH_FAILED, non_retryable=True)
    return ApplicationError(str(error), details, type=TRANSIENT, non_retryable=False)


P = ParamSpec("P")
R = TypeVar("R")


def translate_connector_errors(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except ConnectorError as error:
            raise to_application_error(error) from None

    return wrapper


class UnexpectedErrors(Interceptor):
    """Bounds the retries of what no connector explains.

    A ``KeyError`` in a mapping or a validation error on a malformed answer does not
    pass by itself: retried forever, it would leave a deal ``validating`` with no
    exception row. After ``attempts`` tries the error becomes non-retryable
    ``Unexpected`` with its type and message, and the workflow parks for a person;
    the operator's retry then starts a fresh round of attempts. Connector errors keep
    their own semantics (an outage is retried as long as it lasts).
    """

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _GivesUpOnUnexpected(next, self.attempts)


class _GivesUpOnUnexpected(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, attempts: int) -> None:
        super().__init__(next)
        self._attempts = attempts

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await super().execute_activity(input)
        except (ApplicationError, ConnectorError):
            raise
        except Exception as error:
            if activity.info().attempt < self._attempts:
                raise
            raise ApplicationError(
                f"{type(error).__name__}: {error}",
                {"error_type": type(error).__name__, "attempts": str(self._attempts)},
                type=UNEXPECTED,
                non_retryable=True,
            ) from error
