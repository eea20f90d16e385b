"""An accountant at the Tryton desk: the admin side of tests and demos.

Syncline itself talks to Tryton through the REST API with an application key;
the things a person does in the Tryton client (post and pay invoices, retire a
product, reprice it, correct a customer's name or address) go through JSON-RPC as
a logged-in user, writing what the Tryton client's forms write.
"""

from __future__ import annotations

import base64
import datetime as dt
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

import httpx

from models import tryton_json

Record = dict[str, Any]


@dataclass
class WizardSession:
    """An open wizard session: its first state, and how to run a state with data."""

    start_state: str
    execute: Callable[[Record, str], Awaitable[Any]]


@dataclass
class _Wizard:
    """An open wizard session: the state its first form belongs to, that form's values,
    and how to run a transition with the data filled in."""

    start_state: str
    start: dict[str, Any]
    execute: Callable[[Record, str], Awaitable[Any]]


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
        async with self._invoice_wizard("wizard.account.invoice.pay", invoice_id) as wizard:
            wizard.start.update(amount=amount, payment_method=methods[0]["id"])
            if on is not None:
                wizard.start["date"] = on
            data: Record = {wizard.start_state: wizard.start}
            asked = await wizard.execute(data, "choice")
            # The wizard asks only when the amount does not settle the invoice.
            if asked.get("view", {}).get("state") == "ask":
                data["ask"] = {"type": "partial"}
                await wizard.execute(data, "pay")

    async def credit_invoice(self, invoice_id: int, *, with_refund: bool = True) -> None:
        """The "Credit" wizard: a credit note of the whole invoice; "with refund" posts
        it and cancels the invoice with it (Tryton offers that while nothing is paid)."""
        async with self._invoice_wizard("wizard.account.invoice.credit", invoice_id) as wizard:
            wizard.start["with_refund"] = with_refund
            await wizard.execute({wizard.start_state: wizard.start}, "credit")

    @asynccontextmanager
    async def _invoice_wizard(self, name: str, invoice_id: int) -> AsyncIterator[_Wizard]:
        """A wizard run on one invoice whose first state is a form: that form's
        defaults (own fields only) to fill in."""
        async with self.record_wizard(name, "account.invoice", invoice_id) as session:
            shown = await session.execute({}, session.start_state)
            start = {k: v for k, v in shown["view"]["defaults"].items() if "." not in k}
            yield _Wizard(session.start_state, start, session.execute)

    async def credit_notes_of(self, invoice_id: int) -> list[Record]:
        """The credit notes made from an invoice: their lines credit its lines (each
        credit line's origin is the invoice line it credits)."""
        (invoice,) = await self.call("model.account.invoice.read", [invoice_id], ["lines"])
        origins = [f"account.invoice.line,{line}" for line in invoice["lines"]]
        return await self._documents(
            "account.invoice",
            [("lines.origin", "in", origins)],
            ["number", "state", "total_amount", "amount_to_pay"],
        )

    async def reconcile_invoices(self, *invoice_ids: int) -> None:
        """Apply credit notes to invoices by hand: select their receivable lines in the
        move line list and run "Reconcile Lines" (balanced: no write-off asked)."""
        invoices = await self.call(
            "model.account.invoice.read", list(invoice_ids), ["lines_to_pay"]
        )
        lines = [line for invoice in invoices for line in invoice["lines_to_pay"]]
        async with self.record_wizard(
            "wizard.account.move.reconcile_lines", "account.move.line", *lines
        ) as session:
            shown = await session.execute({}, session.start_state)
            if "view" in shown:
                raise ValueError(f"lines of invoices {invoice_ids} do not balance")

    @asynccontextmanager
    async def record_wizard(
        self, name: str, model: str, record_id: int, *more_ids: int
    ) -> AsyncIterator[WizardSession]:
        """A wizard session on records selected in the client (the first is the one
        open); deleted when done."""
        context = {
            "active_model": model,
            "active_id": record_id,
            "active_ids": [record_id, *more_ids],
        }
        session_id, start_state, _ = await self.call(f"{name}.create", context=context)
        try:

            async def execute(data: Record, state: str) -> Any:
                return await self.call(f"{name}.execute", session_id, data, state, context=context)

            yield WizardSession(start_state, execute)
        finally:
            await self.call(f"{name}.delete", session_id, context=context)

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

    async def set_list_price(self, sku: str, price: Decimal) -> None:
        """Reprice a product as the product form does: on its template."""
        await self.call(
            "model.product.template.write", await self._templates(sku), {"list_price": price}
        )

    async def set_product_active(self, sku: str, active: bool) -> None:
        """Archive (or restore) a product as the product form's toggle does."""
        templates = await self._templates(sku, archived_too=True)
        await self.call("model.product.template.write", templates, {"active": active})

    async def _templates(self, sku: str, *, archived_too: bool = False) -> list[int]:
        domain: list[Any] = [("code", "=", sku)]
        if archived_too:
            domain.append(("active", "in", [True, False]))
        templates = await self._search_read("product.template", domain, [])
        if not templates:
            raise LookupError(f"no product with code {sku!r}")
        return [template["id"] for template in templates]

    async def create_product(
        self, sku: str, name: str, price: Decimal, *, billable: bool = True, goods: bool = False
    ) -> int:
        """A salable product, a service unless ``goods`` (stocked and shipped: a sale of
        it gets a customer shipment); its variant's id.

        ``billable=False`` leaves out the accounting category, so Tryton has no revenue
        account to invoice it with: a sale of it confirms, but Tryton's processing
        fails (and is logged as an error), so the sale stays "confirmed" — the state a
        sale keeps during ``sale_process_after`` when a queue worker runs.
        """
        units = await self.call("model.product.uom.search", [("name", "=", "Unit")], 0, 1, None)
        template: Record = {
            "name": name,
            "code": sku,
            "type": "goods" if goods else "service",
            "salable": True,
            "default_uom": units[0],
            "sale_uom": units[0],
            "list_price": price,
            "products": [["create", [{}]]],
        }
        if billable:
            categories = await self._search_read(
                "product.category", [("accounting", "=", True)], []
            )
            template["account_category"] = categories[0]["id"]
        (template_id,) = await self.call("model.product.template.create", [template])
        (product,) = await self._search_read(
            "product.product", [("template", "=", template_id)], []
        )
        return int(product["id"])

    async def create_parties(self, parties: list[tuple[str, str]]) -> list[int]:
        """Create (code, name) parties in one call, as an import does: one transaction,
        so they share Tryton's timestamp."""
        ids: list[int] = await self.call(
            "model.party.party.create", [{"code": code, "name": name} for code, name in parties]
        )
        return ids

    async def update_party(
        self,
        code: str,
        *,
        name: str | None = None,
        street: str | None = None,
        city: str | None = None,
        postal_code: str | None = None,
        tax_id: str | None = None,
        tax_type: str = "eu_vat",
    ) -> None:
        """Correct a customer as the party form does: one write of the party with its
        invoice address and tax identifier, so the party is stamped as changed."""
        party = await self.party_by_code(code)
        if party is None:
            raise LookupError(f"no party with code {code!r}")
        values: Record = {} if name is None else {"name": name}
        address = {
            key: value
            for key, value in (("street", street), ("city", city), ("postal_code", postal_code))
            if value is not None
        }
        if address:
            values["addresses"] = await self._address_change(party["id"], address)
        if tax_id is not None:
            values["identifiers"] = await self._identifier_change(party["id"], tax_type, tax_id)
        await self.call("model.party.party.write", [party["id"]], values)

    async def set_party_active(self, code: str, active: bool) -> None:
        """Archive (or restore) a customer as the party form's toggle does."""
        parties = await self._search_read(
            "party.party", [("code", "=", code), ("active", "in", [True, False])], []
        )
        if not parties:
            raise LookupError(f"no party with code {code!r}")
        await self.call("model.party.party.write", [parties[0]["id"]], {"active": active})

    async def _address_change(self, party_id: int, address: Record) -> list[Any]:
        addresses = await self._search_read(
            "party.address", [("party", "=", party_id)], ["invoice"]
        )
        # The address Tryton invoices: the first flagged for invoices, else the first.
        chosen = [a for a in addresses if a["invoice"]] or addresses
        if not chosen:
            return [["create", [{**address, "invoice": True}]]]
        return [["write", [chosen[0]["id"]], address]]

    async def _identifier_change(self, party_id: int, kind: str, code: str) -> list[Any]:
        identifiers = await self._search_read(
            "party.identifier", [("party", "=", party_id), ("type", "=", kind)], []
        )
        if identifiers:
            return [["write", [identifiers[0]["id"]], {"code": code}]]
        return [["create", [{"type": kind, "code": code}]]]
