"""The REST record API and the SuiteQL endpoint."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from models import exact_json
from sandbox.netsuite import records
from sandbox.netsuite.errors import (
    INVALID_CONTENT,
    INVALID_PARAMETER,
    INVALID_SEARCH,
    bad_request,
)
from sandbox.netsuite.jsonutil import ExactJSONResponse
from sandbox.netsuite.query import QueryPage, run_query
from sandbox.netsuite.state import NetSuiteSandbox
from sandbox.netsuite.suiteql import SuiteQLError

logger = logging.getLogger(__name__)

SUITEQL_PATH = "/services/rest/query/v1/suiteql"
MAX_PAGE = 1000


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        payload = exact_json.loads(raw) if raw.strip() else None
    except ValueError:
        raise bad_request(INVALID_CONTENT, "The request body is not valid JSON.") from None
    if not isinstance(payload, Mapping):
        raise bad_request(INVALID_CONTENT, "The request body must be a JSON object.")
    return dict(payload)


def _paging(request: Request, default_limit: int) -> tuple[int, int]:
    try:
        limit = int(request.query_params.get("limit", default_limit))
        offset = int(request.query_params.get("offset", 0))
    except ValueError:
        raise bad_request(INVALID_PARAMETER, "limit and offset must be integers.") from None
    if not 1 <= limit <= MAX_PAGE or offset < 0:
        raise bad_request(INVALID_PARAMETER, f"limit must be 1..{MAX_PAGE} and offset >= 0.")
    return limit, offset


def _page_links(request: Request, limit: int, offset: int, has_more: bool) -> list[dict[str, str]]:
    url = request.url
    links = [{"rel": "self", "href": str(url)}]
    if has_more:
        links.append(
            {
                "rel": "next",
                "href": str(url.include_query_params(limit=limit, offset=offset + limit)),
            }
        )
    return links


def record_router(sandbox: NetSuiteSandbox) -> APIRouter:
    router = APIRouter(
        prefix=records.RECORD_PATH, tags=["record"], dependencies=[Depends(sandbox.auth.require)]
    )
    store = sandbox.store

    @router.post("/{record_type}", status_code=204)
    async def create_record(record_type: str, request: Request) -> Response:
        rt = records.resolve_type(record_type)
        payload = await _json_object(request)
        internal_id = await store.write(
            lambda conn: records.create(conn, rt, payload, sandbox.now())
        )
        return Response(
            status_code=204,
            headers={"Location": records.location(_base_url(request), rt, internal_id)},
        )

    @router.get("/{record_type}")
    async def list_records(record_type: str, request: Request) -> Response:
        rt = records.resolve_type(record_type)
        limit, offset = _paging(request, MAX_PAGE)
        ids, total = await store.read(lambda conn: records.list_ids(conn, rt, limit, offset))
        base = _base_url(request)
        has_more = offset + len(ids) < total
        return ExactJSONResponse(
            {
                "links": _page_links(request, limit, offset, has_more),
                "count": len(ids),
                "hasMore": has_more,
                "offset": offset,
                "totalResults": total,
                "items": [
                    {
                        "links": [{"rel": "self", "href": records.location(base, rt, i)}],
                        "id": str(i),
                    }
                    for i in ids
                ],
            }
        )

    @router.get("/{record_type}/{key:path}")
    async def get_record(record_type: str, key: str, request: Request) -> Response:
        rt = records.resolve_type(record_type)
        record = await store.read(lambda conn: records.fetch(conn, rt, key))
        return ExactJSONResponse(records.render(record, _base_url(request)))

    @router.patch("/{record_type}/{key:path}", status_code=204)
    async def update_record(record_type: str, key: str, request: Request) -> Response:
        rt = records.resolve_type(record_type)
        payload = await _json_object(request)
        internal_id = await store.write(
            lambda conn: records.update_by_key(conn, rt, key, payload, sandbox.now())
        )
        return Response(
            status_code=204,
            headers={"Location": records.location(_base_url(request), rt, internal_id)},
        )

    @router.put("/{record_type}/{key:path}", status_code=204)
    async def upsert_record(record_type: str, key: str, request: Request) -> Response:
        """Upsert by external id: creates or updates, atomically, in one transaction."""
        rt = records.resolve_type(record_type)
        if not key.startswith("eid:") or len(key) == 4:
            raise bad_request(
                INVALID_PARAMETER, "PUT (upsert) needs an external id: /{type}/eid:{externalId}."
            )
        payload = await _json_object(request)
        internal_id, created = await store.write(
            lambda conn: records.upsert(conn, rt, key[4:], payload, sandbox.now())
        )
        logger.debug("upsert %s %s: %s", rt.name, key, "created" if created else "updated")
        return Response(
            status_code=204,
            headers={"Location": records.location(_base_url(request), rt, internal_id)},
        )

    @router.delete("/{record_type}/{key:path}", status_code=204)
    async def delete_record(record_type: str, key: str) -> Response:
        rt = records.resolve_type(record_type)
        await store.write(lambda conn: records.delete(conn, rt, key, sandbox.now()))
        return Response(status_code=204)

    return router


def query_router(sandbox: NetSuiteSandbox) -> APIRouter:
    router = APIRouter(tags=["query"], dependencies=[Depends(sandbox.auth.require)])

    @router.post(SUITEQL_PATH)
    async def suiteql(request: Request) -> Response:
        if "transient" not in request.headers.get("prefer", "").lower():
            raise bad_request(
                INVALID_PARAMETER, "SuiteQL requests need the header 'Prefer: transient'."
            )
        limit, offset = _paging(request, MAX_PAGE)
        body = await _json_object(request)
        text = body.get("q")
        if not isinstance(text, str):
            raise bad_request(INVALID_PARAMETER, 'The body must be {"q": "<SuiteQL>"}.', "q")

        def run(conn: sqlite3.Connection) -> QueryPage:
            return run_query(conn, text, limit, offset)

        try:
            page = await sandbox.store.read(run)
        except SuiteQLError as exc:
            code = INVALID_SEARCH if "was not found" in str(exc) else INVALID_PARAMETER
            raise bad_request(
                code,
                "Invalid search query. Detailed unprocessed description "
                f"follows. Search error occurred: {exc}.",
                "q",
            ) from None
        has_more = offset + len(page.items) < page.total
        return ExactJSONResponse(
            {
                "links": _page_links(request, limit, offset, has_more),
                "count": len(page.items),
                "hasMore": has_more,
                "items": [{"links": [], **item} for item in page.items],
                "offset": offset,
                "totalResults": page.total,
            }
        )

    return router
