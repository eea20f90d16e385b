"""The sandbox's Pub/Sub API on the wire, through a plain gRPC channel: Avro change
events with a real header, the three replay presets, flow control, keep-alives, the
retention error, and sessions checked as Salesforce checks them."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from fastavro import parse_schema, schemaless_reader

from models.salesforce_pubsub import (
    AUTH_ERROR,
    CUSTOM,
    EARLIEST,
    ERROR_CODE_TRAILER,
    GET_SCHEMA,
    GET_TOPIC,
    LATEST,
    REPLAY_ID_CORRUPTED,
    REPLAY_ID_VALIDATION_FAILED,
    SUBSCRIBE,
    FetchRequest,
    FetchResponse,
    SchemaInfo,
    SchemaRequest,
    TopicInfo,
    TopicRequest,
)
from sandbox.salesforce import build_app
from sandbox.salesforce.pubsub import serve_pubsub
from sandbox.salesforce.server import close_sandbox

from .helpers import BASE_URL, SandboxApi, fetch_token, make_config

OPPORTUNITIES = "/data/OpportunityChangeEvent"
KEEPALIVE = 0.3


@dataclass
class Org:
    api: SandboxApi
    channel: grpc.aio.Channel
    session: list[tuple[str, str]]

    def subscribe(self, session: list[tuple[str, str]] | None = None) -> Any:
        call = self.channel.stream_stream(
            SUBSCRIBE,
            request_serializer=FetchRequest.SerializeToString,
            response_deserializer=FetchResponse.FromString,
        )
        return call(metadata=self.session if session is None else session)

    async def schema(self, schema_id: str) -> dict[str, Any]:
        call = self.channel.unary_unary(
            GET_SCHEMA,
            request_serializer=SchemaRequest.SerializeToString,
            response_deserializer=SchemaInfo.FromString,
        )
        info = await call(SchemaRequest(schema_id=schema_id), metadata=self.session)
        assert info.schema_id == schema_id
        loaded: dict[str, Any] = json.loads(info.schema_json)
        return loaded

    async def topic(self, name: str, session: list[tuple[str, str]] | None = None) -> TopicInfo:
        call = self.channel.unary_unary(
            GET_TOPIC,
            request_serializer=TopicRequest.SerializeToString,
            response_deserializer=TopicInfo.FromString,
        )
        info: TopicInfo = await call(
            TopicRequest(topic_name=name), metadata=self.session if session is None else session
        )
        return info

    async def opportunity(self, name: str, stage: str = "Prospecting") -> str:
        return await self.api.create(
            "Opportunity", Name=name, StageName=stage, CloseDate="2026-12-31"
        )


@pytest.fixture
async def org(tmp_path: Path) -> AsyncIterator[Org]:
    app = build_app(make_config(tmp_path / "sf.db", event_bus_entities=("Opportunity", "Account")))
    sandbox = app.state.sandbox
    server, port = await serve_pubsub(
        sandbox, "127.0.0.1", 0, instance_url=BASE_URL, keepalive_seconds=KEEPALIVE
    )
    transport = httpx.ASGITransport(app=app)
    async with (
        httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http,
        grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel,
    ):
        token = await fetch_token(http)
        http.headers["Authorization"] = f"Bearer {token}"
        session = [
            ("accesstoken", token),
            ("instanceurl", BASE_URL),
            ("tenantid", sandbox.identity.org_id),
        ]
        yield Org(SandboxApi(http, sandbox), channel, session)
    await server.stop(0)
    await close_sandbox(sandbox)


async def _next(call: Any) -> FetchResponse:
    response = await asyncio.wait_for(call.read(), 5)
    assert isinstance(response, FetchResponse), response
    return response


async def _events(call: Any, count: int) -> list[Any]:
    """The next ``count`` events, across responses, skipping keep-alives."""
    events: list[Any] = []
    for _ in range(20):
        events += (await _next(call)).events
        if len(events) >= count:
            assert len(events) == count, events
            return events
    raise AssertionError(f"{len(events)} events, not {count}")


async def _latest(org: Org) -> Any:
    """A subscription at the tip, once it stands (its first keep-alive): what is
    written afterwards is after its starting point."""
    call = org.subscribe()
    await call.write(FetchRequest(topic_name=OPPORTUNITIES, replay_preset=LATEST, num_requested=5))
    assert list((await _next(call)).events) == []
    return call


def _decode(schema: dict[str, Any], payload: bytes) -> dict[str, Any]:
    record: dict[str, Any] = schemaless_reader(io.BytesIO(payload), parse_schema(schema), None)
    return record


def _names(schema: dict[str, Any], bitmaps: list[str]) -> list[str]:
    (bitmap,) = bitmaps
    bits = int(bitmap, 16)
    return [f["name"] for n, f in enumerate(schema["fields"]) if bits >> n & 1]


def _error_code(error: grpc.aio.AioRpcError) -> str | None:
    trailers = dict(error.trailing_metadata() or ())
    code = trailers.get(ERROR_CODE_TRAILER)
    return code.decode() if isinstance(code, bytes) else code


async def test_change_events_are_avro_with_the_header_pubsub_sends(org: Org) -> None:
    call = await _latest(org)
    opportunity_id = await org.opportunity("Avro deal")
    await org.api.patch("Opportunity", opportunity_id, StageName="Closed Won", Amount="1250.50")
    created, updated = await _events(call, 2)

    topic = await org.topic(OPPORTUNITIES)
    assert (topic.can_subscribe, topic.can_publish) == (True, False)
    assert topic.tenant_guid == org.api.sandbox.identity.org_id
    assert created.event.schema_id == updated.event.schema_id == topic.schema_id
    schema = await org.schema(topic.schema_id)
    assert schema["name"] == "OpportunityChangeEvent"
    assert schema["namespace"] == "com.sforce.eventbus"
    assert schema["fields"][0]["name"] == "ChangeEventHeader"

    update = _decode(schema, updated.event.payload)
    header = update["ChangeEventHeader"]
    assert (header["entityName"], header["recordIds"]) == ("Opportunity", [opportunity_id])
    assert header["changeType"] == "UPDATE"
    assert header["changeOrigin"] == "com/salesforce/api/rest/59.0"
    assert isinstance(header["commitTimestamp"], int) and header["commitUser"].startswith("005")
    # Bitmaps, not names: bit n is the schema's field n.
    assert header["changedFields"][0].startswith("0x")
    assert {"StageName", "Amount", "LastModifiedDate"} <= set(
        _names(schema, header["changedFields"])
    )
    assert header["nulledFields"] == [] and header["diffFields"] == []
    # Every field is there; those the update left alone are null.
    assert (update["StageName"], update["Amount"]) == ("Closed Won", 1250.5)
    assert update["Name"] is None and update["CloseDate"] is None

    create = _decode(schema, created.event.payload)
    assert create["ChangeEventHeader"]["changeType"] == "CREATE"
    assert create["ChangeEventHeader"]["changedFields"] == []
    assert create["Name"] == "Avro deal" and isinstance(create["CloseDate"], int)
    assert int.from_bytes(updated.replay_id, "big") > int.from_bytes(created.replay_id, "big")
    call.cancel()


async def test_presets_and_flow_control(org: Org) -> None:
    for n in range(3):
        await org.opportunity(f"Before {n}")
    await org.api.create("Account", Name="Not on this channel")

    earliest = org.subscribe()
    await earliest.write(
        FetchRequest(topic_name=OPPORTUNITIES, replay_preset=EARLIEST, num_requested=2)
    )
    first = await _next(earliest)
    assert len(first.events) == 2 and first.pending_num_requested == 0
    assert first.latest_replay_id == first.events[-1].replay_id
    # Asked for two, it gets two; one more request, the third.
    await earliest.write(FetchRequest(num_requested=1))
    (third,) = await _events(earliest, 1)
    earliest.cancel()

    # CUSTOM starts after the replay id given; LATEST only sees what comes next.
    custom = org.subscribe()
    await custom.write(
        FetchRequest(
            topic_name=OPPORTUNITIES,
            replay_preset=CUSTOM,
            replay_id=first.events[0].replay_id,
            num_requested=10,
        )
    )
    assert [e.replay_id for e in await _events(custom, 2)] == [
        first.events[1].replay_id,
        third.replay_id,
    ]
    latest = org.subscribe()
    await latest.write(
        FetchRequest(topic_name=OPPORTUNITIES, replay_preset=LATEST, num_requested=10)
    )
    await asyncio.sleep(0.05)  # subscribed before the next write
    await org.opportunity("After")
    (after,) = await _events(latest, 1)
    (same,) = await _events(custom, 1)
    assert after.replay_id == same.replay_id
    custom.cancel()
    latest.cancel()


async def test_an_idle_subscription_gets_keepalives_to_resume_from(org: Org) -> None:
    await org.api.create("Account", Name="Elsewhere")  # on the bus, not on this channel
    call = org.subscribe()
    await call.write(
        FetchRequest(topic_name=OPPORTUNITIES, replay_preset=EARLIEST, num_requested=5)
    )
    keepalive = await _next(call)
    assert list(keepalive.events) == [] and keepalive.pending_num_requested == 5
    assert int.from_bytes(keepalive.latest_replay_id, "big") >= 1
    call.cancel()

    # Resuming after the keep-alive's replay id loses nothing that came since.
    await org.opportunity("Later")
    resumed = org.subscribe()
    await resumed.write(
        FetchRequest(
            topic_name=OPPORTUNITIES,
            replay_preset=CUSTOM,
            replay_id=keepalive.latest_replay_id,
            num_requested=5,
        )
    )
    (later,) = await _events(resumed, 1)
    assert int.from_bytes(later.replay_id, "big") > int.from_bytes(
        keepalive.latest_replay_id, "big"
    )
    resumed.cancel()


async def _refused(org: Org, request: FetchRequest) -> grpc.aio.AioRpcError:
    call = org.subscribe()
    await call.write(request)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await asyncio.wait_for(call.read(), 5)
    return refused.value


async def test_a_replay_id_past_retention_is_refused_as_salesforce_refuses_it(org: Org) -> None:
    await org.opportunity("Old")
    call = org.subscribe()
    await call.write(
        FetchRequest(topic_name=OPPORTUNITIES, replay_preset=EARLIEST, num_requested=1)
    )
    (old,) = await _events(call, 1)
    call.cancel()
    await org.opportunity("Also old")

    # Seventy-three hours later on the bus's clock, both are purged.
    answer = await org.api.http.post("/admin/event-bus/clock", json={"advanceSeconds": 73 * 3600})
    assert answer.json()["stored"] == 0

    error = await _refused(
        org,
        FetchRequest(
            topic_name=OPPORTUNITIES, replay_preset=CUSTOM, replay_id=old.replay_id, num_requested=1
        ),
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert _error_code(error) == REPLAY_ID_CORRUPTED
    assert "rpcId:" in (error.details() or "")

    garbage = await _refused(
        org,
        FetchRequest(
            topic_name=OPPORTUNITIES, replay_preset=CUSTOM, replay_id=b"x", num_requested=1
        ),
    )
    assert _error_code(garbage) == REPLAY_ID_CORRUPTED
    future = await _refused(
        org,
        FetchRequest(
            topic_name=OPPORTUNITIES,
            replay_preset=CUSTOM,
            replay_id=(10**6).to_bytes(8, "big"),
            num_requested=1,
        ),
    )
    assert _error_code(future) == REPLAY_ID_VALIDATION_FAILED

    # EARLIEST still works: it starts at the oldest event retained, the next new one.
    earliest = org.subscribe()
    await earliest.write(
        FetchRequest(topic_name=OPPORTUNITIES, replay_preset=EARLIEST, num_requested=5)
    )
    new_id = await org.opportunity("New")
    (new,) = await _events(earliest, 1)
    schema = await org.schema(new.event.schema_id)
    assert _decode(schema, new.event.payload)["ChangeEventHeader"]["recordIds"] == [new_id]
    earliest.cancel()


async def test_sessions_are_checked_as_salesforce_checks_them(org: Org) -> None:
    request = FetchRequest(topic_name=OPPORTUNITIES, replay_preset=LATEST, num_requested=1)
    token, instance, tenant = org.session
    wrong = [
        [("accesstoken", "00D000000000000!madeup"), instance, tenant],
        [token, ("instanceurl", "https://elsewhere.my.salesforce.com"), tenant],
        [token, instance, ("tenantid", "00D000000000001AAA")],
        [instance, tenant],
    ]
    for session in wrong:
        call = org.subscribe(session)
        await call.write(request)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await asyncio.wait_for(call.read(), 5)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        assert _error_code(refused.value) == AUTH_ERROR
        with pytest.raises(grpc.aio.AioRpcError) as topic_refused:
            await org.topic(OPPORTUNITIES, session)
        assert _error_code(topic_refused.value) == AUTH_ERROR

    # A session the org revoked is refused from then on.
    assert (await org.topic(OPPORTUNITIES)).can_subscribe
    await org.api.http.post("/admin/tokens/revoke")
    with pytest.raises(grpc.aio.AioRpcError) as revoked:
        await org.topic(OPPORTUNITIES)
    assert revoked.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_unknown_channels(org: Org) -> None:
    for topic in ("/data/ContactChangeEvent", "/event/Nothing__e"):
        with pytest.raises(grpc.aio.AioRpcError) as missing:
            await org.topic(topic)
        assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert (await org.topic("/data/ChangeEvents")).schema_id == ""
