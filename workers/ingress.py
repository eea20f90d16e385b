"""Webhook ingress: verify, store, answer. A valid delivery goes into the inbox, whose
relay signals Temporal (``workers/inbox_relay.py``); no Temporal call is made here, so
the 202 follows the one durable write and does not wait for, or depend on, Temporal
(README: "Deliveries: what is stored, and when")."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from activities.crm_triggers import CrmTriggerRouter, deal_workflow_ids, records_named
from models.tables import DeliveryStatus, WebhookDelivery
from models.types import utc_now
from models.webhooks import UnsupportedWebhook, parse_salesforce_webhook
from store import Store
from store.inbox import Inbox, replay_reason
from telemetry.metrics import WEBHOOK_DELIVERIES
from workers.api_models import Problem, WebhookAccepted
from workers.inbox_relay import trace_context_now
from workers.rate_limits import RateLimit
from workers.settings import Settings
from workers.signatures import SIGNATURE_HEADER, TIMESTAMP_HEADER, SignatureError, verify

log = logging.getLogger(__name__)

CORRELATION_HEADER = "X-Correlation-Id"
MAX_BODY_BYTES = 1024 * 1024


def _count(outcome: str, code: int) -> None:
    WEBHOOK_DELIVERIES.add(
        1,
        {
            "syncline.source": "salesforce",
            "syncline.outcome": outcome,
            "http.response.status_code": code,
        },
    )


async def _body_within(request: Request, limit: int) -> tuple[bytes, bool]:
    """The body, read no further than ``limit`` bytes (a huge one is never buffered
    whole), and whether it went past the limit."""
    kept = bytearray()
    async for chunk in request.stream():
        kept += chunk[: limit + 1 - len(kept)]
        if len(kept) > limit:
            return bytes(kept[:limit]), True
    return bytes(kept), False


def _is_json(content_type: str) -> bool:
    """``application/json`` or a ``+json`` type, whatever its parameters (charset…)."""
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


@dataclass
class Received:
    """A delivery as the ingress reads it: the row it becomes, once its fate is known."""

    raw_body: bytes
    content_type: str | None
    correlation_id: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    received_at: datetime = field(default_factory=utc_now)
    signature_valid: bool = False
    signature_digest: str | None = None
    status: DeliveryStatus = DeliveryStatus.RECEIVED
    status_reason: str | None = None
    subject_id: str | None = None
    workflow_id: str | None = None
    traceparent: str | None = None

    def values(self) -> dict[str, Any]:
        return {"source": "salesforce", **asdict(self)}

    def row(self) -> WebhookDelivery:
        return WebhookDelivery(**self.values())


def ingress_router(
    settings: Settings, store: Store, router: CrmTriggerRouter, wake_relay: Callable[[], None]
) -> APIRouter:
    """``router`` only for what the payload alone says (no Temporal call); ``wake_relay``
    after each delivery stored for the relay."""
    api = APIRouter(tags=["ingress"])
    rate = RateLimit(settings.webhook_rate_limit)
    inbox = Inbox(store)

    async def _refuse(delivery: Received, code: int, reason: str, detail: object) -> JSONResponse:
        delivery.status = DeliveryStatus.REJECTED
        delivery.status_reason = reason
        await store.record_delivery(delivery.row())
        _count("rejected", code)
        log.warning("webhook delivery %s refused: %s", delivery.id, reason)
        return JSONResponse(
            Problem(detail=detail, delivery_id=delivery.id).model_dump(mode="json"),
            status_code=code,
        )

    @api.post(
        "/webhooks/salesforce",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=WebhookAccepted,
        responses={code: {"model": Problem} for code in (400, 401, 409, 413, 415, 422, 429)},
        tags=["ingress"],
    )
    async def salesforce_webhook(request: Request) -> JSONResponse:
        """A closed-won callout or change event, signed with the shared secret.

        Every delivery is stored, once, before it is answered, except one over the
        sender's rate (429), which the sender keeps and sends again. A valid one is
        stored ``pending`` and answered 202 at once; the inbox relay signals its
        workflows, in order per record, whether or not Temporal is up right now. If the
        write fails the answer is 500 and nothing is stored or signalled.
        """
        sender = request.client.host if request.client else "unknown"
        verdict = await rate.take("salesforce", sender)
        if not verdict.allowed:
            # Not stored: nothing was taken, and the answer tells the sender to keep the
            # delivery and send it again. Storing every delivery of a flood would let
            # the flood fill the store, which is what the limit is there to prevent.
            log.warning("webhook sender %s over %s", sender, rate.rate)
            _count("throttled", 429)
            return JSONResponse(
                Problem(detail=f"more than {rate.rate} deliveries; retry later").model_dump(
                    mode="json"
                ),
                status_code=429,
                headers={"Retry-After": str(verdict.retry_after_seconds)},
            )
        raw, too_large = await _body_within(request, MAX_BODY_BYTES)
        content_type = request.headers.get("content-type")
        # A plain record until the write: a table model costs more to build than the
        # rest of the request (README, benchmarks: webhook_acks).
        delivery = Received(
            raw_body=raw,
            content_type=content_type,
            correlation_id=request.headers.get(CORRELATION_HEADER) or uuid.uuid4().hex,
        )
        if too_large:
            return await _refuse(delivery, 413, "body too large", "the body exceeds 1 MiB")
        if content_type and not _is_json(content_type):
            reason = f"content type {content_type[:100]!r} is not JSON"
            return await _refuse(delivery, 415, reason, f"{reason}: send application/json")
        signature = request.headers.get(SIGNATURE_HEADER)
        try:
            verify(
                settings.webhook_secrets,
                request.headers.get(TIMESTAMP_HEADER),
                signature,
                raw,
                tolerance_seconds=settings.webhook_tolerance_seconds,
            )
        except SignatureError as error:
            return await _refuse(delivery, 401, f"signature: {error}", str(error))
        delivery.signature_valid = True
        assert signature is not None  # verify() refuses a missing one
        delivery.signature_digest = hashlib.sha256(signature.strip().encode()).hexdigest()
        try:
            body = json.loads(raw)
        except ValueError as error:
            return await _refuse(delivery, 400, "malformed JSON", f"malformed JSON: {error}")
        try:
            trigger = parse_salesforce_webhook(body)
        except UnsupportedWebhook as error:
            return await _refuse(delivery, 422, str(error), str(error))
        except ValidationError as error:
            errors = error.errors(include_url=False, include_input=False, include_context=False)
            reasons = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors)
            return await _refuse(delivery, 422, f"invalid payload: {reasons}"[:500], errors)

        records = records_named(trigger)
        delivery.subject_id = records[0] if records else None
        nothing = router.nothing_to_route(trigger)
        planned: list[str] = []
        if nothing is not None:
            delivery.status = DeliveryStatus.IGNORED
            delivery.status_reason = nothing
        else:
            planned = deal_workflow_ids(trigger)
            delivery.workflow_id = planned[0] if planned else None
            delivery.traceparent = trace_context_now()
            delivery.status = DeliveryStatus.PENDING
        # The one durable write: the delivery (pending, with its place in the inbox, or
        # ignored), unless its signature was taken before. Two copies arriving at once in
        # two replicas can both be taken; they are then duplicates, which the workflow id
        # absorbs. The check stops later replays.
        pending = delivery.status == DeliveryStatus.PENDING
        earlier = await inbox.take(delivery.values(), records if pending else ())
        if earlier is not None:
            reason = replay_reason(earlier)
            _count("rejected", 409)
            log.warning("webhook delivery %s refused: %s", delivery.id, reason)
            problem = Problem(detail=reason, delivery_id=delivery.id)
            return JSONResponse(problem.model_dump(mode="json"), status_code=409)
        if pending:
            wake_relay()
        return _accepted(delivery, planned)

    def _accepted(delivery: Received, workflow_ids: list[str]) -> JSONResponse:
        _count(str(delivery.status), 202)
        body = WebhookAccepted(
            delivery_id=delivery.id,
            workflow_id=workflow_ids[0] if workflow_ids else None,
            workflow_ids=workflow_ids,
            status=delivery.status,
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=202)

    return api
