"""The sandbox CRM's HTTP surface: Salesforce REST v59.0 routes, OAuth2 and admin routes.

Endpoints are ``async`` and hand their SQLite work to the threadpool
(``run_in_threadpool``), so the event loop only parses, dispatches callouts and
serialises. Run it with uvicorn::

    SYNCLINE_SF_DB_PATH=.syncline/salesforce.db SYNCLINE_SF_CLIENT_ID=... \\
    SYNCLINE_SF_CLIENT_SECRET=... uvicorn --factory sandbox.salesforce.server:app_from_env \\
    --host 127.0.0.1 --port 8010

Fault injection (``sandbox.faults``, in Salesforce's shape: ``sandbox.salesforce.faults``)
sits in front of everything under ``/services/``; its rules come from
``SYNCLINE_SANDBOX_CRM_FAULTS`` at start and from ``GET|POST|DELETE /admin/faults``.

The API user's field-level security (``field_security.py``: a field hidden or read-only,
as an admin's profile would leave it) is set with ``GET|PUT|DELETE /admin/field-security``.

Change Data Capture (``cdc.py``) is off unless ``cdc_entities`` names objects (from
``SYNCLINE_SANDBOX_CDC``, e.g. ``Account``, with ``app_from_env``); its events go
through the callout outbox, so they need ``webhook_url`` like the Flow callouts.

With ``pubsub_port`` the org also serves Salesforce's Pub/Sub API (gRPC, ``pubsub.py``)
on that port, for the change events of ``event_bus_entities`` (``event_bus.py``):
``GET /admin/event-bus`` shows the bus, ``POST /admin/event-bus/clock`` moves its
retention clock forward.

The token endpoint takes client credentials and, once an admin has uploaded the
connected app's certificate (``POST /admin/connected-app/certificate``), the JWT bearer
grant for the org's users (``usernames``, ``SYNCLINE_SF_USERNAMES``): see
``jwt_bearer.py``.
"""

from __future__ import annotations

import base64
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.exact_json import dumps, loads
from models.salesforce_pubsub import KEEPALIVE_SECONDS
from sandbox.faults import FaultMiddleware, FaultRule, fault_admin_router, fault_rules_from_env
from sandbox.salesforce.cdc import (
    CALL_OPTIONS_HEADER,
    call_options_client,
    canonical_entities,
    entities_from_env,
)
from sandbox.salesforce.composite import inner_app, run_composite
from sandbox.salesforce.errors import SalesforceApiError, bad_request, invalid_session, not_found
from sandbox.salesforce.faults import FAULTS_ENV_VAR
from sandbox.salesforce.field_security import Access
from sandbox.salesforce.jwt_bearer import JWT_BEARER_GRANT, CertificateRefused, OAuthRefusal
from sandbox.salesforce.pubsub import serve_pubsub
from sandbox.salesforce.schema import API_VERSION, OBJECTS, ObjectDef, find_object
from sandbox.salesforce.service import SalesforceSandbox
from sandbox.salesforce.store import Database

logger = logging.getLogger(__name__)

DATA_PREFIX = "/services/data"
PUBSUB_PORT_ENV_VAR = "SYNCLINE_SANDBOX_PUBSUB_PORT"
EVENT_BUS_ENV_VAR = "SYNCLINE_SANDBOX_EVENT_BUS"
KEEPALIVE_ENV_VAR = "SYNCLINE_SANDBOX_PUBSUB_KEEPALIVE_SECONDS"
DEFAULT_USERNAME = "syncline@sandbox.example"
_BATCH_SIZE_RE = re.compile(r"batchSize\s*=\s*(\d+)", re.IGNORECASE)


class FieldAccessRule(BaseModel):
    """What the API user may do with one field (``field_security.py``)."""

    object: str
    field: str
    access: Access = Field(description="edit (the default), read (read-only) or none (hidden)")


class SalesforceSandboxConfig(BaseModel):
    db_path: Path
    client_id: str
    client_secret: str
    webhook_url: str | None = None
    webhook_secret: str | None = None
    base_url: str = "http://127.0.0.1:8010"
    # Delays between callout attempts (a Flow fault path's retries); len + 1 attempts.
    webhook_retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0)
    webhook_timeout_seconds: float = 10.0
    # Salesforce honours batchSize between 200 and 2000; tests may lower the floor.
    min_query_batch_size: int = 200
    api_limit: int = 15000
    faults: list[FaultRule] | None = Field(
        None, description=f"fault rules at start; None reads {FAULTS_ENV_VAR}"
    )
    cdc_entities: tuple[str, ...] = Field(
        (), description="objects whose changes are relayed as CDC events; () means off"
    )
    usernames: tuple[str, ...] = Field(
        (DEFAULT_USERNAME,),
        description="the org's users the connected app may log in with the JWT bearer grant",
    )
    event_bus_entities: tuple[str, ...] = Field(
        (), description="objects whose change events the Pub/Sub API serves; () means none"
    )
    pubsub_port: int | None = Field(
        None, description="where the Pub/Sub API (gRPC) listens; None: not served, 0: any port"
    )
    pubsub_host: str = "127.0.0.1"
    pubsub_keepalive_seconds: float = Field(
        KEEPALIVE_SECONDS, gt=0, description="an idle subscription's keep-alive interval"
    )

    @field_validator("cdc_entities", "event_bus_entities")
    @classmethod
    def _known_entities(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return canonical_entities(value)


class SfJSONResponse(Response):
    """JSON whose ``Decimal`` values are written exactly (see ``values.dumps``)."""

    media_type = "application/json;charset=UTF-8"

    def render(self, content: Any) -> bytes:
        return dumps(content).encode()


def _error(exc: SalesforceApiError) -> SfJSONResponse:
    return SfJSONResponse(exc.body(), status_code=exc.status_code)


class _UsageHeader:
    """Adds ``Sforce-Limit-Info`` to every data API response (errors included)."""

    def __init__(self, app: ASGIApp, sandbox: SalesforceSandbox) -> None:
        self.app = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(DATA_PREFIX):
            await self.app(scope, receive, send)
            return
        usage = self.sandbox.usage
        used = usage.hit()

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("Sforce-Limit-Info", usage.header(used))
            await send(message)

        await self.app(scope, receive, send_with_header)
        if usage.due():
            await run_in_threadpool(usage.flush)


def _sandbox(request: Request) -> SalesforceSandbox:
    sandbox: SalesforceSandbox = request.app.state.sandbox
    return sandbox


async def _require_session(request: Request, version: str) -> None:
    if version != API_VERSION:
        raise not_found()
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() not in ("bearer", "oauth") or not token:
        raise invalid_session()
    tokens = _sandbox(request).tokens
    if not tokens.is_cached(token) and not await run_in_threadpool(tokens.lookup, token):
        raise invalid_session()


def _object(name: str) -> ObjectDef:
    obj = find_object(name)
    if obj is None:
        raise not_found()
    return obj


def _client(request: Request) -> str | None:
    """Who the caller says it is (``Sforce-Call-Options: client=...``), for CDC."""
    return call_options_client(request.headers.get(CALL_OPTIONS_HEADER))


async def _body(request: Request) -> Any:
    raw = await request.body()
    try:
        return loads(raw)
    except ValueError as exc:
        raise bad_request("JSON_PARSER_ERROR", "The request body is not valid JSON") from exc


def _route(
    router: APIRouter,
    path: str,
    methods: list[str],
    endpoint: Callable[..., Awaitable[Any]],
    *,
    slash: bool = True,
) -> None:
    """Register ``path`` with and without a trailing slash (clients use both).

    Endpoints return their ``Response`` themselves when the content holds ``Decimal``
    values (FastAPI's encoder would turn them into strings) or the status is not 200.
    """
    for variant in (path, path + "/") if slash else (path,):
        router.add_api_route(
            variant,
            endpoint,
            methods=methods,
            response_class=SfJSONResponse,
            include_in_schema=variant == path,
        )


async def _rendered(fn: Callable[..., Any], *args: Any) -> Response:
    """Run ``fn`` and serialise its result in the threadpool: a 2000-record page takes
    long enough to encode that it should not hold the event loop."""

    def work() -> bytes:
        return dumps(fn(*args)).encode()

    return Response(await run_in_threadpool(work), media_type=SfJSONResponse.media_type)


MAX_COLLECTION = 200


def _collection_record(record: Any) -> tuple[ObjectDef, Any]:
    """A collection record names its object in ``attributes.type``."""
    kind = record.get("attributes", {}).get("type") if isinstance(record, dict) else None
    if not isinstance(kind, str):
        raise bad_request("INVALID_TYPE", "each record needs attributes.type")
    fields = {key: value for key, value in record.items() if key != "attributes"}
    return _object(kind), fields


def _collection_error(error: SalesforceApiError) -> dict[str, Any]:
    return {
        "id": None,
        "success": False,
        "errors": [
            {"statusCode": error.error_code, "message": error.message, "fields": error.fields or []}
        ],
    }


def _data_router() -> APIRouter:
    router = APIRouter(prefix=DATA_PREFIX + "/v{version}", dependencies=[Depends(_require_session)])

    async def resources() -> Any:
        base = f"{DATA_PREFIX}/v{API_VERSION}"
        return {
            "sobjects": f"{base}/sobjects",
            "query": f"{base}/query",
            "queryAll": f"{base}/queryAll",
            "limits": f"{base}/limits",
        }

    async def limits(request: Request) -> Any:
        usage = _sandbox(request).usage
        return {"DailyApiRequests": {"Max": usage.limit, "Remaining": usage.limit - usage.used}}

    async def list_sobjects() -> Any:
        return {
            "encoding": "UTF-8",
            "maxBatchSize": 200,
            "sobjects": [o.summary(API_VERSION) for o in OBJECTS.values()],
        }

    async def sobject_info(sobject: str) -> Any:
        return {"objectDescribe": _object(sobject).summary(API_VERSION), "recentItems": []}

    async def describe(request: Request, sobject: str) -> Any:
        obj = _object(sobject)
        return _sandbox(request).field_security.describe(obj, obj.describe(API_VERSION))

    async def create(request: Request, sobject: str) -> Any:
        obj, body = _object(sobject), await _body(request)
        sandbox = _sandbox(request)
        result, deliveries = await run_in_threadpool(sandbox.create, obj, body, _client(request))
        sandbox.webhooks.dispatch(deliveries)
        return SfJSONResponse({"id": result.id, "success": True, "errors": []}, 201)

    async def create_collection(request: Request) -> Any:
        """sObject Collections: up to 200 records of any objects in one call."""
        body, sandbox = await _body(request), _sandbox(request)
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list) or not records:
            raise bad_request("INVALID_FIELD", "records: a non-empty list is required")
        if len(records) > MAX_COLLECTION:
            raise bad_request(
                "EXCEEDED_ID_LIMIT",
                f"record limit reached. cannot submit more than {MAX_COLLECTION} records "
                "into this call",
            )
        typed = [_collection_record(record) for record in records]
        client = _client(request)
        if body.get("allOrNone"):
            try:
                results, deliveries = await run_in_threadpool(
                    sandbox.create_all_or_none, typed, client
                )
            except SalesforceApiError as error:
                return SfJSONResponse([_collection_error(error)] * len(typed))
            sandbox.webhooks.dispatch(deliveries)
            return SfJSONResponse([{"id": r.id, "success": True, "errors": []} for r in results])
        answers = []
        for obj, fields in typed:
            try:
                result, deliveries = await run_in_threadpool(sandbox.create, obj, fields, client)
            except SalesforceApiError as error:
                answers.append(_collection_error(error))
                continue
            sandbox.webhooks.dispatch(deliveries)
            answers.append({"id": result.id, "success": True, "errors": []})
        return SfJSONResponse(answers)

    async def get_record(
        request: Request, sobject: str, record_id: str, fields: str | None = None
    ) -> Any:
        record = await run_in_threadpool(_sandbox(request).get, _object(sobject), record_id, fields)
        return SfJSONResponse(record)

    async def update(request: Request, sobject: str, record_id: str) -> Any:
        obj, body = _object(sobject), await _body(request)
        sandbox = _sandbox(request)
        _, deliveries = await run_in_threadpool(
            sandbox.update, obj, record_id, body, _client(request)
        )
        sandbox.webhooks.dispatch(deliveries)
        return Response(status_code=204)

    async def delete(request: Request, sobject: str, record_id: str) -> Any:
        sandbox = _sandbox(request)
        deliveries = await run_in_threadpool(
            sandbox.delete, _object(sobject), record_id, _client(request)
        )
        sandbox.webhooks.dispatch(deliveries)
        return Response(status_code=204)

    async def get_by_external(request: Request, sobject: str, field: str, value: str) -> Any:
        record = await run_in_threadpool(
            _sandbox(request).get_by_external, _object(sobject), field, value
        )
        return SfJSONResponse(record)

    async def upsert(request: Request, sobject: str, field: str, value: str) -> Any:
        obj, body = _object(sobject), await _body(request)
        sandbox = _sandbox(request)
        result, deliveries = await run_in_threadpool(
            sandbox.upsert, obj, field, value, body, _client(request)
        )
        sandbox.webhooks.dispatch(deliveries)
        content = {"id": result.id, "success": True, "errors": [], "created": result.created}
        return SfJSONResponse(content, 201 if result.created else 200)

    async def delete_by_external(request: Request, sobject: str, field: str, value: str) -> Any:
        sandbox = _sandbox(request)
        deliveries = await run_in_threadpool(
            sandbox.delete_by_external, _object(sobject), field, value, _client(request)
        )
        sandbox.webhooks.dispatch(deliveries)
        return Response(status_code=204)

    async def composite(request: Request) -> Any:
        body = await _body(request)
        inner = request.app.state.composite_inner
        return await run_composite(inner, body, request.headers.get("authorization", ""))

    async def query(request: Request, q: str | None = None) -> Any:
        if not q:
            raise bad_request("MALFORMED_QUERY", "A query string has to be specified")
        options = request.headers.get("sforce-query-options", "")
        match = _BATCH_SIZE_RE.search(options)
        batch = int(match.group(1)) if match else None
        return await _rendered(_sandbox(request).query, q, batch)

    async def query_more(request: Request, locator: str) -> Any:
        return await _rendered(_sandbox(request).query_more, locator)

    _route(router, "", ["GET"], resources)
    _route(router, "/limits", ["GET"], limits)
    _route(router, "/sobjects", ["GET"], list_sobjects)
    _route(router, "/sobjects/{sobject}", ["GET"], sobject_info)
    _route(router, "/sobjects/{sobject}", ["POST"], create)
    _route(router, "/composite", ["POST"], composite)
    _route(router, "/composite/sobjects", ["POST"], create_collection)
    _route(router, "/sobjects/{sobject}/describe", ["GET"], describe)
    _route(router, "/sobjects/{sobject}/{record_id}", ["GET"], get_record)
    _route(router, "/sobjects/{sobject}/{record_id}", ["PATCH"], update)
    _route(router, "/sobjects/{sobject}/{record_id}", ["DELETE"], delete)
    # An external id may contain an encoded "/", which the router sees decoded.
    by_external = "/sobjects/{sobject}/{field}/{value:path}"
    _route(router, by_external, ["GET"], get_by_external, slash=False)
    _route(router, by_external, ["PATCH"], upsert, slash=False)
    _route(router, by_external, ["DELETE"], delete_by_external, slash=False)
    for name in ("query", "queryAll"):
        _route(router, f"/{name}", ["GET"], query)
        _route(router, f"/{name}/{{locator}}", ["GET"], query_more)
    return router


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
    """Client id and secret from the form, or from HTTP Basic auth."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header[6:]).decode()
        except ValueError:
            decoded = ":"
        client_id, _, secret = decoded.partition(":")
        return client_id, secret
    return form.get("client_id", ""), form.get("client_secret", "")


def _oauth_error(error: str, description: str) -> SfJSONResponse:
    return SfJSONResponse({"error": error, "error_description": description}, 400)


async def _token(request: Request) -> Any:
    fields = parse_qs((await request.body()).decode(errors="replace"))
    form = {key: values[0] for key, values in fields.items()}
    grant_type = form.get("grant_type", "")
    sandbox = _sandbox(request)
    if grant_type == JWT_BEARER_GRANT:
        try:
            sandbox.connected_app.verify(form.get("assertion", ""), time.time())
        except OAuthRefusal as refusal:
            return SfJSONResponse(refusal.body(), 400)
        # Salesforce answers the bearer grant without a refresh token or a signature.
        token, _ = await run_in_threadpool(sandbox.tokens.issue)
        body = _token_answer(request, token)
        body["scope"] = "api"
        return SfJSONResponse(body)
    if grant_type not in ("client_credentials", "password"):
        return _oauth_error("unsupported_grant_type", "grant type not supported")
    if not sandbox.tokens.client_ok(*_client_credentials(request, form)):
        return _oauth_error("invalid_client", "invalid client credentials")
    if grant_type == "password" and not (form.get("username") and form.get("password")):
        return _oauth_error("invalid_grant", "authentication failure")
    token, issued_at = await run_in_threadpool(sandbox.tokens.issue)
    body = _token_answer(request, token)
    body["issued_at"] = issued_at
    body["signature"] = sandbox.tokens.signature(body["id"], issued_at)
    return SfJSONResponse(body)


def _token_answer(request: Request, token: str) -> dict[str, str]:
    base = request.app.state.config.base_url.rstrip("/")
    identity = _sandbox(request).identity
    return {
        "access_token": token,
        "instance_url": base,
        "id": f"{base}/id/{identity.org_id}/{identity.user_id}",
        "token_type": "Bearer",
    }


async def _versions() -> Any:
    return [{"label": "Winter '24", "url": f"{DATA_PREFIX}/v{API_VERSION}", "version": API_VERSION}]


class ClockAdvance(BaseModel):
    advanceSeconds: float = Field(ge=0, description="how far to move the bus's clock forward")


class CertificateUpload(BaseModel):
    consumerKey: str
    certificate: str = Field(description="PEM X.509 certificate, RSA key")


def _admin_router() -> APIRouter:
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @router.post("/reset")
    async def reset(request: Request) -> dict[str, str]:
        await run_in_threadpool(_sandbox(request).reset)
        return {"status": "reset"}

    @router.get("/webhook-deliveries", response_class=SfJSONResponse)
    async def deliveries(
        request: Request,
        opportunityId: str | None = None,
        recordId: str | None = None,
        status: str | None = None,
        event: str | None = None,
    ) -> Any:
        """Newest first; ``event`` is a callout's event name or a CDC channel."""
        webhooks = _sandbox(request).webhooks
        found = await run_in_threadpool(
            webhooks.list_deliveries, recordId or opportunityId, status, event=event
        )
        return SfJSONResponse({"deliveries": found})

    @router.post("/webhooks/redeliver/{record_id}", status_code=202)
    async def redeliver(
        request: Request, record_id: str, event: str | None = None
    ) -> dict[str, int]:
        """Send the record's last event again (of kind ``event``, when given)."""
        sandbox = _sandbox(request)
        delivery_id = await run_in_threadpool(sandbox.redeliver, record_id, event)
        if delivery_id is None:
            raise not_found()
        sandbox.webhooks.dispatch([delivery_id])
        return {"deliveryId": delivery_id}

    @router.post("/connected-app/certificate")
    async def upload_certificate(request: Request, upload: CertificateUpload) -> dict[str, str]:
        """What an admin does in Setup: upload the certificate of the integration's key."""
        app = _sandbox(request).connected_app
        if upload.consumerKey != app.consumer_key:
            raise not_found()
        try:
            certificate = await run_in_threadpool(app.upload_certificate, upload.certificate)
        except CertificateRefused as exc:
            raise bad_request("INVALID_CERTIFICATE", str(exc)) from None
        return {"consumerKey": app.consumer_key, **certificate.describe()}

    @router.get("/field-security", response_class=SfJSONResponse)
    async def field_security(request: Request) -> Any:
        return SfJSONResponse({"rules": _sandbox(request).field_security.rules()})

    @router.put("/field-security", response_class=SfJSONResponse)
    async def set_field_security(request: Request, rule: FieldAccessRule) -> Any:
        """Grant or take away the API user's access to one field, as a profile would."""
        obj = _object(rule.object)
        f = obj.field(rule.field)
        if f is None:
            raise not_found()
        security = _sandbox(request).field_security
        security.set(obj, f, rule.access)
        return SfJSONResponse({"rules": security.rules()})

    @router.delete("/field-security", response_class=SfJSONResponse)
    async def reset_field_security(request: Request) -> Any:
        security = _sandbox(request).field_security
        security.reset()
        return SfJSONResponse({"rules": security.rules()})

    @router.get("/event-bus", response_class=SfJSONResponse)
    async def event_bus(request: Request) -> Any:
        """What the Pub/Sub API serves: entities, stored events, retention, the clock."""
        return SfJSONResponse(await run_in_threadpool(_sandbox(request).bus.status))

    @router.post("/event-bus/clock", response_class=SfJSONResponse)
    async def advance_bus_clock(request: Request, advance: ClockAdvance) -> Any:
        """Move the event bus's clock forward: events older than the retention are purged,
        as if the subscriber had been away that long."""
        bus = _sandbox(request).bus
        await run_in_threadpool(bus.advance_clock, advance.advanceSeconds)
        return SfJSONResponse(await run_in_threadpool(bus.status))

    @router.post("/tokens/revoke")
    async def revoke(request: Request) -> dict[str, str]:
        await run_in_threadpool(_sandbox(request).tokens.revoke_all)
        return {"status": "revoked"}

    return router


def _install_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SalesforceApiError)
        return _error(exc)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return _error(not_found())
        if exc.status_code == 405:
            return _error(
                SalesforceApiError(
                    405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed"
                )
            )
        return _error(SalesforceApiError(exc.status_code, "UNKNOWN_EXCEPTION", str(exc.detail)))

    async def unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return _error(
            SalesforceApiError(
                500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please check the logs."
            )
        )

    app.add_exception_handler(SalesforceApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, unexpected)


def build_sandbox(config: SalesforceSandboxConfig) -> SalesforceSandbox:
    return SalesforceSandbox(
        Database(config.db_path),
        config.client_id,
        config.client_secret,
        config.webhook_url,
        config.webhook_secret,
        config.webhook_retry_delays,
        config.webhook_timeout_seconds,
        config.min_query_batch_size,
        config.api_limit,
        fault_rules=(
            config.faults if config.faults is not None else fault_rules_from_env(FAULTS_ENV_VAR)
        ),
        cdc_entities=config.cdc_entities,
        usernames=config.usernames,
        own_url=config.base_url,
        event_bus_entities=config.event_bus_entities,
    )


async def close_sandbox(sandbox: SalesforceSandbox) -> None:
    """Finish callouts, persist the usage counter and close the database."""
    await sandbox.webhooks.aclose()
    await run_in_threadpool(sandbox.usage.flush)
    sandbox.db.close()


def build_app(config: SalesforceSandboxConfig) -> FastAPI:
    sandbox = build_sandbox(config)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await sandbox.webhooks.resume_pending()
        pubsub = None
        if config.pubsub_port is not None:
            pubsub, app.state.pubsub_port = await serve_pubsub(
                sandbox,
                config.pubsub_host,
                config.pubsub_port,
                instance_url=config.base_url,
                keepalive_seconds=config.pubsub_keepalive_seconds,
            )
        yield
        if pubsub is not None:
            await pubsub.stop(grace=1)
        await close_sandbox(sandbox)

    app = FastAPI(
        title="Syncline Salesforce sandbox",
        version=API_VERSION,
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.sandbox = sandbox
    app.state.config = config
    app.add_middleware(_UsageHeader, sandbox=sandbox)
    # Added last = outermost: faults act like the network in front of the org, so a
    # faulted request is neither served nor counted against the API limit.
    app.add_middleware(FaultMiddleware, injector=sandbox.faults)
    _install_error_handlers(app)
    # After the handlers: the composite resource's subrequests are rendered by them.
    app.state.composite_inner = inner_app(app)
    app.add_api_route(
        "/services/oauth2/token", _token, methods=["POST"], response_class=SfJSONResponse
    )
    for path in (DATA_PREFIX, DATA_PREFIX + "/"):
        app.add_api_route(
            path,
            _versions,
            methods=["GET"],
            response_class=SfJSONResponse,
            include_in_schema=path == DATA_PREFIX,
        )
    app.include_router(_data_router())
    app.include_router(_admin_router())
    app.include_router(fault_admin_router(sandbox.faults))
    return app


def app_from_env() -> FastAPI:
    """``uvicorn --factory`` entry point, configured by ``SYNCLINE_SF_*`` variables,
    ``SYNCLINE_SANDBOX_CRM_FAULTS`` and ``SYNCLINE_SANDBOX_CDC``."""
    env = os.environ
    return build_app(
        SalesforceSandboxConfig(
            db_path=Path(env.get("SYNCLINE_SF_DB_PATH", ".syncline/salesforce.db")),
            client_id=env["SYNCLINE_SF_CLIENT_ID"],
            client_secret=env["SYNCLINE_SF_CLIENT_SECRET"],
            webhook_url=env.get("SYNCLINE_SF_WEBHOOK_URL") or None,
            webhook_secret=env.get("SYNCLINE_SF_WEBHOOK_SECRET") or None,
            base_url=env.get("SYNCLINE_SF_BASE_URL", "http://127.0.0.1:8010"),
            faults=fault_rules_from_env(FAULTS_ENV_VAR, env),
            cdc_entities=entities_from_env(env),
            usernames=_usernames_from_env(env) or (DEFAULT_USERNAME,),
            **pubsub_settings_from_env(env),
        )
    )


def pubsub_settings_from_env(env: Mapping[str, str]) -> dict[str, Any]:
    """``SYNCLINE_SANDBOX_PUBSUB_PORT`` serves the Pub/Sub API there, carrying the change
    events of ``SYNCLINE_SANDBOX_EVENT_BUS`` (default: accounts and opportunities, what
    Syncline's change stream reads); ``SYNCLINE_SANDBOX_PUBSUB_KEEPALIVE_SECONDS``."""
    port = env.get(PUBSUB_PORT_ENV_VAR)
    if not port:
        return {}
    entities = entities_from_env(env, EVENT_BUS_ENV_VAR) or ("Account", "Opportunity")
    settings: dict[str, Any] = {"pubsub_port": int(port), "event_bus_entities": entities}
    keepalive = env.get(KEEPALIVE_ENV_VAR)
    if keepalive:
        settings["pubsub_keepalive_seconds"] = float(keepalive)
    return settings


def _usernames_from_env(env: Mapping[str, str]) -> tuple[str, ...]:
    """``SYNCLINE_SF_USERNAMES``: comma-separated users the JWT bearer grant may name."""
    return tuple(n.strip() for n in env.get("SYNCLINE_SF_USERNAMES", "").split(",") if n.strip())
