"""Webhook ingress: verify, then signal Temporal, store, answer (a refusal: store, answer).

A valid delivery is stored after its signal, not before: a failed write answers 500 with
nothing stored though the workflow was signalled (README: "Deliveries: what is stored,
and when")."""

from __future__ import annotations

import hashlib
import json
import logging
import uuid

from fastapi import APIRouter, Request, status
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError

from activities.crm_triggers import CrmTriggerRouter, TriggerSource
from models.tables import DeliveryStatus, WebhookDelivery
from models.webhooks import UnsupportedWebhook, parse_salesforce_webhook
from store import Store
from telemetry.metrics import WEBHOOK_DELIVERIES
from workers.api_models import Problem, WebhookAccepted
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


def ingress_router(settings: Settings, store: Store, client: Client) -> APIRouter:
    api = APIRouter(tags=["ingress"])
    rate = RateLimit(settings.webhook_rate_limit)
    router = CrmTriggerRouter(
        client,
        store,
        task_queue=settings.task_queue,
        erp_system=settings.erp_kind,
        crm_client_name=settings.crm_client_name,
    )

    async def _refuse(
        delivery: WebhookDelivery, code: int, reason: str, detail: object
    ) -> JSONResponse:
        delivery.status = DeliveryStatus.REJECTED
        delivery.status_reason = reason
        await store.record_delivery(delivery)
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
        responses={code: {"model": Problem} for code in (400, 401, 409, 413, 415, 422, 429, 503)},
        tags=["ingress"],
    )
    async def salesforce_webhook(request: Request) -> JSONResponse:
        """A closed-won callout or change event, signed with the shared secret.

        Every delivery is stored, once and with its fate, before it is answered, except
        one over the sender's rate (429), which the sender keeps and sends again. A valid
        one is signalled to Temporal first and stored after (503, stored as failed, when
        Temporal is unavailable); if the write fails the answer is 500 and nothing is
        stored, though the workflow was signalled.
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
        delivery = WebhookDelivery(
            source="salesforce",
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
        digest = hashlib.sha256(signature.strip().encode()).hexdigest()
        # Two copies arriving at the same instant can both pass this check; they are then
        # duplicates, which the workflow id absorbs. The check stops later replays.
        earlier = await store.processed_delivery_signed(digest)
        if earlier is not None:
            reason = f"replayed signature: delivery {earlier.id} was already processed under it"
            return await _refuse(delivery, 409, reason, reason)
        delivery.signature_digest = digest
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

        # One write per delivery, after the signals and before the answer: the sender
        # gets no 2xx for anything not stored, and the ingress spends half the database
        # round trips it would with a received-then-accepted pair of writes.
        source = TriggerSource(delivery.id, delivery.correlation_id, delivery.received_at)
        try:
            routed = await router.route(trigger, source)
        except RPCError as error:
            return await _unavailable(delivery, error)
        delivery.subject_id = routed.subject_id
        if routed.workflow_ids:
            delivery.status = DeliveryStatus.ACCEPTED
            delivery.workflow_id = routed.workflow_ids[0]
        else:
            delivery.status = DeliveryStatus.IGNORED
            delivery.status_reason = "; ".join(routed.ignored) or "not a closed-won transition"
        await store.record_delivery(delivery)
        return _accepted(delivery, routed.workflow_ids)

    async def _unavailable(delivery: WebhookDelivery, error: RPCError) -> JSONResponse:
        delivery.status = DeliveryStatus.FAILED
        delivery.status_reason = f"temporal: {error.message}"
        await store.record_delivery(delivery)
        _count("failed", 503)
        log.error("delivery %s stored but not processed: %s", delivery.id, error.message)
        return JSONResponse(
            Problem(
                detail="stored, not yet processed; retry later", delivery_id=delivery.id
            ).model_dump(mode="json"),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    def _accepted(delivery: WebhookDelivery, workflow_ids: list[str]) -> JSONResponse:
        _count(str(delivery.status), 202)
        body = WebhookAccepted(
            delivery_id=delivery.id,
            workflow_id=workflow_ids[0] if workflow_ids else None,
            workflow_ids=workflow_ids,
            status=delivery.status,
        )
        return JSONResponse(body.model_dump(mode="json"), status_code=202)

    return api
