"""Salesforce's Composite resource (``POST /services/data/vXX.X/composite``).

Up to 25 subrequests in one call, run in order as the same user; a later subrequest
may name a value of an earlier one's response as ``@{referenceId.path}`` (``path``:
field names and ``[n]`` indexes, e.g. ``@{lines.records[0].Id}``) in its url or body.
The whole call counts once against the API limit (Salesforce: "The entire series of
requests counts as a single call toward your API limits").

Each subrequest goes through the org's own routes, dependencies and error handlers,
and through its fault rules (``/admin/faults``: a rule on a path fires whether that path
is called alone or in a composite call, so a test's fault reaches the connector either
way; a dropped connection fails the whole call), but is not counted again.

Where Salesforce's documentation says less than the sandbox must decide:

* A subrequest whose reference cannot be resolved (the referenced subrequest failed,
  or its response has no such value, or the value is null) is not run and answers 400
  ``PROCESSING_HALTED``; the documentation says dependent subrequests "aren't
  executed" with ``allOrNone`` false but does not give the body. A null value is taken
  as no value.
* ``allOrNone`` true rolls back every write of the call when one subrequest fails; the
  sandbox has no such transaction, so it takes ``allOrNone`` true only for calls that
  write nothing (every subrequest a ``GET``) and answers 400 otherwise rather than
  pretend. With it, once a subrequest fails every other one answers 400
  ``PROCESSING_HALTED``, as the documentation says of the status codes.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from fastapi.middleware.asyncexitstack import AsyncExitStackMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from models.exact_json import dumps, loads
from sandbox.faults import FaultMiddleware
from sandbox.salesforce.errors import SalesforceApiError, bad_request

MAX_SUBREQUESTS = 25
MAX_QUERIES = 5
_METHODS = {"GET", "POST", "PATCH", "PUT", "DELETE", "HEAD"}
_REFERENCE_ID = re.compile(r"^[A-Za-z0-9_]+$")
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])+)\}")
_PATH_PART = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]")
# What the org's own response says about its transport, not about the subrequest.
_DROPPED_HEADERS = {"content-length", "content-type", "transfer-encoding", "connection"}


class _Halted(Exception):
    """A reference of this subrequest names no value."""


def inner_app(app: Any) -> ASGIApp:
    """The org's routes with its error handlers, as the inner part of the stack FastAPI
    builds (``FastAPI.build_middleware_stack``), behind the org's fault rules."""
    handlers = {
        key: handler
        for key, handler in app.exception_handlers.items()
        if key not in (500, Exception)
    }
    stack = FaultMiddleware(
        ExceptionMiddleware(AsyncExitStackMiddleware(app.router), handlers=handlers),
        injector=app.state.sandbox.faults,
    )

    async def as_the_org(scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = app  # what Starlette's own entry sets: routes find the org by it
        await stack(scope, receive, send)

    return as_the_org


async def run_composite(inner: ASGIApp, body: Any, authorization: str) -> dict[str, Any]:
    """The ``compositeResponse`` for ``body``, each subrequest run against ``inner``."""
    subrequests, all_or_none = _validated(body)
    results: dict[str, tuple[int, Any]] = {}
    answers: list[dict[str, Any]] = []
    failed = False
    transport = httpx.ASGITransport(app=inner)
    async with httpx.AsyncClient(transport=transport, base_url="http://org") as client:
        for sub in subrequests:
            if failed and all_or_none:
                break  # nothing runs after a failure; its answers are made below
            reference_id = sub["referenceId"]
            try:
                url = _resolve_text(sub["url"], results)
                payload = _resolve_value(sub.get("body"), results)
            except _Halted as halted:
                status, content, headers = _halted(str(halted))
            else:
                status, content, headers = await _send(
                    client, sub["method"], url, payload, sub.get("httpHeaders"), authorization
                )
            failed |= status >= 400
            results[reference_id] = (status, content)
            answers.append(
                {
                    "body": content,
                    "httpHeaders": headers,
                    "httpStatusCode": status,
                    "referenceId": reference_id,
                }
            )
    if failed and all_or_none:
        # Salesforce: with allOrNone, every subrequest but the one that failed answers
        # 400 once one does (here nothing was written: only reads take allOrNone).
        answers = [
            answer if answer["httpStatusCode"] >= 400 else _rolled_back(answer)
            for answer in answers
        ] + [
            _rolled_back({"referenceId": sub["referenceId"]}) for sub in subrequests[len(answers) :]
        ]
    return {"compositeResponse": answers}


def _rolled_back(answer: dict[str, Any]) -> dict[str, Any]:
    status, body, headers = _halted("another subrequest of the call failed")
    return {**answer, "body": body, "httpHeaders": headers, "httpStatusCode": status}


def _validated(body: Any) -> tuple[list[dict[str, Any]], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
        raise bad_request("INVALID_INPUT", "compositeRequest must be a list of subrequests")
    subrequests = body["compositeRequest"]
    if not 1 <= len(subrequests) <= MAX_SUBREQUESTS:
        raise bad_request(
            "INVALID_INPUT", f"a composite call takes 1 to {MAX_SUBREQUESTS} subrequests"
        )
    all_or_none = body.get("allOrNone", False)
    if not isinstance(all_or_none, bool):
        raise bad_request("INVALID_INPUT", "allOrNone must be true or false")
    seen: set[str] = set()
    queries = 0
    for sub in subrequests:
        if not isinstance(sub, dict):
            raise bad_request("INVALID_INPUT", "each subrequest must be an object")
        method, url, reference_id = sub.get("method"), sub.get("url"), sub.get("referenceId")
        if not isinstance(method, str) or method.upper() not in _METHODS:
            raise bad_request("INVALID_INPUT", f"unsupported method {method!r}")
        if not isinstance(url, str) or not url.startswith("/services/data/"):
            raise bad_request("INVALID_INPUT", f"a subrequest url starts /services/data/: {url!r}")
        if not isinstance(reference_id, str) or not _REFERENCE_ID.match(reference_id):
            raise bad_request(
                "INVALID_INPUT", f"referenceId {reference_id!r}: letters, digits and _ only"
            )
        if reference_id in seen:
            raise bad_request("INVALID_INPUT", f"duplicate referenceId {reference_id!r}")
        seen.add(reference_id)
        queries += "/query" in url.split("?")[0]
        sub["method"] = method.upper()
    if queries > MAX_QUERIES:
        raise bad_request("INVALID_INPUT", f"a composite call takes at most {MAX_QUERIES} queries")
    if all_or_none and any(sub["method"] != "GET" for sub in subrequests):
        raise bad_request(
            "INVALID_INPUT",
            "the sandbox cannot roll a composite call's writes back: allOrNone true is "
            "taken only for calls that write nothing",
        )
    return subrequests, all_or_none


def _lookup(reference_id: str, path: str, results: dict[str, tuple[int, Any]]) -> Any:
    where = f"@{{{reference_id}{path}}}"
    if reference_id not in results:
        raise _Halted(f"Invalid reference specified. No value for {where}: no earlier subrequest")
    status, value = results[reference_id]
    if status >= 400:
        raise _Halted(f"Invalid reference specified. {reference_id} failed: {where} has no value")
    for name, index in _PATH_PART.findall(path):
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            value = None
        if value is None:
            break
    if value is None or isinstance(value, dict | list):
        raise _Halted(f"Invalid reference specified. No value for {where} found")
    return value


def _resolve_text(text: str, results: dict[str, tuple[int, Any]]) -> str:
    return _REFERENCE.sub(lambda m: str(_lookup(m.group(1), m.group(2), results)), text)


def _resolve_value(value: Any, results: dict[str, tuple[int, Any]]) -> Any:
    """References in a body: a string that is one reference takes the value's type."""
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return _lookup(whole.group(1), whole.group(2), results)
        return _resolve_text(value, results)
    if isinstance(value, dict):
        return {key: _resolve_value(item, results) for key, item in value.items()}
    if isinstance(value, list):
        return [_resolve_value(item, results) for item in value]
    return value


async def _send(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    payload: Any,
    headers: Any,
    authorization: str,
) -> tuple[int, Any, dict[str, str]]:
    sent = {str(k): str(v) for k, v in headers.items()} if isinstance(headers, dict) else {}
    sent["Authorization"] = authorization
    content = None
    if payload is not None:
        content = dumps(payload).encode()
        sent["Content-Type"] = "application/json"
    response = await client.request(method, url, content=content, headers=sent)
    body = loads(response.content) if response.content else None
    kept = {
        name: value
        for name, value in response.headers.items()
        if name.lower() not in _DROPPED_HEADERS
    }
    return response.status_code, body, kept


def _halted(message: str) -> tuple[int, Any, dict[str, str]]:
    error = SalesforceApiError(400, "PROCESSING_HALTED", message)
    return error.status_code, error.body(), {}
