"""Waiting for a person: one exception row per problem, resumed by an operator's retry.

Every process parks this way (deals, the change feed, mirrors, renewals). A step that needs a person
parks: the exception is opened (a local activity, so the queue and ``syncline
exceptions`` show it), and the run waits for a ``retry`` signal, or for news that
makes the wait moot (a newer ERP snapshot). When the step then passes, the row closes.

A run that must go on with other work while one part of it waits (the change feed
polls its other kinds) opens the exception without waiting (``open``) and asks
``take_retry`` when it next comes round to that part; what it carries across
continue-as-new it hands back with ``adopt``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.errors import AUTH_FAILED, NOT_FOUND, REJECTED, UNEXPECTED
    from activities.ledger import LedgerActivities
    from models.deal import DealException, ExceptionReason, RetryRequest
    from models.messages import OpenExceptionInput, ResolveExceptionInput
    from workflows.policies import LOCAL_TIMEOUT


def needs_a_person(
    error: ActivityError | ApplicationError, refused: ExceptionReason
) -> tuple[ExceptionReason, str] | None:
    """Why a failed step waits for a person, and what to tell them; None when the
    failure is not one a person fixes (the caller lets it propagate).

    ``error`` is the activity's failure as the workflow sees it: an ``ActivityError``
    around the activity's ``ApplicationError`` for a remote activity, the
    ``ApplicationError`` itself for a local one (as the Python SDK 1.35 delivers a
    non-retryable local activity failure; seen in ``tests/workflows/test_crm_faults``).
    ``refused`` names the system that said no (a rejection or a missing record)."""
    cause = error.cause if isinstance(error, ActivityError) else error
    if not isinstance(cause, ApplicationError):
        return None
    if cause.type in (REJECTED, NOT_FOUND):
        return refused, cause.message
    if cause.type == AUTH_FAILED:
        return ExceptionReason.AUTH_FAILED, cause.message
    if cause.type == UNEXPECTED:
        return ExceptionReason.UNEXPECTED_ERROR, cause.message
    return None


class Parking:
    def __init__(self, subject_id: str, correlation_id: str) -> None:
        self._subject_id = subject_id
        self._correlation_id = correlation_id
        self._retries = 0
        self._retries_at_open = 0
        self.open_exception: DealException | None = None
        self.retries_taken = 0
        self.opened = 0
        """Distinct problems this run has parked on."""
        self.retry_requested_by: str | None = None
        """Who asked for the newest retry counted (None: Syncline itself)."""

    def request_retry(self, request: RetryRequest) -> None:
        """The ``retry`` signal: counts only for the exception that is open now."""
        current = self.open_exception
        if current is not None and request.exception_id in (None, current.id):
            self._retries += 1
            self.retry_requested_by = request.requested_by

    @property
    def retry_requested(self) -> bool:
        """A retry came for the open exception since it was (re)opened."""
        return self.open_exception is not None and self._retries > self._retries_at_open

    def take_retry(self) -> bool:
        """Whether a retry came since the exception was (re)opened; it counts once."""
        if not self.retry_requested:
            return False
        self._retries_at_open = self._retries
        self.retries_taken += 1
        return True

    def adopt(self, exception: DealException, *, retry_requested: bool = False) -> None:
        """Take over the exception an earlier run left open (before continue-as-new),
        and the retry it had received and not yet acted on."""
        self.open_exception = exception
        self._retries_at_open = self._retries
        if retry_requested:
            self._retries += 1

    async def park(
        self,
        step: str,
        reason: ExceptionReason,
        message: str,
        *,
        details: dict[str, str] | None = None,
        wake: Callable[[], bool] = lambda: False,
        on_open: Callable[[DealException], Awaitable[None]] | None = None,
    ) -> None:
        """Open (or reopen) the exception and wait for a retry or ``wake()``.

        ``on_open`` runs once the exception is recorded and before the wait, for what a
        process records with it (a deal's ``order.rejected``)."""
        retries_before = self._retries
        exception = await self.open(step, reason, message, details=details)
        if on_open is not None:
            await on_open(exception)
        await workflow.wait_condition(lambda: self._retries > retries_before or wake())
        if self._retries > retries_before:
            self.retries_taken += 1
        else:
            self.retry_requested_by = None  # woken by news, not by a person

    async def open(
        self,
        step: str,
        reason: ExceptionReason,
        message: str,
        *,
        details: dict[str, str] | None = None,
    ) -> DealException:
        """Open (or reopen) the exception and return it at once; ``take_retry`` says
        when the operator asks for the step again."""
        self._retries_at_open = self._retries
        current = self.open_exception
        if current is not None and (current.step, current.reason) == (step, reason):
            # The same problem again after a retry: one row, however many attempts.
            exception = current.model_copy(update={"message": message})
        else:
            await self.close()
            self.opened += 1
            exception = DealException(
                id=f"{workflow.info().workflow_id}:{workflow.uuid4().hex[:12]}",
                reason=reason,
                step=step,
                message=message,
                opened_at=workflow.now(),
            )
        self.open_exception = exception
        await workflow.execute_local_activity_method(
            LedgerActivities.open_exception,
            OpenExceptionInput(
                exception_id=exception.id,
                workflow_id=workflow.info().workflow_id,
                subject_id=self._subject_id,
                reason=reason,
                step=step,
                message=message,
                details=details or {},
                correlation_id=self._correlation_id,
            ),
            start_to_close_timeout=LOCAL_TIMEOUT,
        )
        return exception

    async def close(self) -> None:
        """The step passed: resolve the open exception, if any."""
        exception = self.open_exception
        if exception is None:
            return
        await workflow.execute_local_activity_method(
            LedgerActivities.resolve_exception,
            ResolveExceptionInput(exception_id=exception.id),
            start_to_close_timeout=LOCAL_TIMEOUT,
        )
        self.open_exception = None
