"""Syncline's sales orders as Tryton sales: found or created by ``reference`` (the CRM
opportunity), counted, cancelled and amended.

Sale states, and what confirming does in this setup: ``confirm`` queues Tryton's
``process`` (invoice and shipment creation, then ``processing``). Without a queue worker
(``[queue] worker`` unset, as in the sandbox) Tryton runs that task right after the
confirm commits, before answering, so the button answers "confirmed" while the sale is
already "processing" with a draft invoice (invoice method "on order"). With a worker,
``sale_process_after`` keeps a confirmed sale confirmed for that grace period. A sale
also stays confirmed when processing fails (Tryton records the error, e.g. a product
without a revenue account). Only while confirmed (or earlier) may a sale go back to
draft, which is what ``cancel`` and ``amend`` need.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from connectors.errors import NotFoundError, RejectedError, TransientError
from connectors.tryton import mapping
from connectors.tryton.errors import SYSTEM
from connectors.tryton.transport import IN_CHUNK, TrytonRest
from models.erp import SalesOrder, SalesOrderDraft, SalesOrderLine

logger = logging.getLogger(__name__)

# Sale states Tryton can still send back to draft (to cancel or to change the lines).
REOPENABLE = frozenset({"draft", "quotation", "confirmed"})
# The states an attempt of ours can leave a sale in that it did not go on with.
_ATTEMPT_LEFTOVERS = frozenset({"draft", "quotation"})


class TrytonOrders:
    """The sales-order half of ``TrytonClient``, over its REST calls."""

    def __init__(self, rest: TrytonRest, base_currency: str) -> None:
        self._rest = rest
        self._base_currency = base_currency
        # Configuration that does not change under a running deal, kept per client:
        # each saves an ERP call per order, and ERP calls are the scarce resource.
        self._currency_ids: dict[str, int] = {}
        self._sale_units: dict[str, int] = {}

    def remember_unit(self, product: dict[str, Any]) -> None:
        """Keep the product's sale unit for the order lines that will sell it."""
        unit = mapping.ref_id(product.get("sale_uom"))
        if unit is not None:
            self._sale_units[str(product["id"])] = int(unit)

    async def _sales(self, reference: str) -> list[dict[str, Any]]:
        return await self._rest.search(
            "sale.sale",
            [("reference", "=", reference), ("state", "!=", "cancelled")],
            mapping.SALE_FIELDS,
            order=[("id", "ASC")],
        )

    async def find(self, external_id: str) -> SalesOrder | None:
        sales = await self._sales(external_id)
        if not sales:
            return None
        return self._order(_furthest(sales))

    async def create(self, draft: SalesOrderDraft, *, may_exist: bool = True) -> SalesOrder:
        """Find or create the sale for ``draft.external_id``, then quote and confirm it.

        Tryton's ``reference`` is not unique, so two attempts (a retry racing a stalled
        earlier one) may both create a draft. Every attempt therefore converges on the
        same survivor — the sale furthest along, the oldest among equals — and cancels
        the other drafts and quotations. A confirmed sale is never touched, and every
        step is safe to repeat, so a retry after any failure resumes where it stopped.

        ``may_exist=False`` (a first try at an opportunity never placed) skips the
        search before the create: the search after it converges on the survivor all
        the same, so a sale that did exist keeps its place and the new draft is cancelled.
        """
        sales = await self._sales(draft.external_id) if may_exist else []
        if not sales:
            try:
                await self._rest.create("sale.sale", await self.sale_values(draft))
            except RejectedError:
                # Someone may fix a unit or currency before the operator retries.
                self._currency_ids.clear()
                self._sale_units.clear()
                raise
            sales = await self._sales(draft.external_id)
        survivor = _furthest(sales)
        for duplicate in sales:
            # A racing attempt of ours leaves a draft or quotation; a sale confirmed
            # under the same reference is someone's order (finance entered a second
            # one), never ours to cancel: reconciliation reports it as a duplicate.
            # Cancelling it, Tryton refuses, and the refusal read as a race had the
            # deal's run retry for ever (the lifecycle explorer on Tryton).
            if duplicate["id"] != survivor["id"] and duplicate["state"] in _ATTEMPT_LEFTOVERS:
                await self._cancel_duplicate(duplicate, survivor)
        return await self._confirm(survivor)

    async def sale_values(self, draft: SalesOrderDraft) -> dict[str, Any]:
        """The new sale's values, lines included, as ``create`` writes them."""
        party = await self._rest.read("party.party", draft.customer_id, ["addresses"])
        addresses = party.get("addresses") or []
        currency_id = await self._currency_id(draft.currency)
        units = await self._units([line.item_id for line in draft.lines])
        values: dict[str, Any] = {
            "company": await self._rest.company_id(),
            "party": int(draft.customer_id),
            "currency": currency_id,
            "reference": draft.external_id,
            "sale_date": draft.tran_date,
            "description": (draft.memo or "")[:250],
            "lines": [["create", [_line_values(line, units) for line in draft.lines]]],
        }
        if addresses:
            # Without an address the sale stays a draft and ``quote`` says why.
            values["invoice_address"] = addresses[0]
            values["shipment_address"] = addresses[0]
        return values

    async def _currency_id(self, code: str) -> int:
        if code not in self._currency_ids:
            found = await self._rest.search("currency.currency", [("code", "=", code)], ["id"])
            if not found:
                raise RejectedError(f"Tryton has no currency {code}", system=SYSTEM)
            self._currency_ids[code] = int(found[0]["id"])
        return self._currency_ids[code]

    async def _units(self, item_ids: Sequence[str]) -> dict[str, int]:
        """The sale unit of each product (known from ``find_items`` when it ran here)."""
        missing = sorted({int(i) for i in item_ids if i not in self._sale_units})
        if missing:
            for record in await self._rest.search(
                "product.product", [("id", "in", missing)], ["sale_uom"]
            ):
                self.remember_unit(record)
        gone = sorted(set(item_ids) - self._sale_units.keys())
        if gone:
            raise RejectedError(
                f"Tryton has no sellable product with id {', '.join(gone)}", system=SYSTEM
            )
        return {i: self._sale_units[i] for i in item_ids}

    async def _cancel_duplicate(self, duplicate: dict[str, Any], survivor: dict[str, Any]) -> None:
        logger.warning(
            "sale %s duplicates sale %s for reference %s: cancelling it",
            duplicate["id"],
            survivor["id"],
            survivor.get("reference"),
        )
        try:
            await self._rest.button("sale.sale", duplicate["id"], "cancel")
        except (RejectedError, NotFoundError) as exc:
            # The other attempt moved it on meanwhile: look again on the next try.
            raise TransientError(
                f"duplicate sale {duplicate['id']} changed while being cancelled: {exc}",
                system=SYSTEM,
            ) from exc

    async def _confirm(self, sale: dict[str, Any]) -> SalesOrder:
        sale_id = sale["id"]
        for state, button in (("draft", "quote"), ("quotation", "confirm")):
            if sale["state"] != state:
                continue
            try:
                # The button answers with the sale's fields as it leaves them: no read.
                answered = await self._rest.button(
                    "sale.sale", sale_id, button, mapping.SALE_FIELDS
                )
            except (RejectedError, NotFoundError):
                current = await self._still_ours(sale_id)
                if current is None or current["state"] != state:
                    raise TransientError(
                        f"sale {sale_id} changed while being confirmed", system=SYSTEM
                    ) from None
                raise  # Tryton refuses the sale itself: a person must look
            sale = answered or await self._rest.read("sale.sale", sale_id, mapping.SALE_FIELDS)
        return self._order(sale)

    async def _still_ours(self, sale_id: int) -> dict[str, Any] | None:
        try:
            sale = await self._rest.read("sale.sale", sale_id, ["state"])
        except NotFoundError:
            return None
        return None if sale["state"] == "cancelled" else sale

    async def count(self, external_ids: Sequence[str]) -> dict[str, int]:
        """Live (not cancelled) sales per reference."""
        counts: dict[str, int] = {}
        ids = list(dict.fromkeys(external_ids))
        for start in range(0, len(ids), IN_CHUNK):
            for sale in await self._rest.search(
                "sale.sale",
                [
                    ("reference", "in", ids[start : start + IN_CHUNK]),
                    ("state", "!=", "cancelled"),
                ],
                ["reference"],
            ):
                counts[sale["reference"]] = counts.get(sale["reference"], 0) + 1
        return counts

    async def cancel(self, order_id: str) -> SalesOrder:
        """Cancel the sale while Tryton still can; a cancelled sale is returned as is.

        Tryton cancels drafts and quotations only; a confirmed sale goes back to draft
        first (Tryton allows confirmed -> draft). Once processing (invoiced or shipped)
        or done, Tryton no longer cancels a sale: an accountant credits its invoices.
        Each step is safe to repeat: a retry resumes from the state it finds.
        """
        sale = await self._rest.read("sale.sale", order_id, mapping.SALE_FIELDS)
        if sale["state"] == "cancelled":
            return self._order(sale)
        if sale["state"] not in REOPENABLE:
            raise _locked(sale, "cancel")
        if sale["state"] == "confirmed":
            sale = await self._click(sale, "draft", "cancel")
        return self._order(await self._click(sale, "cancel", "cancel"))

    async def amend(self, order_id: str, lines: Sequence[SalesOrderLine]) -> SalesOrder:
        """Replace the sale's lines, then quote and confirm it again.

        Only while the sale can go back to draft (draft, quotation, confirmed). The
        lines are replaced in one write (delete and create in one Tryton transaction),
        so a retry after any failure replaces them again and resumes; a sale Tryton
        refuses to quote stays a draft with the new lines and Tryton's message. A
        confirmed (or later) sale that already has these lines is returned as is: the
        retry of an amendment whose answer was lost.
        """
        sale = await self._rest.read("sale.sale", order_id, mapping.SALE_FIELDS)
        if sale["state"] not in {"draft", "quotation", "cancelled"} and _same_lines(sale, lines):
            return self._order(sale)
        if sale["state"] not in REOPENABLE:
            raise _locked(sale, "amend")
        _check_lines(sale, lines)
        # Known before the sale is reopened: an unknown product leaves it untouched.
        units = await self._units([line.item_id for line in lines])
        if sale["state"] != "draft":
            sale = await self._click(sale, "draft", "amend")
        old = [int(line["id"]) for line in sale.get("lines") or []]
        await self._rest.write(
            "sale.sale",
            sale["id"],
            {"lines": [["delete", old], ["create", [_line_values(line, units) for line in lines]]]},
        )
        return await self._confirm(sale)

    async def _click(self, sale: dict[str, Any], button: str, purpose: str) -> dict[str, Any]:
        """Run ``button`` on the sale; a refusal is explained from the state it is in."""
        try:
            answered = await self._rest.button("sale.sale", sale["id"], button, mapping.SALE_FIELDS)
        except RejectedError as exc:
            current = await self._rest.read("sale.sale", sale["id"], mapping.SALE_FIELDS)
            if current["state"] == sale["state"]:
                raise RejectedError(
                    f"Tryton refused to {purpose} sale {_number(sale)}: {exc.message}",
                    system=SYSTEM,
                    status_code=exc.status_code,
                    code=exc.code,
                ) from exc
            if current["state"] not in REOPENABLE:
                raise _locked(current, purpose) from exc
            raise TransientError(
                f"Tryton sale {_number(current)} went from {sale['state']} to "
                f"{current['state']} meanwhile; try again",
                system=SYSTEM,
            ) from exc
        return answered or await self._rest.read("sale.sale", sale["id"], mapping.SALE_FIELDS)

    def _order(self, sale: dict[str, Any]) -> SalesOrder:
        return mapping.sales_order_from_record(sale, self._base_currency)


def _furthest(sales: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The sale every racing attempt agrees to keep."""
    return max(sales, key=lambda s: (mapping.SALE_PROGRESS.get(s["state"], 0), -int(s["id"])))


def _number(sale: dict[str, Any]) -> str:
    # Tryton numbers a sale when it is quoted; before that the id is all there is.
    return str(sale.get("number") or sale["id"])


_WHY_LOCKED = {
    "processing": "is processing (invoiced or shipped)",
    "done": "is done (invoiced, paid and shipped)",
}
_REMEDY = {
    "cancel": "cancel it in Tryton with a credit note for its invoice",
    "amend": "amend it in Tryton with a credit note and a new sale for the change",
}


def _locked(sale: dict[str, Any], purpose: str) -> RejectedError:
    """The refusal an operator reads when Tryton can no longer reopen the sale."""
    state = str(sale.get("state"))
    if state == "cancelled":
        message = f"Tryton sale {_number(sale)} is cancelled: there is nothing to {purpose}"
    else:
        why = _WHY_LOCKED.get(state, f"is {state}")
        message = (
            f"Tryton sale {_number(sale)} {why}, so Syncline can no longer {purpose} it; "
            f"{_REMEDY[purpose]}"
        )
    return RejectedError(message, system=SYSTEM, code=f"sale_{state}")


def _check_lines(sale: dict[str, Any], lines: Sequence[SalesOrderLine]) -> None:
    """Refuse what Tryton would only refuse after the sale went back to draft."""
    if not lines:
        raise RejectedError(
            f"an amendment of Tryton sale {_number(sale)} has no lines; cancel the order instead",
            system=SYSTEM,
        )
    currency = (sale.get("currency") or {}).get("code")
    foreign = sorted({line.rate.currency for line in lines} - {currency})
    if currency and foreign:
        raise RejectedError(
            f"Tryton sale {_number(sale)} is in {currency}; the amendment has prices in "
            f"{', '.join(foreign)}",
            system=SYSTEM,
        )


def _same_lines(sale: dict[str, Any], lines: Sequence[SalesOrderLine]) -> bool:
    """Whether the sale's product lines are ``lines`` (product, quantity, unit price)."""

    def key(product: Any, quantity: Any, price: Any) -> tuple[str, Decimal, Decimal]:
        return str(mapping.ref_id(product)), Decimal(str(quantity)), Decimal(str(price))

    current = sorted(
        key(line.get("product"), line.get("quantity"), line.get("unit_price"))
        for line in sale.get("lines") or []
        if line.get("type", "line") == "line"
    )
    wanted = sorted(key(line.item_id, line.quantity, line.rate.amount) for line in lines)
    return current == wanted


def _line_values(line: SalesOrderLine, units: Mapping[str, int]) -> dict[str, Any]:
    return {
        "type": "line",
        "product": int(line.item_id),
        "quantity": float(line.quantity),
        # RPC runs no on-change: unit and price must be given.
        "unit": units[line.item_id],
        "unit_price": line.rate.amount,
        "description": line.description or line.sku,
    }
