"""Finance's approval and settlement acts as rules of the lifecycle machine (NetSuite:
the ERP with an approval step, credit memos, voids and refunds): approve or reject a
held order, bill an order in part, void an invoice, issue a credit memo (from an
invoice, kept open or applied; or standalone and applied), take one payment over
several invoices, refund a credit memo's credit.

Each act picks its target by the draws and the model (never by what the systems said,
so sequences shrink), reads the ERP as finance would, and records in the model what
the ERP accepted; a refusal is an answer, not a failure. A step is named after the
method that replays it (``replay.STEP_OPS``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from decimal import ROUND_DOWN, Decimal
from typing import Any, TypeVar

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from tests.lifecycle.driver import Driver
from tests.lifecycle.erp_settlement import NetSuiteFinance
from tests.lifecycle.model import CENT, ZERO, InvoiceView, Model, Opportunity
from tests.lifecycle.refused import Refused

T = TypeVar("T")


def _half(amount: Decimal) -> Decimal:
    return (amount / 2).quantize(CENT, rounding=ROUND_DOWN)


def _due(invoice: InvoiceView) -> Decimal:
    return ZERO if invoice.voided else invoice.total - invoice.paid - invoice.credited


def _billed(opp: Opportunity) -> bool:
    """An invoice was tried for the deal (by the draws, whatever the ERP answered)."""
    return "post_invoice" in opp.history


def _billed_twice(opp: Opportunity) -> bool:
    return opp.history.count("post_invoice") >= 2


def _credited(opp: Opportunity) -> bool:
    """A credit memo was tried for the deal (by the draws)."""
    return "credit_tried" in opp.history


def _settles(self: Any) -> bool:
    """NetSuite, and the credential finance reads the ERP with is not revoked."""
    return self.driver.finance is not None and not self.model.revoked


class SettlementRules:
    """Mixed into ``LifecycleMachine``, whose helpers these rules use."""

    model: Model
    driver: Driver
    _call: Callable[..., Any]
    _step: Callable[..., Any]
    _done: Callable[..., None]
    _pick: Callable[[int, Callable[[Opportunity], bool]], str]
    _crm_id: Callable[[str], str]

    def _finance(self) -> NetSuiteFinance:
        assert self.driver.finance is not None
        return self.driver.finance

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        result: T = self._call(coroutine)
        return result

    # -- approval ----------------------------------------------------------------------

    @precondition(lambda self: _settles(self) and self.model.approval)
    @precondition(lambda self: self._any(lambda o: o.ever_won))
    @rule(pick=st.integers(0, 2), approve=st.booleans())
    def finance_decides(self, pick: int, approve: bool) -> None:
        self.decide(self._pick(pick, lambda o: o.ever_won), approve)

    def decide(self, opp: str, approve: bool) -> None:
        """A finance user approves (or rejects, with a reason) the deal's held order."""
        step = self._step("decide", opp=opp, approve=approve)
        orders = self._run(self.driver.erp_orders(self._crm_id(opp)))
        held = [o for o in orders if o.held]
        if not held:
            self._done(step, "no order held for approval")
            return
        refused = self._run(self._finance().decide(held[0], approve))
        if refused is not None:
            self._done(step, refused)
            return
        books = self.model.opportunities[opp].books
        (books.approved if approve else books.rejected).add(held[0].id)
        self.model.note(opp, "approve" if approve else "reject")
        self._done(step, f"{held[0].number} {'approved' if approve else 'rejected'}")

    # -- billing and settling ------------------------------------------------------------

    @precondition(lambda self: _settles(self) and self._any(lambda o: o.ever_won))
    @rule(pick=st.integers(0, 2))
    def post_invoice_part(self, pick: int) -> None:
        self.invoice_part(self._pick(pick, lambda o: o.ever_won))

    def invoice_part(self, opp: str) -> None:
        """Bill part of the order (its first line, or half its quantity)."""
        step = self._step("invoice_part", opp=opp)
        self.model.note(opp, "post_invoice")
        orders = self._run(self.driver.erp_orders(self._crm_id(opp)))
        billable = [o for o in orders if not o.cancelled and not o.rejected and not o.billed]
        if not billable:
            self._done(step, "no billable ERP order")
            return
        created = self._run(self._finance().invoice_part(billable[0]))
        if isinstance(created, Refused):
            self._done(step, created)
            return
        [invoice] = [i for i in self._run(self.driver.erp_invoices(orders)) if i.id == created]
        self.model.invoiced(opp, invoice.id, invoice.total)
        self._done(step, f"invoice {invoice.id} ({invoice.total}) on {billable[0].number}")

    def _invoices(self, opp: str) -> tuple[list[InvoiceView], str | None]:
        orders = self._run(self.driver.erp_orders(self._crm_id(opp)))
        customer = orders[0].customer_id if orders else None
        return self._run(self.driver.erp_invoices(orders)), customer

    # Preconditions and targets go by what was tried, never by what the ERP accepted
    # (``o.invoices``, the memos): hypothesis replays a prefix of draws expecting the
    # same rules to be enabled, and an answer that came out otherwise under load ended
    # a long run with FlakyStrategyDefinition. An act with nothing to act on says so.

    @precondition(lambda self: _settles(self) and self._any(_billed))
    @rule(pick=st.integers(0, 2), which=st.integers(0, 2))
    def void_invoice(self, pick: int, which: int) -> None:
        self.void(self._pick(pick, _billed), which)

    def void(self, opp: str, which: int) -> None:
        step = self._step("void", opp=opp, which=which)
        invoices = [i for i in self._invoices(opp)[0] if not i.voided]
        if not invoices:
            self._done(step, "no invoice to void")
            return
        invoice = invoices[which % len(invoices)]
        refused = self._run(self._finance().void(invoice))
        if refused is not None:
            self._done(step, refused)
            return
        self.model.opportunities[opp].books.voided.add(invoice.id)
        self.model.note(opp, "void")
        self._done(step, f"invoice {invoice.id} ({invoice.total}) voided")

    @precondition(lambda self: _settles(self) and self._any(_billed))
    @rule(pick=st.integers(0, 2), standalone=st.booleans(), keep_open=st.booleans())
    def credit_memo(self, pick: int, standalone: bool, keep_open: bool) -> None:
        self.credit(self._pick(pick, _billed), standalone, keep_open)

    def credit(self, opp: str, standalone: bool, keep_open: bool) -> None:
        """A credit memo of half what an invoice has due: created from the invoice
        (applied to it, or kept open for a refund), or standalone and applied to it."""
        step = self._step("credit", opp=opp, standalone=standalone, keep_open=keep_open)
        self.model.note(opp, "credit_tried")
        invoices, customer = self._invoices(opp)
        due = [i for i in invoices if _half(_due(i)) > ZERO]
        if not due or customer is None:
            self._done(step, "no invoice with anything due")
            return
        invoice, amount = due[0], _half(_due(due[0]))
        applied = ZERO if keep_open and not standalone else amount
        memo = self._run(
            self._finance().credit(invoice, customer, amount, applied, from_it=not standalone)
        )
        if isinstance(memo, Refused):
            self._done(step, memo)
            return
        books = self.model.opportunities[opp].books
        books.memo_issued(memo, amount, None if standalone else invoice.id, invoice.id, applied)
        self.model.note(opp, "credit_memo")
        kind = "standalone credit memo" if standalone else f"credit memo from {invoice.id}"
        self._done(step, f"{kind} {memo} of {amount}, {applied} applied to {invoice.id}")

    @precondition(lambda self: _settles(self) and self._any(_billed_twice))
    @rule(pick=st.integers(0, 2))
    def pay_several(self, pick: int) -> None:
        self.pay_invoices(self._pick(pick, _billed_twice))

    def pay_invoices(self, opp: str) -> None:
        """One customer payment over the deal's invoices with something due: the first
        paid in full, the others in part."""
        step = self._step("pay_invoices", opp=opp)
        invoices, customer = self._invoices(opp)
        due = [i for i in invoices if _due(i) > ZERO]
        amounts = {i.id: _due(i) if n == 0 else _half(_due(i)) for n, i in enumerate(due)}
        amounts = {i: a for i, a in amounts.items() if a > ZERO}
        if len(amounts) < 2 or customer is None:
            self._done(step, f"{len(amounts)} invoice(s) due: not a payment over several")
            return
        payment = self._run(self._finance().pay_many(customer, amounts))
        if isinstance(payment, Refused):
            self._done(step, payment)
            return
        for invoice_id, amount in amounts.items():
            self.model.paid(opp, invoice_id, amount)
        paid = ", ".join(f"{a} on {i}" for i, a in amounts.items())
        self._done(step, f"payment {payment}: {paid}")

    @precondition(lambda self: _settles(self) and self._any(_credited))
    @rule(pick=st.integers(0, 2), in_full=st.booleans())
    def refund_credit(self, pick: int, in_full: bool) -> None:
        self.refund(self._pick(pick, _credited), in_full)

    def refund(self, opp: str, in_full: bool) -> None:
        """A customer refund paying out a credit memo's credit (all of it, or half)."""
        step = self._step("refund", opp=opp, in_full=in_full)
        books = self.model.opportunities[opp].books
        left = [(i, m) for i, m in books.memos.items() if m.left > ZERO]
        if not left:
            self._done(step, "no credit memo with credit left")
            return
        memo_id, memo = left[0]
        amount = memo.left if in_full else _half(memo.left)
        customer = self._invoices(opp)[1]
        if amount <= ZERO or customer is None:
            self._done(step, f"credit memo {memo_id} has {memo.left} left")
            return
        refund = self._run(self._finance().refund(memo_id, customer, amount))
        if isinstance(refund, Refused):
            self._done(step, refund)
            return
        books.refunded(refund, memo_id, amount)
        self.model.note(opp, "refund")
        self._done(step, f"refund {refund} of {amount} from credit memo {memo_id}")
