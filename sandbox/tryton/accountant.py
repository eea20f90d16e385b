"""An accountant at the Tryton desk: the admin side of tests and demos.

Syncline itself talks to Tryton through the REST API with an application key;
the things a person does in the Tryton client (post and pay invoices, retire a
product, clean up a customer) go through JSON-RPC as a logged-in user, as the
Tryton client does.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import httpx

from models import tryton_json

Record = dict[str, Any]


class TrytonRPCError(Exception):
    """A call that Tryton answered with an ``error`` member (HTTP 200)."""

    def __init__(self, method: str, error: Any) -> None:
        self.method = method
        self.error = error
        # A UserError arrives as ["UserError", [message, description, domain]].
        if isinstance(error, list) and len(error) == 2 and isinstance(error[1], list):
            self.kind = str(error[0])
            self.message = str(error[1][0]) if error[1] else ""
        else:
            self.kind = "Exception"
            self.message = str(error[0] if isinstance(error, list) and error else error)
        super().__init__(f"{method}: {self.kind}: {self.message}")


def _code_of(related: Any) -> str | None:
    # search_read returns a dotted field such as "currency.code" as {"currency.": {...}}.
    return related.get("code") if isinstance(related, dict) else None


class TrytonAccountant:
    """JSON-RPC client logged in as a Tryton user (the admin in the sandbox)."""

    def __init__(
        self, base_url: str, database: str, login: str, password: str, *, timeout: float = 30.0
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/{database}/rpc/"
        self._login = login
        self._password = password
        self._http = httpx.AsyncClient(timeout=timeout)
        self._ids = itertools.count(1)
        self._context: Record = {}

    async def __aenter__(self) -> Self:
        try:
            await self.login()
        except BaseException:
            await self._http.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._http.aclose()

    async def login(self) -> None:
        self._http.headers.pop("Authorization", None)
        user_id, session, *_ = await self._post(
            "common.db.login", [self._login, {"password": self._password}, "en"]
        )
        token = base64.b64encode(f"{self._login}:{user_id}:{session}".encode()).decode()
        self._http.headers["Authorization"] = f"Session {token}"
        self._context = await self._post("model.res.user.get_preferences", [True, {}])

    async def call(self, method: str, *params: Any, context: Record | None = None) -> Any:
        """Call ``method`` with the user's context (plus ``context``) as last parameter."""
        try:
            return await self._post(method, [*params, {**self._context, **(context or {})}])
        except httpx.HTTPStatusError as error:
            # Wizards want a session younger than [session] timeout: log in again once.
            if error.response.status_code != httpx.codes.UNAUTHORIZED:
                raise
        await self.login()
        return await self._post(method, [*params, {**self._context, **(context or {})}])

    async def _post(self, method: str, params: list[Any]) -> Any:
        body = tryton_json.dumps({"id": next(self._ids), "method": method, "params": params})
        response = await self._http.post(
            self._url, content=body, headers={"Content-Type": "application/json"}
        )
        response.raise_for_status()
        payload = tryton_json.loads(response.content)
        if payload.get("error") is not None:
            raise TrytonRPCError(method, payload["error"])
        return payload.get("result")

    async def _search_read(self, model: str, domain: list[Any], fields: list[str]) -> list[Record]:
        records: list[Record] = await self.call(
            f"model.{model}.search_read", domain, 0, None, None, fields
        )
        return records

    async def _documents(self, model: str, domain: list[Any], fields: list[str]) -> list[Record]:
        """``id``, ``fields`` and ``currency`` (its code) of each matching record."""
        records = await self._search_read(model, domain, [*fields, "currency.code"])
        return [
            {
                "id": record["id"],
                **{name: record[name] for name in fields},
                "currency": _code_of(record.get("currency.")),
            }
            for record in records
        ]

    async def sales_by_reference(self, reference: str) -> list[Record]:
        return await self._documents(
            "sale.sale",
            [("reference", "=", reference)],
            ["number", "state", "reference", "total_amount"],
        )

    async def invoices_for_sale(self, sale_id: int) -> list[Record]:
        (sale,) = await self.call("model.sale.sale.read", [sale_id], ["invoices"])
        return await self._documents(
            "account.invoice",
            [("id", "in", sale["invoices"])],
            ["number", "state", "total_amount", "amount_to_pay"],
        )

    async def post_invoice(self, invoice_id: int) -> None:
        await self.call("model.account.invoice.post", [invoice_id])

    async def pay_invoice(
        self, invoice_id: int, amount: Decimal, on: dt.date | None = None
    ) -> None:
        """Pay through the "Pay" wizard; less than due stays open as a partial payment."""
        methods = await self._search_read(
            "account.invoice.payment.method", [("company", "=", self._context["company"])], []
        )
        if not methods:
            raise LookupError("no invoice payment method in this company")
        wizard = "wizard.account.invoice.pay"
        context = {
            "active_model": "account.invoice",
            "active_id": invoice_id,
            "active_ids": [invoice_id],
        }
        session_id, start_state, _ = await self.call(f"{wizard}.create", context=context)
        try:
            shown = await self.call(
                f"{wizard}.execute", session_id, {}, start_state, context=context
            )
            start = {k: v for k, v in shown["view"]["defaults"].items() if "." not in k}
            start.update(amount=amount, payment_method=methods[0]["id"])
            if on is not None:
                start["date"] = on
            data: Record = {start_state: start}
            asked = await self.call(
                f"{wizard}.execute", session_id, data, "choice", context=context
            )
            # The wizard asks only when the amount does not settle the invoice.
            if asked.get("view", {}).get("state") == "ask":
                data["ask"] = {"type": "partial"}
                await self.call(f"{wizard}.execute", session_id, data, "pay", context=context)
        finally:
            await self.call(f"{wizard}.delete", session_id, context=context)

    async def set_product_salable(self, sku: str, salable: bool) -> None:
        templates = await self._search_read("product.template", [("code", "=", sku)], [])
        if not templates:
            raise LookupError(f"no product with code {sku!r}")
        ids = [template["id"] for template in templates]
        await self.call("model.product.template.write", ids, {"salable": salable})

    async def party_by_code(self, code: str) -> Record | None:
        parties = await self._search_read(
            "party.party", [("code", "=", code)], ["code", "name", "addresses"]
        )
        return parties[0] if parties else None

    async def remove_party_addresses(self, party_code: str) -> None:
        """Archive the party's addresses: Tryton will not delete one a sale points to."""
        party = await self.party_by_code(party_code)
        if party is None:
            raise LookupError(f"no party with code {party_code!r}")
        if party["addresses"]:
            await self.call("model.party.address.write", party["addresses"], {"active": False})
