"""``PubSubClient``: Salesforce's Pub/Sub API (gRPC) for change events, async.

Three calls: ``GetTopic`` (may this session subscribe?), ``GetSchema`` (an event
schema by id, fetched once per id and cached: an event names the schema it was written
with) and ``Subscribe``, a bidirectional stream with flow control: the client asks for
``batch_size`` events, and after handing each batch to its caller asks for as many
again, so the server never holds more than ``batch_size`` events the caller has not
taken. Payloads are Avro (fastavro); each event is rewritten into the JSON shape a
CometD relay would have posted (``change_events.py``).

The session travels as metadata on every call (``accesstoken``, ``instanceurl``,
``tenantid``), from the same OAuth session the REST connector holds; refused once, it
is fetched again and the call repeated, refused twice it is an ``AuthError``. Every
call also carries the correlation id (``x-correlation-id``, and as
``x-client-trace-id``, the trace header Salesforce's own examples send). gRPC failures
map into the connector taxonomy here; a replay id Salesforce will not start after
(past the 72-hour retention) is a ``ReplayIdRejected``.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import grpc
from fastavro import parse_schema, schemaless_reader
from opentelemetry import trace

from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFoundError,
    PositionLostError,
    RateLimitedError,
    RejectedError,
    TransientError,
)
from connectors.salesforce.change_events import as_relayed_event, commit_time
from models.salesforce_pubsub import (
    ACCESS_TOKEN,
    AUTH_ERROR,
    CUSTOM,
    EARLIEST,
    ERROR_CODE_TRAILER,
    GET_SCHEMA,
    GET_TOPIC,
    INSTANCE_URL,
    LATEST,
    REPLAY_ID_CORRUPTED,
    REPLAY_ID_VALIDATION_FAILED,
    SUBSCRIBE,
    TENANT_ID,
    ConsumerEvent,
    FetchRequest,
    FetchResponse,
    ReplayPreset,
    SchemaInfo,
    SchemaRequest,
    TopicInfo,
    TopicRequest,
)
from telemetry.correlation import CORRELATION_HEADER, current_correlation_id

logger = logging.getLogger(__name__)
_tracer = trace.get_tracer("syncline.connectors.salesforce.pubsub")

SYSTEM = "salesforce"
CALL_TIMEOUT_SECONDS = 30.0
_MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # a batch of events may pass gRPC's 4 MiB default
_TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.CANCELLED,
}


class ReplayIdRejected(PositionLostError):
    """The bus will not start after this replay id: its events were purged (older than
    the retention) or it is not one the bus issued. Retrying the same id fails again."""


@dataclass(frozen=True)
class PubSubSession:
    """An OAuth session as Pub/Sub takes it. ``repr`` never shows the token."""

    access_token: str = field(repr=False)
    instance_url: str
    tenant_id: str

    def metadata(self) -> list[tuple[str, str]]:
        pairs = [
            (ACCESS_TOKEN, self.access_token),
            (INSTANCE_URL, self.instance_url),
            (TENANT_ID, self.tenant_id),
        ]
        correlation_id = current_correlation_id()
        if correlation_id:
            pairs += [(CORRELATION_HEADER.lower(), correlation_id)]
            pairs += [("x-client-trace-id", correlation_id)]
        return pairs


class SessionSource(Protocol):
    async def pubsub_session(self, *, refresh: bool = False) -> PubSubSession:
        """The current session; ``refresh`` when the last one was refused."""
        ...


@dataclass(frozen=True)
class ReplayStart:
    """Where a subscription starts: after ``replay_id``, else at a preset."""

    replay_id: bytes | None = None
    preset: ReplayPreset = LATEST

    @classmethod
    def after(cls, replay_id: bytes) -> ReplayStart:
        return cls(replay_id, CUSTOM)

    @classmethod
    def earliest(cls) -> ReplayStart:
        return cls(None, EARLIEST)


@dataclass(frozen=True)
class ChangeEvent:
    replay_id: bytes
    event_id: str
    schema_id: str
    payload: dict[str, Any]
    """As a CometD relay would post it: ``ChangeEventHeader`` with field names."""

    @property
    def committed_at(self) -> datetime | None:
        return commit_time(self.payload)


@dataclass(frozen=True)
class FetchedBatch:
    """One ``FetchResponse``: events (none for a keep-alive) and the newest replay id."""

    events: list[ChangeEvent]
    latest_replay_id: bytes
    pending: int


@dataclass(frozen=True)
class _Schema:
    parsed: Any
    fields: dict[str, Any]
    named: dict[str, Any]


def map_rpc_error(error: grpc.aio.AioRpcError) -> ConnectorError:
    """The one mapping from a failed Pub/Sub call to a ``ConnectorError``. The message
    is Salesforce's details (which quote no metadata, so no token)."""
    trailers = {key: value for key, value in error.trailing_metadata() or ()}
    code = trailers.get(ERROR_CODE_TRAILER)
    code = code.decode() if isinstance(code, bytes) else code
    status = error.code()
    message = (error.details() or status.name)[:500]
    if code in (REPLAY_ID_CORRUPTED, REPLAY_ID_VALIDATION_FAILED):
        return ReplayIdRejected(message, system=SYSTEM, code=code)
    if code == AUTH_ERROR or status in (
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    ):
        return AuthError(message, system=SYSTEM, code=code or status.name)
    if status == grpc.StatusCode.NOT_FOUND:
        return NotFoundError(message, system=SYSTEM, code=code or status.name)
    if status == grpc.StatusCode.RESOURCE_EXHAUSTED:
        return RateLimitedError(message, system=SYSTEM, code=code or status.name)
    if status in _TRANSIENT:
        return TransientError(message, system=SYSTEM, code=code or status.name)
    return RejectedError(message, system=SYSTEM, code=code or status.name)


class PubSubClient:
    """``address`` is the API's ``host:port`` (``api.pubsub.salesforce.com:7443``);
    ``tls`` is off only for a sandbox listening on loopback."""

    def __init__(self, address: str, sessions: SessionSource, *, tls: bool = True) -> None:
        options = [
            ("grpc.max_receive_message_length", _MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", _MAX_MESSAGE_BYTES),
        ]
        if tls:
            credentials = grpc.ssl_channel_credentials()
            self._channel = grpc.aio.secure_channel(address, credentials, options=options)
        else:
            self._channel = grpc.aio.insecure_channel(address, options=options)
        self._sessions = sessions
        self._address = address
        self._schemas: dict[str, _Schema] = {}
        self._topic = self._channel.unary_unary(
            GET_TOPIC,
            request_serializer=TopicRequest.SerializeToString,
            response_deserializer=TopicInfo.FromString,
        )
        self._schema = self._channel.unary_unary(
            GET_SCHEMA,
            request_serializer=SchemaRequest.SerializeToString,
            response_deserializer=SchemaInfo.FromString,
        )
        self._subscribe = self._channel.stream_stream(
            SUBSCRIBE,
            request_serializer=FetchRequest.SerializeToString,
            response_deserializer=FetchResponse.FromString,
        )

    def __repr__(self) -> str:
        return f"PubSubClient(address={self._address!r})"

    async def aclose(self) -> None:
        await self._channel.close()

    # --- unary calls ------------------------------------------------------------------

    async def get_topic(self, topic: str) -> TopicInfo:
        with _tracer.start_as_current_span("PubSub GetTopic", attributes={"topic": topic}):
            for refresh in (False, True):
                session = await self._sessions.pubsub_session(refresh=refresh)
                try:
                    return await self._topic(
                        TopicRequest(topic_name=topic),
                        metadata=session.metadata(),
                        timeout=CALL_TIMEOUT_SECONDS,
                    )
                except grpc.aio.AioRpcError as error:
                    failure = map_rpc_error(error)
                    if refresh or not isinstance(failure, AuthError):
                        raise failure from None
        raise AssertionError("unreachable")

    async def _schema_of(self, schema_id: str) -> _Schema:
        cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        with _tracer.start_as_current_span("PubSub GetSchema"):
            for refresh in (False, True):
                session = await self._sessions.pubsub_session(refresh=refresh)
                try:
                    info = await self._schema(
                        SchemaRequest(schema_id=schema_id),
                        metadata=session.metadata(),
                        timeout=CALL_TIMEOUT_SECONDS,
                    )
                    break
                except grpc.aio.AioRpcError as error:
                    failure = map_rpc_error(error)
                    if refresh or not isinstance(failure, AuthError):
                        raise failure from None
        schema_json = json.loads(info.schema_json)
        named: dict[str, Any] = {}
        parsed = parse_schema(schema_json, named_schemas=named)
        self._schemas[schema_id] = _Schema(parsed, schema_json, named)
        return self._schemas[schema_id]

    async def decode(self, event: ConsumerEvent) -> ChangeEvent:
        """One received event, its payload read with the schema it names."""
        schema = await self._schema_of(event.event.schema_id)
        record = schemaless_reader(io.BytesIO(event.event.payload), schema.parsed, None)
        if not isinstance(record, Mapping):
            raise RejectedError("a change event that is not an Avro record", system=SYSTEM)
        return ChangeEvent(
            replay_id=event.replay_id,
            event_id=event.event.id,
            schema_id=event.event.schema_id,
            payload=as_relayed_event(record, schema.fields, schema.named),
        )

    # --- Subscribe --------------------------------------------------------------------

    async def subscribe(
        self, topic: str, start: ReplayStart, *, batch_size: int = 100
    ) -> AsyncGenerator[FetchedBatch, None]:
        """Batches as they come, keep-alives included, until the caller stops or the
        stream fails (a ``ConnectorError``). A refused session is refreshed once, before
        the first batch."""
        for refresh in (False, True):
            received = False
            try:
                async for batch in self._subscribe_once(topic, start, batch_size, refresh):
                    received = True
                    yield batch
                return
            except AuthError:
                if received or refresh:
                    raise

    async def _subscribe_once(
        self, topic: str, start: ReplayStart, batch_size: int, refresh: bool
    ) -> AsyncIterator[FetchedBatch]:
        session = await self._sessions.pubsub_session(refresh=refresh)
        call = self._subscribe(metadata=session.metadata())
        first = FetchRequest(topic_name=topic, replay_preset=start.preset, num_requested=batch_size)
        if start.replay_id is not None:
            first.replay_id = start.replay_id
        try:
            await call.write(first)
            while True:
                response = await call.read()
                if response is grpc.aio.EOF:
                    raise TransientError("Salesforce ended the subscription", system=SYSTEM)
                assert isinstance(response, FetchResponse)
                events = [await self.decode(event) for event in response.events]
                yield FetchedBatch(
                    events, response.latest_replay_id, response.pending_num_requested
                )
                if events:
                    # The caller has taken them: room for as many again.
                    await call.write(FetchRequest(topic_name=topic, num_requested=len(events)))
        except grpc.aio.AioRpcError as error:
            raise map_rpc_error(error) from None
        finally:
            call.cancel()
