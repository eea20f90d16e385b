"""Fault injection for the sandboxes: errors, rate limits, latency and lost responses.

Generic on purpose: any sandbox app mounts ``FaultMiddleware`` with a
``FaultInjector`` and the admin router, and passes its own error-body shape. Rules
are set at start (a JSON list in an environment variable, e.g.
``SYNCLINE_SANDBOX_ERP_FAULTS``, or the app's config) and replaced at
run time through ``POST /admin/faults``.

``malformed`` answers 200 with the rule's ``body`` instead of the real answer: a
response of a shape no connector expects, which Syncline retries a bounded number of
times and then parks as unexpected.

``commit_then_drop`` is the fault Syncline's idempotency exists for: the request is
fully processed (the write commits), then the connection is cut after a partial
response, so the client sees a transport error (``httpx.RemoteProtocolError``) and
cannot know whether the write happened. It needs a real HTTP server (uvicorn closes
the connection when the app returns an incomplete response); an in-process ASGI
transport would just hand back the partial response.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, TypeAdapter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

logger = logging.getLogger(__name__)

FAULTS_ENV_VAR = "SYNCLINE_SANDBOX_FAULTS"


class FaultMode(StrEnum):
    ERROR = "error"
    RATE_LIMIT = "rate_limit"
    LATENCY = "latency"
    COMMIT_THEN_DROP = "commit_then_drop"
    MALFORMED = "malformed"
    """200 with a JSON body not of the API's shape, as a misconfigured proxy or a
    half-deployed API version answers: a client must not retry it forever."""


class FaultRule(BaseModel):
    """One fault. The first rule that matches a request and has ``times`` left fires."""

    mode: FaultMode
    status: int = Field(500, ge=400, le=599, description="HTTP status for mode=error")
    retry_after: float | None = Field(1, ge=0, description="Retry-After seconds (rate_limit)")
    latency_ms: int = Field(150, ge=0, description="Added delay (mode=latency)")
    times: int | None = Field(None, ge=0, description="Fires left; null = forever")
    method: str | None = Field(None, description="Only this HTTP method; null = any")
    path_prefix: str | None = Field(None, description="Only paths starting with this")
    body_contains: str | None = Field(
        None,
        description="Only requests whose body holds this text (one SuiteQL table's reads: "
        "'FROM customer')",
    )
    code: str | None = Field(None, description="Error code in the body (error, rate_limit)")
    detail: str | None = Field(None, description="Error detail in the body (error, rate_limit)")
    body: Any = Field(None, description="The JSON answered with 200 (malformed)")

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_prefix is None or path.startswith(self.path_prefix)

    def body_matches(self, body: bytes | None) -> bool:
        if self.body_contains is None:
            return True
        return body is not None and self.body_contains.encode() in body


ErrorBodyFactory = Callable[[int, str, str], Any]
"""``(status, code, detail) -> JSON body``: each sandbox speaks its vendor's error shape."""


def generic_error_body(status: int, code: str, detail: str) -> Any:
    return {"status": status, "errorCode": code, "message": detail}


_rules_adapter = TypeAdapter(list[FaultRule])


def fault_rules_from_env(
    var: str = FAULTS_ENV_VAR, env: Mapping[str, str] | None = None
) -> list[FaultRule]:
    """Rules from a JSON list in an environment variable; none when it is unset."""
    raw = (os.environ if env is None else env).get(var, "").strip()
    return _rules_adapter.validate_json(raw) if raw else []


@dataclass
class _Armed:
    rule: FaultRule
    remaining: int | None


class FaultInjector:
    """The live rule set, counted down atomically as rules fire."""

    def __init__(
        self,
        rules: Sequence[FaultRule] = (),
        *,
        error_body: ErrorBodyFactory = generic_error_body,
        exempt_prefixes: Sequence[str] = ("/admin",),
    ) -> None:
        self.error_body = error_body
        # Admin routes are never faulted, or a forever-rule could not be removed.
        self.exempt_prefixes = tuple(exempt_prefixes)
        # A threading lock, not an asyncio one: taking a rule never awaits, and the
        # injector stays correct if an app is driven from several threads.
        self._lock = threading.Lock()
        self._armed: list[_Armed] = []
        self.fired = 0
        self.set_rules(rules)

    def set_rules(self, rules: Sequence[FaultRule]) -> None:
        with self._lock:
            self._armed = [_Armed(rule, rule.times) for rule in rules]

    def clear(self) -> None:
        self.set_rules(())

    def reset_stats(self) -> None:
        with self._lock:
            self.fired = 0

    def rules(self) -> list[FaultRule]:
        """The rules with ``times`` showing what is left of each."""
        with self._lock:
            return [a.rule.model_copy(update={"times": a.remaining}) for a in self._armed]

    def applies(self, rule: FaultRule, method: str, path: str) -> bool:
        """Whether ``rule`` may fire on this request; a sandbox narrows it further."""
        return rule.matches(method, path)

    def shape(self, rule: FaultRule) -> FaultRule:
        """The rule as this sandbox answers it (its API's status and error codes)."""
        return rule

    def wants_body(self, method: str, path: str) -> bool:
        """Whether a live rule looks into this request's body (which must then be read
        before the rule is taken)."""
        if path.startswith(self.exempt_prefixes):
            return False
        with self._lock:
            return any(
                armed.remaining != 0
                and armed.rule.body_contains is not None
                and self.applies(armed.rule, method, path)
                for armed in self._armed
            )

    def take(self, method: str, path: str, body: bytes | None = None) -> FaultRule | None:
        if path.startswith(self.exempt_prefixes):
            return None
        with self._lock:
            for armed in self._armed:
                if armed.remaining == 0 or not self.applies(armed.rule, method, path):
                    continue
                if not armed.rule.body_matches(body):
                    continue
                if armed.remaining is not None:
                    armed.remaining -= 1
                self.fired += 1
                return self.shape(armed.rule)
        return None


def _retry_after_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


class FaultMiddleware:
    """Pure ASGI middleware, so it can cut a response mid-flight (commit_then_drop)."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = None
        if self.injector.wants_body(scope["method"], scope["path"]):
            body, receive = await _buffered(receive)
        rule = self.injector.take(scope["method"], scope["path"], body)
        if rule is None:
            await self.app(scope, receive, send)
            return
        logger.info("fault %s fires on %s %s", rule.mode.value, scope["method"], scope["path"])
        if rule.mode is FaultMode.LATENCY:
            await asyncio.sleep(rule.latency_ms / 1000)
            await self.app(scope, receive, send)
        elif rule.mode is FaultMode.ERROR:
            await self._send_error(
                send,
                rule.status,
                rule.code or "UNEXPECTED_ERROR",
                rule.detail or "An unexpected error occurred.",
                {},
            )
        elif rule.mode is FaultMode.RATE_LIMIT:
            headers = {}
            if rule.retry_after is not None:
                headers["retry-after"] = _retry_after_header(rule.retry_after)
            await self._send_error(
                send,
                429,
                rule.code or "CONCURRENCY_LIMIT_EXCEEDED",
                rule.detail or "Too many requests. Retry later.",
                headers,
            )
        elif rule.mode is FaultMode.MALFORMED:
            await self._send_json(send, 200, rule.body, {})
        else:
            await self._commit_then_drop(scope, receive, send)

    async def _send_error(
        self, send: Send, status: int, code: str, detail: str, headers: dict[str, str]
    ) -> None:
        await self._send_json(send, status, self.injector.error_body(status, code, detail), headers)

    async def _send_json(
        self, send: Send, status: int, payload: Any, headers: dict[str, str]
    ) -> None:
        body = json.dumps(payload).encode()
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        raw_headers += [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})

    async def _commit_then_drop(self, scope: Scope, receive: Receive, send: Send) -> None:
        status: list[int] = []

        async def swallow(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])

        # The request runs to completion, so its write is committed...
        await self.app(scope, receive, swallow)
        logger.info(
            "dropping the connection after a %s response was committed",
            status[0] if status else "missing",
        )
        # ...then the client gets headers promising a body that never comes. Returning
        # with the response incomplete makes uvicorn close the connection, which the
        # client sees as a RemoteProtocolError.
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
            }
        )
        await send({"type": "http.response.body", "body": b"{", "more_body": True})


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The request's whole body, and a ``receive`` that hands it to the app again."""
    chunks: list[bytes] = []
    gone: Message | None = None
    while True:
        message = await receive()
        if message["type"] != "http.request":
            gone = message  # the client went away: the app hears it after the body
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return gone if gone is not None else await receive()

    return body, replay


def fault_admin_router(injector: FaultInjector) -> APIRouter:
    """``GET/POST/DELETE /admin/faults``: read, replace, clear the rules."""
    router = APIRouter(prefix="/admin", tags=["admin"])

    @router.get("/faults")
    async def get_faults() -> list[FaultRule]:
        return injector.rules()

    @router.post("/faults")
    async def set_faults(rules: list[FaultRule]) -> list[FaultRule]:
        injector.set_rules(rules)
        logger.info("fault rules replaced: %d rule(s)", len(rules))
        return injector.rules()

    @router.delete("/faults", status_code=204)
    async def clear_faults() -> Response:
        injector.clear()
        return Response(status_code=204)

    return router
