"""The inbox relay: signals Temporal from the webhook inbox, inside every API process.

The ingress answers 202 once a delivery is stored ``pending`` (``store/inbox.py``); this
loop then routes it exactly as the ingress used to (``CrmTriggerRouter``: a closed-won
callout by signal-with-start of its deal, a change to the running deal or mirror) and
settles it ``accepted`` or ``ignored``.

- Once each, in order per record: a claim holds only the head of each record's queue
  (several at a time, of different records, signalled concurrently), and a delivery is
  settled in the transaction that claimed it. A relay killed after signalling and before
  its commit leaves the delivery pending, and the next claim signals it again: the deal
  counts a second closed-won and does nothing with it (its id is the business key), a
  change signal makes the workflow read the record again. Nothing is skipped.
- Shared by replicas: on PostgreSQL the claim skips rows another relay holds, and a
  record's next delivery is not a head until the earlier one is committed settled.
- Temporal unavailable (or the database): the deliveries stay pending with the error,
  and the relay backs off, doubling up to ``max_backoff``.
- Temporal refusing a delivery for good (a bad argument) or a body that no longer
  parses: settled ``failed`` with the reason and an exception parked (``inbox:`` +
  delivery id; retry puts it back in the inbox). The record's later deliveries go on:
  each is only a trigger, and the workflow re-reads the CRM, so holding them back
  behind a person would delay every later change of the deal and protect nothing.

Woken by the ingress right after a write (an in-process event); polls every
``poll_seconds`` too, for what other replicas stored and a replica that died left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from temporalio.service import RPCError, RPCStatusCode

from activities.crm_triggers import CrmTriggerRouter, TriggerSource, records_named
from models.tables import DeliveryStatus, ExceptionRow, WebhookDelivery
from models.types import utc_now
from models.webhooks import UnsupportedWebhook, parse_salesforce_webhook
from store import Store
from store.inbox import Claim, Fate, Inbox
from telemetry.correlation import correlation_scope
from telemetry.metrics import INBOX_RELAY_ATTEMPTS, INBOX_RELAY_LAG

log = logging.getLogger(__name__)

INBOX_PREFIX = "inbox:"
"""The exception of a delivery the relay could not signal: ``inbox:<delivery id>``."""
# Temporal's answers that no later attempt changes: the request itself is wrong.
_REFUSED_FOR_GOOD = {
    RPCStatusCode.INVALID_ARGUMENT,
    RPCStatusCode.FAILED_PRECONDITION,
    RPCStatusCode.OUT_OF_RANGE,
    RPCStatusCode.UNIMPLEMENTED,
}
_PROPAGATOR = TraceContextTextMapPropagator()


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    IGNORED = "ignored"
    FAILED = "failed"
    UNAVAILABLE = "unavailable"
    SKIPPED = "skipped"
    """Not tried: an earlier attempt in the same pass found Temporal unavailable."""


@dataclass
class Attempt:
    delivery: WebhookDelivery
    outcome: Outcome
    reason: str | None = None
    workflow_id: str | None = None


@dataclass(frozen=True)
class RelayPass:
    claimed: int
    unavailable: bool


def order_keys(delivery: WebhookDelivery) -> list[str]:
    """The records a stored delivery names (its body was valid when it was stored)."""
    try:
        return records_named(parse_salesforce_webhook(json.loads(delivery.raw_body)))
    except (ValueError, ValidationError):
        return [delivery.subject_id or delivery.id]


def trace_context_now() -> str | None:
    """The current span's W3C ``traceparent``, to store with a delivery."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


class InboxRelay:
    def __init__(
        self,
        store: Store,
        router: CrmTriggerRouter,
        *,
        poll_seconds: float = 1.0,
        max_backoff_seconds: float = 10.0,
        batch: int = 100,
        concurrency: int = 16,
    ) -> None:
        self._store = store
        self._inbox = Inbox(store)
        self._router = router
        self._poll = poll_seconds
        self._max_backoff = max_backoff_seconds
        self._batch = batch
        self._concurrency = asyncio.Semaphore(concurrency)
        self._woken = asyncio.Event()
        self.tracer = trace.get_tracer("syncline.inbox")
        """The process's (``instrument_api`` may hand it another provider's)."""

    def wake(self) -> None:
        """A delivery was just stored: relay it now rather than at the next poll."""
        self._woken.set()

    async def run(self) -> None:
        """Until cancelled (the app's lifespan ends)."""
        backoff = 0.0
        while True:
            self._woken.clear()
            try:
                relayed = await self.relay_once()
            except (SQLAlchemyError, OSError) as error:
                log.warning("inbox relay: the database is unavailable: %s", error)
                relayed = RelayPass(claimed=0, unavailable=True)
            except Exception:  # a bug must not end the relay while the API answers 202
                log.exception("inbox relay: a pass failed; its claim is rolled back")
                relayed = RelayPass(claimed=0, unavailable=True)
            if relayed.unavailable:
                # Deliveries keep arriving during an outage: a wake-up must not shorten
                # the back-off, or every write would hammer a server that is down.
                backoff = min(self._max_backoff, max(0.25, backoff * 2))
                await asyncio.sleep(backoff)
                continue
            backoff = 0.0
            if relayed.claimed >= self._batch:
                continue  # more are waiting
            with contextlib.suppress(TimeoutError):  # the poll: nobody woke it
                await asyncio.wait_for(self._woken.wait(), timeout=self._poll)

    async def relay_once(self) -> RelayPass:
        """One claim: signal its deliveries, settle them, commit."""
        async with self._inbox.claim(self._batch) as claim:
            if not claim.deliveries:
                return RelayPass(claimed=0, unavailable=False)
            unavailable = asyncio.Event()
            attempts = await asyncio.gather(
                *(self._attempt(delivery, unavailable) for delivery in claim.deliveries)
            )
            await self._settle(claim, attempts)
        for attempt in attempts:
            if attempt.outcome in (Outcome.ACCEPTED, Outcome.IGNORED):
                lag = (utc_now() - attempt.delivery.received_at).total_seconds()
                INBOX_RELAY_LAG.record(max(lag, 0.0))
        return RelayPass(claimed=len(attempts), unavailable=unavailable.is_set())

    async def _attempt(self, delivery: WebhookDelivery, unavailable: asyncio.Event) -> Attempt:
        async with self._concurrency:
            if unavailable.is_set():
                return Attempt(delivery, Outcome.SKIPPED)
            parent = _PROPAGATOR.extract({"traceparent": delivery.traceparent or ""})
            with (
                self.tracer.start_as_current_span(
                    "inbox.relay",
                    context=parent,
                    attributes={
                        "syncline.correlation_id": delivery.correlation_id,
                        "syncline.delivery_id": delivery.id,
                        "syncline.relay_attempt": delivery.relay_attempts + 1,
                    },
                ) as span,
                correlation_scope(delivery.correlation_id),
            ):
                attempt = await self._signal(delivery)
                span.set_attribute("syncline.outcome", str(attempt.outcome))
                if attempt.outcome in (Outcome.FAILED, Outcome.UNAVAILABLE):
                    span.set_status(Status(StatusCode.ERROR, attempt.reason))
            INBOX_RELAY_ATTEMPTS.add(1, {"syncline.outcome": str(attempt.outcome)})
            if attempt.outcome == Outcome.UNAVAILABLE:
                unavailable.set()
            return attempt

    async def _signal(self, delivery: WebhookDelivery) -> Attempt:
        try:
            trigger = parse_salesforce_webhook(json.loads(delivery.raw_body))
        except (ValueError, UnsupportedWebhook, ValidationError) as error:
            return Attempt(delivery, Outcome.FAILED, f"the stored body no longer parses: {error}")
        source = TriggerSource(delivery.id, delivery.correlation_id, delivery.received_at)
        try:
            routed = await self._router.route(trigger, source)
        except RPCError as error:
            reason = f"temporal: {error.message}"
            if error.status in _REFUSED_FOR_GOOD:
                return Attempt(delivery, Outcome.FAILED, reason)
            return Attempt(delivery, Outcome.UNAVAILABLE, reason)
        except (SQLAlchemyError, OSError) as error:
            return Attempt(delivery, Outcome.UNAVAILABLE, f"database: {error}"[:500])
        except Exception as error:
            log.exception("inbox relay: delivery %s could not be signalled", delivery.id)
            return Attempt(delivery, Outcome.FAILED, f"{type(error).__name__}: {error}"[:500])
        if routed.workflow_ids:
            return Attempt(delivery, Outcome.ACCEPTED, workflow_id=routed.workflow_ids[0])
        reason = "; ".join(routed.ignored) or "not a closed-won transition"
        return Attempt(delivery, Outcome.IGNORED, reason)

    async def _settle(self, claim: Claim, attempts: Sequence[Attempt]) -> None:
        # Exceptions first, each its own write, before the claim writes anything (on
        # SQLite the claim's first write holds the database's one write lock): a
        # delivery is never failed without its exception, and a crash before the claim
        # commits repeats the attempt, which finds the same exception (the delivery's id).
        for attempt in attempts:
            if attempt.outcome == Outcome.FAILED:
                await self._park(attempt.delivery, attempt.reason or "refused")
        await self._inbox.resolve_parked(
            [
                f"{INBOX_PREFIX}{attempt.delivery.id}"
                for attempt in attempts
                if attempt.outcome in (Outcome.ACCEPTED, Outcome.IGNORED)
                and attempt.delivery.relay_error is not None
            ]
        )
        settled_as = {
            Outcome.ACCEPTED: DeliveryStatus.ACCEPTED,
            Outcome.IGNORED: DeliveryStatus.IGNORED,
            Outcome.FAILED: DeliveryStatus.FAILED,
        }
        await claim.record(
            [
                Fate(a.delivery, settled_as.get(a.outcome), a.workflow_id, a.reason)
                for a in attempts
                if a.outcome != Outcome.SKIPPED
            ]
        )

    async def _park(self, delivery: WebhookDelivery, reason: str) -> None:
        log.error("inbox relay: delivery %s refused: %s", delivery.id, reason)
        await self._store.open_exception(
            ExceptionRow(
                id=f"{INBOX_PREFIX}{delivery.id}",
                workflow_id=f"{INBOX_PREFIX}{delivery.id}",
                subject_id=delivery.subject_id or delivery.id,
                reason="webhook_not_relayed",
                step="inbox:relay",
                message=f"delivery {delivery.id} could not be signalled: {reason}",
                details={"delivery_id": delivery.id, "planned_workflow_id": delivery.workflow_id},
                correlation_id=delivery.correlation_id,
            )
        )
