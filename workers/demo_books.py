"""What finance does with the demo's invoices (``syncline demo --finance``), and the
books it keeps of it.

Each invoice gets one action, as a NetSuite finance user would take it through the
sandbox: the record API's ``customerPayment``, ``creditMemo`` and ``customerRefund``,
and the invoice's Void button. A customer with two open invoices pays both with one
payment; the other invoices are dealt the actions in turn, in an order drawn from the
demo's seeded random generator, so every action shows once there are enough invoices
and a run is repeatable. The books are what the report must then show: bookings (the
orders' totals), billings net of voids and credit memos, and collections net of refunds.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from typing import Any

from connectors.netsuite import NetSuiteClient
from workers.demo_finance import BilledOrder

CENT = Decimal("0.01")


class Action(StrEnum):
    PAY_IN_FULL = "paid in full"
    PAY_IN_PART = "paid in part (half)"
    PAY_TOGETHER = "paid with another invoice, one payment"
    CREDIT = "credited one unit (credit memo applied)"
    REFUND = "paid, then one unit credited and refunded"
    VOID = "voided"
    LEAVE_OPEN = "left open"


# The order the actions are dealt in: the common ones first, so a small run shows them.
DEALT = (
    Action.PAY_IN_FULL,
    Action.PAY_IN_PART,
    Action.CREDIT,
    Action.VOID,
    Action.REFUND,
    Action.LEAVE_OPEN,
)

Tally = dict[str, Decimal]
"""An amount per currency."""


@dataclass
class Books:
    """What finance did, per currency: each metric's amount as the report must show it."""

    customers: set[str] = field(default_factory=set)
    """The ERP customer ids finance dealt with (the report is read for these only)."""
    invoices: int = 0
    actions: Counter[Action] = field(default_factory=Counter)
    """Per action, how many times finance took it (paying two invoices together: once)."""
    booked: Tally = field(default_factory=lambda: defaultdict(Decimal))
    invoiced: Tally = field(default_factory=lambda: defaultdict(Decimal))
    voided: Tally = field(default_factory=lambda: defaultdict(Decimal))
    credited: Tally = field(default_factory=lambda: defaultdict(Decimal))
    collected: Tally = field(default_factory=lambda: defaultdict(Decimal))
    refunded: Tally = field(default_factory=lambda: defaultdict(Decimal))

    def expected(self) -> dict[str, Tally]:
        """Per report metric (its newest version), the amounts it must show."""
        currencies = set(self.booked) | set(self.invoiced) | set(self.collected)
        return {
            "bookings": _nonzero(self.booked),
            "billings": _nonzero(
                {
                    c: self.invoiced[c] - self.voided[c] - self.credited[c]
                    for c in currencies | set(self.credited)
                }
            ),
            "collections": _nonzero(
                {c: self.collected[c] - self.refunded[c] for c in currencies | set(self.refunded)}
            ),
        }


def _nonzero(tally: Tally) -> Tally:
    return {currency: amount for currency, amount in tally.items() if amount}


def half(amount: Decimal) -> Decimal:
    return max(CENT, (amount / 2).quantize(CENT, rounding=ROUND_DOWN))


def deal_actions(
    bills: Sequence[BilledOrder], rng: random.Random
) -> list[tuple[Action, list[BilledOrder]]]:
    """Each invoice's action: the first two of a customer's invoices in one currency
    are paid together, the rest dealt ``DEALT`` in turn, in a seeded random order."""
    by_customer: dict[tuple[str, str], list[BilledOrder]] = defaultdict(list)
    for bill in sorted(bills, key=lambda b: int(b.invoice_id)):
        by_customer[(bill.customer_id, bill.currency)].append(bill)
    plan: list[tuple[Action, list[BilledOrder]]] = []
    singles: list[BilledOrder] = []
    for invoices in by_customer.values():
        if len(invoices) >= 2:
            plan.append((Action.PAY_TOGETHER, invoices[:2]))
            singles += invoices[2:]
        else:
            singles += invoices
    rng.shuffle(singles)
    plan += [(DEALT[index % len(DEALT)], [bill]) for index, bill in enumerate(singles)]
    return plan


class Finance:
    """A NetSuite finance user settling the demo's invoices, keeping the books."""

    def __init__(self, erp: NetSuiteClient) -> None:
        self.erp = erp
        self.books = Books()

    async def settle(self, bills: Sequence[BilledOrder], rng: random.Random) -> Books:
        for bill in bills:
            self.books.booked[bill.currency] += bill.order_total
            self.books.invoiced[bill.currency] += bill.total
            self.books.invoices += 1
            self.books.customers.add(bill.customer_id)
        for action, invoices in deal_actions(bills, rng):
            await self._take(action, invoices)
            self.books.actions[action] += 1
        return self.books

    async def _take(self, action: Action, invoices: list[BilledOrder]) -> None:
        bill = invoices[0]
        if action is Action.PAY_IN_FULL:
            await self._pay(bill, bill.total)
        elif action is Action.PAY_IN_PART:
            await self._pay(bill, half(bill.total))
        elif action is Action.PAY_TOGETHER:
            await self._pay_together(invoices)
        elif action is Action.CREDIT:
            await self._credit_one_unit(bill, applied=True)
        elif action is Action.REFUND:
            await self._pay(bill, bill.total)
            memo_id, amount = await self._credit_one_unit(bill, applied=False)
            await self._refund(bill, memo_id, amount)
        elif action is Action.VOID:
            await self.erp.void_invoice(bill.invoice_id)
            self.books.voided[bill.currency] += bill.total

    async def _pay(self, bill: BilledOrder, amount: Decimal) -> None:
        """A customer payment on the invoice (the invoice's Accept Payment)."""
        await self.erp.create_record(
            "customerPayment", {"createdFrom": {"id": bill.invoice_id}, "payment": amount}
        )
        self.books.collected[bill.currency] += amount

    async def _pay_together(self, bills: list[BilledOrder]) -> None:
        """One payment whose apply sublist settles each invoice in full."""
        total = sum((bill.total for bill in bills), Decimal(0))
        await self.erp.create_record(
            "customerPayment",
            {
                "customer": {"id": bills[0].customer_id},
                "payment": total,
                "apply": {
                    "items": [
                        {"doc": {"id": bill.invoice_id}, "apply": True, "amount": bill.total}
                        for bill in bills
                    ]
                },
            },
        )
        self.books.collected[bills[0].currency] += total

    async def _credit_one_unit(self, bill: BilledOrder, *, applied: bool) -> tuple[str, Decimal]:
        """A credit memo from the invoice for one unit of its first line (a return),
        applied to the invoice or left for a refund; its id and total."""
        invoice = await self.erp.get_record("invoice", bill.invoice_id)
        line = invoice["item"]["items"][0]
        rate = Decimal(str(line["rate"]))
        body: dict[str, Any] = {
            "createdFrom": {"id": bill.invoice_id},
            "item": {"items": [{"item": {"id": line["item"]["id"]}, "quantity": 1, "rate": rate}]},
        }
        if applied:
            body["apply"] = {"items": [{"doc": {"id": bill.invoice_id}, "amount": rate}]}
        memo_id = await self.erp.create_record("creditMemo", body)
        memo = await self.erp.get_record("creditMemo", memo_id)
        total = Decimal(str(memo["total"]))
        self.books.credited[bill.currency] += total
        return memo_id, total

    async def _refund(self, bill: BilledOrder, memo_id: str, amount: Decimal) -> None:
        """Cash back to the customer, paying out the credit memo."""
        await self.erp.create_record(
            "customerRefund",
            {
                "customer": {"id": bill.customer_id},
                "apply": {"items": [{"doc": {"id": memo_id}, "amount": amount}]},
            },
        )
        self.books.refunded[bill.currency] += amount
