"""Tryton: the login (the company the key works in), and the models, fields and access
rights Syncline uses, from Tryton's own ``fields_get`` and ``ir.model.access.get_access``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from connectors.errors import ConnectorError
from connectors.tryton import TrytonClient
from connectors.tryton.mapping import (
    INVOICE_FIELDS,
    ITEM_FIELDS,
    ORDER_FIELDS,
    PARTY_CHANGE_FIELDS,
    PARTY_FIELDS,
    PRODUCT_FIELDS,
)
from workers.doctor.model import Outcome, failed, passed

Right = Literal["read", "create", "write"]


@dataclass(frozen=True)
class ModelNeed:
    model: str
    rights: frozenset[Right]
    fields: tuple[str, ...]
    """Paths as the connector reads or writes them (``lines.product.code``)."""


_READ: frozenset[Right] = frozenset({"read"})

# The connector's own field lists, and what its writes set (``connectors/tryton``).
MODELS: tuple[ModelNeed, ...] = (
    ModelNeed(
        "party.party",
        frozenset({"read", "create"}),
        (*PARTY_FIELDS, *PARTY_CHANGE_FIELDS, "addresses"),
    ),
    ModelNeed("party.address", frozenset({"read", "create"}), ("street", "city", "postal_code")),
    ModelNeed("product.product", _READ, (*PRODUCT_FIELDS, *ITEM_FIELDS)),
    ModelNeed(
        "sale.sale",
        frozenset({"read", "create", "write"}),
        (
            *ORDER_FIELDS,
            "company",
            "invoice_address",
            "shipment_address",
            "description",
            "lines",
        ),
    ),
    ModelNeed(
        "sale.line",
        frozenset({"read", "create", "write"}),
        ("type", "product", "quantity", "unit", "unit_price", "description"),
    ),
    ModelNeed("account.invoice", _READ, (*INVOICE_FIELDS, "lines_to_pay")),
    # Payments are read from the lines the "Pay" wizard adds, credit notes applied by
    # hand from the reconciliations of their lines ("Syncline: read payments"). Not
    # listed, though read: fields_get hides a relation whose model the user may not
    # read (a line's ``reconciliation``) and the references ``origin`` and ``shipment``
    # of a stock move, while reading them works (Tryton 8.2).
    ModelNeed(
        "account.move.line",
        _READ,
        ("credit", "debit", "date", "party", "move.origin", "invoice_payment"),
    ),
    # Fulfilments: customer shipments done and the moves from sale lines (Sales group).
    ModelNeed(
        "stock.shipment.out",
        _READ,
        ("number", "effective_date", "state", "outgoing_moves.quantity", "outgoing_moves.state"),
    ),
    ModelNeed("stock.move", _READ, ("state", "quantity", "effective_date", "product.code")),
    ModelNeed("currency.currency", _READ, ("code",)),
    ModelNeed("ir.model.log", _READ, ("resource", "event", "target")),
)


async def company(erp: TrytonClient) -> str:
    """The company the key works in, by name: the login."""
    company_id = await erp.rest.company_id()
    found = await erp.rest.search("company.company", [("id", "=", company_id)], ["rec_name"])
    if not found:
        raise LookupError(f"company {company_id} is not visible to the Syncline user")
    return f"{found[0].get('rec_name')} (id {company_id})"


class _Fields:
    """``fields_get`` per model, asked once, for walking dotted paths across relations."""

    def __init__(self, erp: TrytonClient) -> None:
        self._erp = erp
        self._models: dict[str, dict[str, Any] | None] = {}

    async def of(self, model: str) -> dict[str, Any] | None:
        if model not in self._models:
            try:
                answer = await self._erp.rest.call(model, "fields_get", {})
            except ConnectorError:
                answer = None  # not installed, or not readable: get_access says which
            self._models[model] = answer if isinstance(answer, dict) else None
        return self._models[model]

    async def missing(self, model: str, path: str) -> str | None:
        """The first part of ``path`` that does not exist, or None."""
        current: str | None = model
        for part in path.split("."):
            fields = await self.of(current) if current else None
            field = fields.get(part) if fields else None
            if not isinstance(field, dict):
                return f"{current}.{part}"
            current = field.get("relation")
        return None


async def _rights(erp: TrytonClient, model: str) -> dict[str, Any] | None:
    """The Syncline user's access to ``model``; None when Tryton has no such model (its
    module is not activated: Tryton answers 500 for an unknown model)."""
    try:
        answer = await erp.rest.call("ir.model.access", "get_access", {"models": [model]})
    except ConnectorError:
        return None
    rights = answer.get(model) if isinstance(answer, dict) else None
    return rights if isinstance(rights, dict) else None


async def check_models(erp: TrytonClient) -> Outcome:
    fields = _Fields(erp)
    problems: list[str] = []
    for need in MODELS:
        rights = await _rights(erp, need.model)
        if rights is None:
            problems.append(f"{need.model}: no such model (is its module activated?)")
            continue
        denied = sorted(r for r in need.rights if not rights.get(r))
        if denied:
            problems.append(f"{need.model}: the Syncline user may not {' or '.join(denied)}")
        missing = [
            m for p in dict.fromkeys(need.fields) if (m := await fields.missing(need.model, p))
        ]
        if missing:
            problems.append(f"missing fields {', '.join(dict.fromkeys(missing))}")
    if problems:
        return failed(
            "; ".join(problems),
            "activate the sale, sale_opportunity and account_payment modules and put the "
            "Syncline user in the Sales group (syncline erp tryton init does both)",
        )
    return passed(f"{len(MODELS)} models with their fields, and the rights Syncline needs")
