"""The sandbox org's Pub/Sub API: ``Subscribe``, ``GetSchema`` and ``GetTopic`` over gRPC.

It serves the event bus (``event_bus.py``) on a port of its own, as Salesforce serves
it apart from the REST API (``api.pubsub.salesforce.com:7443``; the sandbox listens in
plain text on 127.0.0.1, where a real endpoint takes TLS only).

Every call must carry a session as metadata, checked as Salesforce checks it: the
``accesstoken`` of a live OAuth session of this org (a revoked or made-up one is
refused), the ``instanceurl`` the token endpoint named and the org id as
``tenantid``. A refusal is ``UNAUTHENTICATED`` with the ``error-code`` trailer
Salesforce documents; which gRPC status Salesforce pairs with it is not documented.

``Subscribe`` is pull-based: the first ``FetchRequest`` names the channel and where to
start (LATEST: after the newest event; EARLIEST: the oldest retained; CUSTOM: after a
replay id), every request adds ``num_requested``, and the server sends at most that
many events. With nothing to send, an empty ``FetchResponse`` carrying the newest
replay id goes out every ``keepalive_seconds`` (Salesforce: within 270 s). A CUSTOM
replay id whose following events were purged (past the 72-hour retention) or that is
not one the bus issued is refused with ``INVALID_ARGUMENT`` and Salesforce's
``…fetch.replayid.corrupted`` trailer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import NoReturn

import anyio.to_thread
import grpc

from models.salesforce_pubsub import (
    ACCESS_TOKEN,
    AUTH_ERROR,
    CUSTOM,
    EARLIEST,
    ERROR_CODE_TRAILER,
    INSTANCE_URL,
    KEEPALIVE_SECONDS,
    REPLAY_ID_CORRUPTED,
    REPLAY_ID_VALIDATION_FAILED,
    SERVICE,
    TENANT_ID,
    TOPIC_NOT_FOUND,
    ConsumerEvent,
    FetchRequest,
    FetchResponse,
    ProducerEvent,
    SchemaInfo,
    SchemaRequest,
    TopicInfo,
    TopicRequest,
)
from sandbox.salesforce.avro_schemas import change_event_schema, schema_by_id
from sandbox.salesforce.event_bus import BusEvent, decode_replay_id, encode_replay_id
from sandbox.salesforce.ids import normalize_id
from sandbox.salesforce.schema import find_object
from sandbox.salesforce.service import SalesforceSandbox

logger = logging.getLogger(__name__)

MAX_EVENTS_PER_RESPONSE = 100


class _Refused(Exception):
    """A call ends with this status, message and Salesforce error code."""

    def __init__(self, status: grpc.StatusCode, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code


@dataclass
class _Subscription:
    topic: str
    entities: frozenset[str]
    position: int
    pending: int
    more: asyncio.Event = field(default_factory=asyncio.Event)
    """Set by the request reader when the subscriber asks for more (or fails)."""
    failure: _Refused | None = None


class PubSubService:
    def __init__(
        self,
        sandbox: SalesforceSandbox,
        instance_url: str,
        *,
        keepalive_seconds: float = KEEPALIVE_SECONDS,
    ) -> None:
        self._sandbox = sandbox
        self._bus = sandbox.bus
        self._instance_url = instance_url.rstrip("/")
        self._keepalive = keepalive_seconds

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "Subscribe": grpc.stream_stream_rpc_method_handler(
                    self.subscribe,
                    request_deserializer=FetchRequest.FromString,
                    response_serializer=FetchResponse.SerializeToString,
                ),
                "GetSchema": grpc.unary_unary_rpc_method_handler(
                    self.get_schema,
                    request_deserializer=SchemaRequest.FromString,
                    response_serializer=SchemaInfo.SerializeToString,
                ),
                "GetTopic": grpc.unary_unary_rpc_method_handler(
                    self.get_topic,
                    request_deserializer=TopicRequest.FromString,
                    response_serializer=TopicInfo.SerializeToString,
                ),
            },
        )

    # --- the session ------------------------------------------------------------------

    async def _authenticate(self, context: grpc.aio.ServicerContext[object, object]) -> None:
        metadata = {key: value for key, value in context.invocation_metadata() or ()}
        token = str(metadata.get(ACCESS_TOKEN, ""))
        instance = str(metadata.get(INSTANCE_URL, "")).rstrip("/")
        tenant = normalize_id(str(metadata.get(TENANT_ID, "")))
        tokens = self._sandbox.tokens
        live = bool(token) and (
            tokens.is_cached(token) or await anyio.to_thread.run_sync(tokens.lookup, token)
        )
        org = normalize_id(self._sandbox.identity.org_id)
        if not (live and instance == self._instance_url and tenant == org):
            # One answer whichever part is wrong: a caller learns nothing from it.
            raise _Refused(
                grpc.StatusCode.UNAUTHENTICATED,
                "An authentication exception occurred. Provide valid authentication "
                "via metadata headers.",
                AUTH_ERROR,
            )

    @staticmethod
    async def _abort(
        context: grpc.aio.ServicerContext[object, object], refused: _Refused, rpc_id: str
    ) -> NoReturn:
        trailers = ((ERROR_CODE_TRAILER, refused.code),) if refused.code else ()
        await context.abort(refused.status, f"{refused.message} rpcId: {rpc_id}", trailers)
        raise AssertionError("abort returned")  # context.abort always raises

    def _entities(self, topic: str) -> frozenset[str]:
        entities = self._bus.channel_entities(topic)
        if entities is None:
            raise _Refused(
                grpc.StatusCode.NOT_FOUND, f"Topic not found: {topic!r}", TOPIC_NOT_FOUND
            )
        return entities

    # --- unary calls ------------------------------------------------------------------

    async def get_topic(
        self, request: TopicRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> TopicInfo:
        rpc_id = str(uuid.uuid4())
        try:
            await self._authenticate(context)
            entities = self._entities(request.topic_name)
        except _Refused as refused:
            await self._abort(context, refused, rpc_id)
        # One schema per entity channel; /data/ChangeEvents mixes entities, so each event
        # names its own and the topic none (Salesforce does not say what it shows there).
        schema_id = ""
        if len(entities) == 1:
            obj = find_object(next(iter(entities)))
            assert obj is not None
            schema_id = change_event_schema(obj).schema_id
        return TopicInfo(
            topic_name=request.topic_name,
            tenant_guid=self._sandbox.identity.org_id,
            can_publish=False,  # change events are the org's to publish
            can_subscribe=True,
            schema_id=schema_id,
            rpc_id=rpc_id,
        )

    async def get_schema(
        self, request: SchemaRequest, context: grpc.aio.ServicerContext[object, object]
    ) -> SchemaInfo:
        rpc_id = str(uuid.uuid4())
        try:
            await self._authenticate(context)
            schema = schema_by_id(request.schema_id)
            if schema is None:
                raise _Refused(grpc.StatusCode.NOT_FOUND, f"Schema not found: {request.schema_id}")
        except _Refused as refused:
            await self._abort(context, refused, rpc_id)
        return SchemaInfo(schema_json=schema.schema_json, schema_id=schema.schema_id, rpc_id=rpc_id)

    # --- Subscribe --------------------------------------------------------------------

    async def subscribe(
        self,
        requests: AsyncIterator[FetchRequest],
        context: grpc.aio.ServicerContext[object, object],
    ) -> AsyncIterator[FetchResponse]:
        rpc_id = str(uuid.uuid4())
        try:
            await self._authenticate(context)
            first = await anext(requests, None)
            if first is None:
                return
            subscription = _Subscription(
                topic=first.topic_name,
                entities=self._entities(first.topic_name),
                position=await anyio.to_thread.run_sync(self._start, first),
                pending=max(0, first.num_requested),
            )
        except _Refused as refused:
            await self._abort(context, refused, rpc_id)
        reader = asyncio.create_task(self._read_requests(requests, subscription))
        try:
            async for response in self._deliver(subscription, rpc_id):
                yield response
            assert subscription.failure is not None
            await self._abort(context, subscription.failure, rpc_id)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await reader

    def _start(self, first: FetchRequest) -> int:
        """The position the subscription starts after (worker thread)."""
        self._bus.purge()
        purged, issued = self._bus.positions()
        if first.replay_preset == EARLIEST:
            return purged
        if first.replay_preset != CUSTOM:
            return issued
        position = decode_replay_id(first.replay_id)
        if position is None or position < purged:
            raise _Refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                "The Replay ID validation failed: the replay ID is invalid or outside "
                "the retention window.",
                REPLAY_ID_CORRUPTED,
            )
        if position > issued:
            raise _Refused(
                grpc.StatusCode.INVALID_ARGUMENT,
                "The Replay ID validation failed: no event has this replay ID.",
                REPLAY_ID_VALIDATION_FAILED,
            )
        return position

    async def _read_requests(
        self, requests: AsyncIterator[FetchRequest], subscription: _Subscription
    ) -> None:
        """Later requests only add flow; the replay options of the first one stand."""
        async for request in requests:
            if request.topic_name and request.topic_name != subscription.topic:
                subscription.failure = _Refused(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    "The topic of a FetchRequest must match the subscription's topic.",
                )
            else:
                subscription.pending += max(0, request.num_requested)
            subscription.more.set()
            if subscription.failure is not None:
                return

    async def _deliver(
        self, subscription: _Subscription, rpc_id: str
    ) -> AsyncIterator[FetchResponse]:
        """Events as the subscriber asks for them, keep-alives between; ends when the
        subscription must fail."""
        last_sent = time.monotonic()
        while subscription.failure is None:
            wake = self._bus.wakeup.current()
            subscription.more.clear()
            events: list[BusEvent] = []
            if subscription.pending > 0:
                limit = min(subscription.pending, MAX_EVENTS_PER_RESPONSE)
                events = await anyio.to_thread.run_sync(
                    self._bus.read, subscription.position, subscription.entities, limit
                )
            if events:
                subscription.position = events[-1].position
                subscription.pending -= len(events)
                last_sent = time.monotonic()
                yield _response(events, subscription, rpc_id)
                continue
            idle = self._keepalive - (time.monotonic() - last_sent)
            if idle <= 0:
                subscription.position = await anyio.to_thread.run_sync(
                    self._bus.tip, subscription.position, subscription.entities
                )
                last_sent = time.monotonic()
                yield _response([], subscription, rpc_id)
                continue
            await _first_of(wake, subscription.more, timeout=idle)


def _response(events: list[BusEvent], subscription: _Subscription, rpc_id: str) -> FetchResponse:
    return FetchResponse(
        events=[
            ConsumerEvent(
                event=ProducerEvent(id=e.event_id, schema_id=e.schema_id, payload=e.payload),
                replay_id=encode_replay_id(e.position),
            )
            for e in events
        ],
        latest_replay_id=encode_replay_id(subscription.position),
        rpc_id=rpc_id,
        pending_num_requested=subscription.pending,
    )


async def _first_of(*events: asyncio.Event, timeout: float) -> None:
    waits = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def serve_pubsub(
    sandbox: SalesforceSandbox,
    host: str,
    port: int,
    *,
    instance_url: str,
    keepalive_seconds: float = KEEPALIVE_SECONDS,
) -> tuple[grpc.aio.Server, int]:
    """Start the Pub/Sub API on ``host:port`` (0: any free port); the server and its port."""
    service = PubSubService(sandbox, instance_url, keepalive_seconds=keepalive_seconds)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((service.handler(),))
    bound = server.add_insecure_port(f"{host}:{port}")
    sandbox.bus.wakeup.bind(asyncio.get_running_loop())
    await server.start()
    logger.info("Pub/Sub API on %s:%s", host, bound)
    return server, bound
