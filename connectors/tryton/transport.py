"""``TrytonRest``: Tryton's REST API as calls on records, for the ERP logic above it.

Why REST and not JSON-RPC: the REST API authenticates with a user application key
(revocable in Tryton, no password or session for Syncline to hold), answers with HTTP
status codes that map straight onto the error taxonomy (JSON-RPC answers every error
with 200), and runs each call in one Tryton transaction like JSON-RPC does.

Every request holds one ``governor.slot()`` and names the company in
``X-Tryton-Context``; bodies and answers go through Tryton's JSON codec (``Decimal``,
dates), and every failure leaves here as a ``ConnectorError`` (``errors.map_error``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import httpx

from connectors.errors import RejectedError, TransientError
from connectors.governor import ConcurrencyGovernor, UnlimitedGovernor
from connectors.http import DEFAULT_TIMEOUT, HttpConnector, build_http_client, transport_error
from connectors.tryton.errors import SYSTEM, map_error
from models import tryton_json as codec

logger = logging.getLogger(__name__)

# Values per ``in`` clause of a search (SKUs, references): the domain travels in the
# URL, so short URLs, and well inside any database's IN-list limits.
IN_CHUNK = 200


class TrytonRest(HttpConnector):
    """Search, read, create, write and run buttons on Tryton records over REST."""

    def __init__(
        self,
        base_url: str,
        database: str,
        application_key: str,
        *,
        company_id: int | None = None,
        governor: ConcurrencyGovernor | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_connections: int = 20,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.database = database
        self._key = application_key
        self._company_id = company_id
        self._governor: ConcurrencyGovernor = governor or UnlimitedGovernor()
        self._http = build_http_client(
            f"{self.base_url}/{quote(database, safe='')}/rest",
            system=SYSTEM,
            transport=transport,
            timeout=timeout,
            max_connections=max_connections,
        )

    def __repr__(self) -> str:  # never the key
        return f"TrytonRest(base_url={self.base_url!r}, database={self.database!r})"

    async def _send(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: Sequence[tuple[str, str]] = (),
        context: Mapping[str, Any] | None = None,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self._key}", "Accept": "application/json"}
        if context:
            headers["X-Tryton-Context"] = codec.query_value(dict(context))
        content = None
        if body is not None:
            content = codec.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        async with self._governor.slot():
            try:
                response = await self._http.request(
                    method, path, content=content, params=list(params), headers=headers
                )
            except httpx.TransportError as exc:
                # The write may have committed: callers' find-or-create makes retry safe.
                raise transport_error(SYSTEM, exc) from exc
        logger.debug("%s %s -> %d", method, path, response.status_code)
        if not response.is_success:
            raise map_error(response)
        if response.status_code == 204 or not response.content:
            return None
        try:
            return codec.loads(response.content)
        except ValueError:
            raise TransientError(
                "the response was not valid JSON", system=SYSTEM, status_code=response.status_code
            ) from None

    async def _context(self) -> dict[str, Any]:
        return {"company": await self.company_id()}

    async def company_id(self) -> int:
        """The configured company, or the one company the Syncline user works in."""
        if self._company_id is None:
            companies = await self._send(
                "GET", "/model/company.company", params=[("f", "id"), ("s", "2")]
            )
            if len(companies) != 1:
                raise RejectedError(
                    "the Syncline user sees "
                    + ("no company" if not companies else "several companies")
                    + "; set SYNCLINE_ERP_COMPANY",
                    system=SYSTEM,
                )
            self._company_id = int(companies[0]["id"])
        return self._company_id

    async def search(
        self,
        model: str,
        domain: Sequence[Any],
        fields: Sequence[str],
        *,
        order: Sequence[tuple[str, str]] | None = None,
        limit: int | None = None,
        context: Mapping[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        params = [("d", codec.query_value(list(domain)))] + [("f", f) for f in fields]
        if order is not None:
            params.append(("o", codec.query_value([list(o) for o in order])))
        if limit is not None:
            params.append(("s", str(limit)))
        records: list[dict[str, Any]] = await self._send(
            "GET",
            f"/model/{model}",
            params=params,
            context={**await self._context(), **(context or {})},
        )
        return records

    async def read(self, model: str, record_id: int | str, fields: Sequence[str]) -> dict[str, Any]:
        record: dict[str, Any] = await self._send(
            "GET",
            f"/model/{model}/{int(record_id)}",
            params=[("f", f) for f in fields],
            context=await self._context(),
        )
        return record

    async def create(
        self, model: str, values: Mapping[str, Any], fields: Sequence[str] = ("id",)
    ) -> dict[str, Any]:
        record: dict[str, Any] = await self._send(
            "POST",
            f"/model/{model}",
            body=dict(values),
            params=[("f", f) for f in fields],
            context=await self._context(),
        )
        return record

    async def write(self, model: str, record_id: int | str, values: Mapping[str, Any]) -> None:
        await self._send(
            "PUT",
            f"/model/{model}/{int(record_id)}",
            body=dict(values),
            params=[("f", "id")],
            context=await self._context(),
        )

    async def button(
        self, model: str, record_id: int | str, name: str, fields: Sequence[str] = ("id",)
    ) -> dict[str, Any] | None:
        """Run a workflow button (``quote``, ``confirm``, ``post`` ...) on one record."""
        result: dict[str, Any] | None = await self._send(
            "POST",
            f"/model/{model}/{int(record_id)}/{name}",
            body={},
            params=[("f", f) for f in fields],
            context=await self._context(),
        )
        return result

    async def call(self, model: str, method: str, arguments: Mapping[str, Any]) -> Any:
        """A model's own RPC method (``fields_get``, ``get_access`` …), not a record's:
        Tryton answers what it exposes in ``__rpc__`` and refuses the rest (403)."""
        return await self._send(
            "POST", f"/model/{model}/{method}", body=dict(arguments), context=await self._context()
        )
