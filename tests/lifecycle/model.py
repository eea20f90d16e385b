"""The reference model of a deal's life, and what must hold once the system settles.

Plain Python, no I/O. The model is what the tests did and so know for certain: what the
CRM says (stage, lines), what the ERP's own users did (invoices, payments, orders they
cancelled or edited, items they created), and which operator acts happened (retries,
revoked credentials, runs terminated). ``check`` compares it with a snapshot of the
three systems after they settled (``World``), and returns every violation.

The model does not predict the order of events the system is free to choose (a deal
lost a moment after it was won may or may not have reached the ERP first); it states
what must hold whatever the interleaving:

- the ERP holds the invoices and payments its users made, no more, no less;
- per opportunity at most one live ERP order, and exactly one while the CRM says won
  and no plausible exception parks it; none while the CRM says otherwise (same proviso);
- an unbilled live order says what the CRM says (SKU, quantity, price);
- bookings (the current definition) equal the live order's total, zero when none;
  billings and collections equal the ERP's invoices and payments, per invoice and in the
  reports, to the cent;
- the ledger holds every ERP order's ``order.accepted`` and every cancelled one's
  ``order.cancelled``;
- the CRM's write-back fields equal the ERP's state;
- every open exception has a reason the history explains (reconciliation's too: what it
  leaves unexplained must be what the history predicts) and belongs to the deal's
  current run; a stopped deal that is not final has one; no deal retries a step for
  ever; the ERP change feed runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from tests.lifecycle.books import Books, MemoView, RefundView
from tests.lifecycle.settlement_checks import check_books, check_money

CRM_STAGES = {
    "open": "Proposal/Price Quote",
    "won": "Closed Won",
    "lost": "Closed Lost",
    "reopened": "Negotiation/Review",
}
FINAL_DEAL_STATUSES = frozenset({"paid", "cancelled"})
ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Line:
    sku: str
    quantity: Decimal
    price: Decimal

    @property
    def amount(self) -> Decimal:
        return self.quantity * self.price

    def __str__(self) -> str:
        return f"{self.sku} x{self.quantity.normalize()} @ {self.price}"


def lines_key(lines: list[Line] | tuple[Line, ...]) -> list[tuple[str, Decimal, Decimal]]:
    """Lines as a comparable multiset (the order of lines is nobody's business)."""
    return sorted((line.sku, line.quantity.normalize(), line.price.normalize()) for line in lines)


def money(value: Any) -> Decimal:
    return ZERO if value is None else Decimal(str(value)).quantize(CENT)


# -- the model ------------------------------------------------------------------------


@dataclass
class Opportunity:
    """One opportunity as the tests made it, and what they did to its ERP records."""

    key: str
    """``opp_0``, ``opp_1``…: the name the history uses."""
    crm_id: str
    lines: list[Line]
    line_ids: list[str]
    stage: str = "open"
    ever_won: bool = False
    history: list[str] = field(default_factory=list)
    """The operations on this opportunity, by name, in order."""
    invoices: dict[str, Decimal] = field(default_factory=dict)
    """ERP invoice id → total, as the accountant posted them."""
    payments: dict[str, Decimal] = field(default_factory=dict)
    """ERP invoice id → paid so far, as the accountant paid them."""
    crm_changed_after_won: bool = False
    finance_cancelled: bool = False
    finance_edited: bool = False
    finance_added_order: bool = False
    """Finance entered a second order for this opportunity (Tryton allows it)."""
    unknown_pending: bool = False
    """A line's SKU was unknown to the ERP while the deal may have tried to order it,
    and no operator retry has followed the fix."""
    auth_exposed: bool = False
    """The ERP credential was revoked while this deal lived, and no retry followed."""
    terminated: bool = False
    attempted: set[str] = field(default_factory=set)
    """Acts tried on this deal (finance's ``cancel``, ``edit``…, ``second_run``), whether
    or not the systems let them happen: what the test drew, never what it was told."""
    orders_fixed: bool = False
    """The ERP cannot cancel or re-line a confirmed order (Tryton): any change after
    the order waits for a person."""
    held: bool = False
    """The ERP holds this deal's orders for approval (the sequence's approval mode)."""
    books: Books = field(default_factory=Books)

    @property
    def won(self) -> bool:
        return self.stage == "won"

    @property
    def retry_may_help(self) -> bool:
        """Whether what was *tried* may have parked the deal (an operator retry makes
        sense). By the draws alone, never the systems' answers: rules choose by this,
        so a sequence replays to the same rules whatever the systems said, and
        hypothesis can shrink it."""
        return (
            self.unknown_pending
            or self.auth_exposed
            or ("post_invoice" in self.history and self.crm_changed_after_won)
            or bool(self.attempted & {"cancel", "edit", "second_run"})
        )


@dataclass
class Model:
    opportunities: dict[str, Opportunity] = field(default_factory=dict)
    catalog_missing: set[str] = field(default_factory=set)
    """SKUs the CRM sells that the ERP does not know (yet)."""
    revoked: bool = False
    worker_up: bool = True
    orders_fixed: bool = False
    approval: bool = False
    """The ERP holds every order for approval in this sequence (NetSuite's routing)."""

    # -- what the tests do, as the model records it --------------------------------

    def opened(self, key: str, crm_id: str, lines: list[Line], line_ids: list[str]) -> None:
        self.opportunities[key] = Opportunity(
            key,
            crm_id,
            list(lines),
            list(line_ids),
            orders_fixed=self.orders_fixed,
            held=self.approval,
        )
        self.opportunities[key].history.append("open")

    def staged(self, key: str, stage: str) -> None:
        opp = self.opportunities[key]
        opp.history.append(stage)
        if opp.ever_won and stage != "won":
            opp.crm_changed_after_won = True
        opp.stage = stage
        if stage == "won":
            opp.ever_won = True
            self._exposed(opp)

    def relined(self, key: str, lines: list[Line], line_ids: list[str], what: str) -> None:
        opp = self.opportunities[key]
        opp.history.append(what)
        opp.lines, opp.line_ids = list(lines), list(line_ids)
        if opp.ever_won:
            opp.crm_changed_after_won = True
        if opp.won:
            self._exposed(opp)

    def _exposed(self, opp: Opportunity) -> None:
        """The deal may now try to order these lines."""
        if any(line.sku in self.catalog_missing for line in opp.lines):
            opp.unknown_pending = True
        if self.revoked:
            opp.auth_exposed = True

    def item_created(self, sku: str) -> None:
        self.catalog_missing.discard(sku)

    def retried(self, key: str) -> None:
        opp = self.opportunities[key]
        opp.history.append("retry")
        if not any(line.sku in self.catalog_missing for line in opp.lines):
            opp.unknown_pending = False
        if not self.revoked:
            opp.auth_exposed = False

    def credential_revoked(self) -> None:
        self.revoked = True
        for opp in self.opportunities.values():
            opp.auth_exposed = True
            opp.history.append("revoke")

    def credential_restored(self) -> None:
        self.revoked = False
        for opp in self.opportunities.values():
            opp.history.append("restore")

    def invoiced(self, key: str, invoice_id: str, total: Decimal) -> None:
        opp = self.opportunities[key]
        opp.history.append("invoice")
        opp.invoices[invoice_id] = total
        opp.payments.setdefault(invoice_id, ZERO)

    def paid(self, key: str, invoice_id: str, amount: Decimal) -> None:
        opp = self.opportunities[key]
        opp.history.append("pay")
        opp.payments[invoice_id] = opp.payments.get(invoice_id, ZERO) + amount

    def note(self, key: str, what: str) -> None:
        """An operation the expectations do not depend on beyond its name."""
        opp = self.opportunities[key]
        opp.history.append(what)
        if what == "finance_cancel":
            opp.finance_cancelled = True
        elif what == "finance_edit":
            opp.finance_edited = True
        elif what == "finance_add_order":
            opp.finance_added_order = True
        elif what == "second_run":
            opp.terminated = True


# -- what the systems say, after settling ---------------------------------------------


@dataclass(frozen=True)
class OrderView:
    id: str
    number: str
    status: str
    """The ERP's own name for the order's state (``Pending Fulfillment``, ``Billed``…)."""
    cancelled: bool
    total: Decimal
    lines: tuple[Line, ...]
    billed: bool
    customer_id: str
    held: bool = False
    """Pending approval in the ERP: placed, not a booking."""
    rejected: bool = False
    """Closed by the ERP's approver: never a booking, not live."""
    confirmed: bool = True
    """Ever confirmed by the ERP: an order, not an attempt at one. A Tryton sale a run
    created and a later run cancelled as a leftover of its attempts (a draft or a
    quotation) never was, so it makes no fact."""


@dataclass(frozen=True)
class InvoiceView:
    id: str
    order_id: str
    total: Decimal
    """As the ERP shows it now: zero once voided."""
    paid: Decimal
    """Cash applied by payments (credits are not cash)."""
    credited: Decimal = ZERO
    """Credit memos applied."""
    voided: bool = False


@dataclass(frozen=True)
class ExceptionView:
    id: str
    process: str
    reason: str
    step: str
    message: str
    subject: str
    workflow_id: str


@dataclass(frozen=True)
class EventView:
    type: str
    source_id: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class PendingActivity:
    activity: str
    attempt: int
    failure: str


@dataclass
class DealView:
    status: str
    step: str | None
    run_status: str
    """RUNNING, COMPLETED, TERMINATED, FAILED…"""
    pending: list[PendingActivity]
    open_exception: str | None = None
    """The exception the deal's latest run waits on, by its own account."""


@dataclass
class OpportunityWorld:
    crm_stage: str
    crm_lines: list[Line]
    write_back: dict[str, Any]
    orders: list[OrderView]
    invoices: list[InvoiceView]
    deal: DealView | None
    events: list[EventView]
    """The ledger's facts about this opportunity."""
    exceptions: list[ExceptionView]
    """Open exceptions about this opportunity (its deal, reconciliation's findings)."""
    bookings: Decimal
    billings: Decimal
    collections: Decimal
    memos: list[MemoView] = field(default_factory=list)
    """The customer's credit memos (from the deal's invoices, or standalone)."""
    refunds: list[RefundView] = field(default_factory=list)

    @property
    def live(self) -> list[OrderView]:
        return [order for order in self.orders if not order.cancelled and not order.rejected]


@dataclass
class World:
    opportunities: dict[str, OpportunityWorld]
    feed_status: str
    stray_exceptions: list[ExceptionView]
    """Open exceptions opened during the sequence about none of its opportunities."""
    unsettled: list[str] = field(default_factory=list)
    """What was still moving when the settle wait gave up."""
    subjects: set[str] = field(default_factory=set)
    """The records the sequence's opportunities involve (ids of CRM opportunities, ERP
    invoices and customers)."""


# -- the checks -------------------------------------------------------------------------

KINDS = (
    "erp_record",
    "did_not_settle",
    "stuck_retrying",
    "feed_stopped",
    "duplicate_orders",
    "won_without_order",
    "live_order_not_won",
    "order_differs_from_crm",
    "bookings",
    "billings",
    "collections",
    "ledger_fact",
    "stranded",
    "deal_state",
    "exception_count",
    "stale_exception",
    "unexplained_exception",
    "write_back",
    "write_back_order_status",
)
"""Violation kinds, most telling first (a sequence reports its first as its failure)."""


@dataclass(frozen=True)
class Violation:
    kind: str
    opportunity: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.opportunity}: " if self.opportunity else ""
        return f"[{self.kind}] {where}{self.message}"


def plausible(exception: ExceptionView, opp: Opportunity, world: OpportunityWorld) -> bool:
    """Whether the history explains why this exception is open."""
    billed = any(order.billed for order in world.live) or bool(opp.invoices)
    deal_running = world.deal is not None and world.deal.run_status == "RUNNING"
    reversal = billed and opp.crm_changed_after_won
    reason = exception.reason
    if exception.process == "deal":
        if reason == "unknown_sku":
            return opp.unknown_pending
        if reason == "auth_failed":
            return opp.auth_exposed
        if reason == "reversal_after_invoicing":
            return reversal
        if reason == "approval_rejected":
            return bool(opp.books.rejected) and opp.won
        if reason == "erp_rejected":
            return (
                reversal
                or (opp.finance_cancelled and opp.crm_changed_after_won)
                or (opp.orders_fixed and opp.crm_changed_after_won)
            )
        return False
    if exception.process == "reconciliation":
        if reason == "orphan_erp_order":
            return not opp.won and bool(world.live) and (billed or not deal_running)
        if reason == "amount_mismatch":
            return billed or opp.finance_edited or not deal_running
        if reason == "status_drift":
            return opp.won and opp.finance_cancelled
        if reason == "duplicate_order":
            return opp.finance_added_order
        return False
    return False


def _billing_status(order_total: Decimal, gross: Decimal, invoiced: Decimal, paid: Decimal) -> str:
    """``DealBilling.status``, from the ERP's figures: settled when nothing is left due
    and the invoices (before credits) bill the whole order."""
    if invoiced - paid <= ZERO and gross >= order_total:
        return "paid"
    if paid <= ZERO:
        return "invoiced"
    return "partially_paid"


@dataclass
class Checks:
    """The violations found, and how many checks were made to find them."""

    made: int = 0
    violations: list[Violation] = field(default_factory=list)

    def expect(self, holds: bool, kind: str, opportunity: str | None, message: str) -> bool:
        self.made += 1
        if not holds:
            self.violations.append(Violation(kind, opportunity, message))
        return holds


def check_opportunity(opp: Opportunity, world: OpportunityWorld, checks: Checks) -> None:
    def expect(holds: bool, kind: str, message: str) -> bool:
        return checks.expect(holds, kind, opp.key, message)

    live = world.live
    deal = world.deal
    current = [
        e
        for e in world.exceptions
        if e.process != "deal" or (deal is not None and deal.open_exception == e.id)
    ]
    for exception in world.exceptions:
        if exception not in current:
            expect(
                False,
                "stale_exception",
                f"deal exception {exception.reason} at {exception.step} is open, but the "
                f"deal's latest run ({_deal(world)}) waits on "
                f"{deal.open_exception if deal else None!r}: {exception.message}",
            )
    explained = [e for e in current if plausible(e, opp, world)]
    for exception in current:
        expect(
            exception in explained,
            "unexplained_exception",
            f"{exception.process} exception {exception.reason} at {exception.step}: "
            f"{exception.message}",
        )
    parked = bool(explained)

    # The ERP holds what its users did (else the test, not Syncline, is wrong).
    books = opp.books
    for invoice in world.invoices:
        if invoice.id in opp.invoices:
            voided = invoice.id in books.voided
            expect(
                invoice.total == (ZERO if voided else opp.invoices[invoice.id])
                and invoice.voided == voided
                and invoice.paid == opp.payments.get(invoice.id, ZERO)
                and invoice.credited == books.credited.get(invoice.id, ZERO),
                "erp_record",
                f"invoice {invoice.id} is {invoice.paid}/{invoice.total} paid, "
                f"{invoice.credited} credited{', voided' if invoice.voided else ''} in the "
                f"ERP; finance posted {opp.invoices[invoice.id]}, paid "
                f"{opp.payments.get(invoice.id, ZERO)}, credited "
                f"{books.credited.get(invoice.id, ZERO)}{', voided it' if voided else ''}",
            )
    expect(
        {i.id for i in world.invoices} >= set(opp.invoices),
        "erp_record",
        f"finance posted invoices {sorted(opp.invoices)}; the ERP holds "
        f"{sorted(i.id for i in world.invoices)}",
    )

    # Orders.
    # Syncline's one order, plus each one finance entered by hand (Tryton allows it).
    expect(
        len(live) <= 1 + opp.history.count("finance_add_order"),
        "duplicate_orders",
        f"{len(live)} live ERP orders: {_orders(live)}",
    )
    if opp.won and not parked:
        expect(
            bool(live),
            "won_without_order",
            f"the CRM says won and nothing parks the deal, but the ERP holds no live order "
            f"(orders: {_orders(world.orders) or 'none'}; deal {_deal(world)})",
        )
    if not opp.won and not parked:
        expect(
            not live,
            "live_order_not_won",
            f"the CRM says {world.crm_stage!r} but ERP order {_orders(live)} is live and "
            f"nothing explains it (deal {_deal(world)})",
        )
    unbilled = not live or not (
        live[0].billed or any(i.order_id == live[0].id for i in world.invoices)
    )
    held = bool(live) and live[0].held
    if (
        len(live) == 1
        and opp.won
        and not parked
        and unbilled
        and not opp.finance_edited
        and not held
    ):
        # A held order takes the CRM's amendments once approved (``deal.approval``).
        expect(
            lines_key(live[0].lines) == lines_key(world.crm_lines),
            "order_differs_from_crm",
            f"ERP order {live[0].number} has {_lines(live[0].lines)}; the CRM says "
            f"{_lines(world.crm_lines)}",
        )

    # Money: bookings per the live order; billings and collections per the ERP.
    # The ERP's live orders are the bookings (two when finance entered a second one).
    booked = sum((order.total for order in live if not order.held), ZERO)
    waits = (
        f" while the deal waits on {', '.join(e.reason for e in explained)}"
        if any(e.process == "deal" for e in explained)
        else ""
    )
    expect(
        world.bookings == booked,
        "bookings",
        f"bookings report {world.bookings}, ERP live order total {booked} "
        f"(ledger: {_order_events(world)}){waits}",
    )
    check_books(opp, world, lambda holds, kind, message: expect(holds, kind, message))
    check_money(opp, world, lambda holds, kind, message: expect(holds, kind, message), waits)
    events = world.events

    # Facts every ERP order makes: a booking only once approved (when the ERP holds it).
    for order in world.orders:
        kinds = {e.type for e in events if e.source_id == order.id}
        if not order.confirmed:
            expect(
                not kinds & {"order.accepted", "order.cancelled"},
                "ledger_fact",
                f"ERP order {order.number} ({order.status}) was never confirmed, yet the "
                f"ledger has its {', '.join(sorted(kinds))}",
            )
            continue
        if order.held or order.rejected or (opp.held and order.id not in books.approved):
            expect(
                "order.accepted" not in kinds,
                "ledger_fact",
                f"ERP order {order.number} ({order.status}) was never approved, yet the "
                "ledger has its order.accepted",
            )
            if order.rejected:
                expect(
                    "order.rejected" in kinds,
                    "ledger_fact",
                    f"ERP order {order.number} was rejected at approval: no order.rejected",
                )
            continue
        if (
            expect(
                "order.accepted" in kinds,
                "ledger_fact",
                f"ERP order {order.number} has no order.accepted",
            )
            and order.cancelled
        ):
            expect(
                "order.cancelled" in kinds,
                "ledger_fact",
                f"cancelled ERP order {order.number} has no order.cancelled{waits}",
            )

    # Runs: stopped only when final or parked; never retrying a step for ever.
    if deal is not None:
        for pending in deal.pending:
            expect(
                pending.attempt < 3,
                "stuck_retrying",
                f"{pending.activity} at attempt {pending.attempt}: {pending.failure}",
            )
        deal_exceptions = [e for e in current if e.process == "deal"]
        if deal.run_status != "RUNNING" and deal.status not in FINAL_DEAL_STATUSES:
            expect(
                bool(world.exceptions),
                "stranded",
                f"the deal's run is {deal.run_status} in status {deal.status} "
                f"(step {deal.step}) and no exception says why",
            )
        expect(
            len(deal_exceptions) <= 1,
            "exception_count",
            f"{len(deal_exceptions)} open deal exceptions: "
            + "; ".join(f"{e.reason} at {e.step}" for e in deal_exceptions),
        )
        if deal.status == "needs_attention":
            expect(
                bool(deal_exceptions),
                "exception_count",
                "the deal needs attention but no exception is open",
            )

    _approval_state(opp, world, checks)
    if not parked:
        _write_back(opp, world, checks)


def _approval_state(opp: Opportunity, world: OpportunityWorld, checks: Checks) -> None:
    """The deal's state follows the ERP's approval: waiting while its order is held,
    parked when it was rejected and the CRM still says won, cancelled once lost."""
    deal = world.deal
    if deal is None or not opp.held:
        return
    rejected = [o for o in world.orders if o.rejected]
    held = [o for o in world.live if o.held]
    if held and opp.won and deal.run_status == "RUNNING" and len(world.live) == 1:
        checks.expect(
            deal.status == "pending_approval",
            "deal_state",
            opp.key,
            f"ERP order {held[0].number} waits for approval, the deal is {_deal(world)}",
        )
    if rejected and not world.live:
        expected = "needs_attention" if opp.won else "cancelled"
        checks.expect(
            deal.status == expected,
            "deal_state",
            opp.key,
            f"ERP order {rejected[0].number} was rejected and the CRM says "
            f"{world.crm_stage!r}: the deal should be {expected}, it is {_deal(world)}",
        )


def _write_back(opp: Opportunity, world: OpportunityWorld, checks: Checks) -> None:
    """The CRM's mirror of the ERP order and its billing, against the ERP."""
    crm = world.write_back

    def same(crm_value: Any, erp_value: Any, name: str, kind: str = "write_back") -> None:
        checks.expect(
            crm_value == erp_value,
            kind,
            opp.key,
            f"the CRM's {name} is {crm_value!r}, the ERP says {erp_value!r}",
        )

    live = world.live
    if not world.orders:
        same(crm.get("Syncline_Order_Id__c"), None, "order id")
        return
    named = [o for o in live if o.id == str(crm.get("Syncline_Order_Id__c"))]
    order = named[0] if named else live[0] if len(live) == 1 else world.orders[-1]
    same(str(crm.get("Syncline_Order_Id__c")), order.id, "order id")
    same(crm.get("Syncline_Order_Number__c"), order.number, "order number")
    status = crm.get("Syncline_Order_Status__c")
    checks.expect(
        (status == "Cancelled") == order.cancelled,
        "write_back",
        opp.key,
        f"the CRM's order status is {status!r} but the ERP order is "
        f"{'cancelled' if order.cancelled else 'live'} ({order.status})",
    )
    if (status == "Cancelled") == order.cancelled:
        same(status, order.status, "order status", "write_back_order_status")
    # The deal's billing (``models.billing.DealBilling``): invoices not voided, billed
    # net of the credits applied to them, paid in cash.
    invoices = [i for i in world.invoices if i.order_id == order.id and not i.voided]
    invoiced = sum((i.total - i.credited for i in invoices), ZERO)
    paid = sum((i.paid for i in invoices), ZERO)
    if not invoices:
        billing_status = crm.get("Syncline_Billing_Status__c")
        same(billing_status in (None, "not_invoiced"), True, f"billing status ({billing_status})")
        return
    same(
        crm.get("Syncline_Billing_Status__c"),
        _billing_status(order.total, sum((i.total for i in invoices), ZERO), invoiced, paid),
        "billing status",
    )
    for name, value in (
        ("Syncline_Invoiced_Amount__c", invoiced),
        ("Syncline_Paid_Amount__c", paid),
        ("Syncline_Balance__c", invoiced - paid),
    ):
        crm_value = crm.get(name)
        label = name.removeprefix("Syncline_").removesuffix("__c").lower().replace("_", " ")
        same(None if crm_value is None else money(crm_value), value, label)


def check(model: Model, world: World, checks: Checks | None = None) -> list[Violation]:
    """Every violation, most telling kind first."""
    checks = checks if checks is not None else Checks()
    for what in world.unsettled:
        checks.expect(False, "did_not_settle", None, what)
    checks.expect(
        world.feed_status == "RUNNING",
        "feed_stopped",
        None,
        f"the ERP change feed is {world.feed_status} and no exception says why",
    )
    for exception in world.stray_exceptions:
        checks.expect(
            False,
            "unexplained_exception",
            None,
            f"{exception.process} exception {exception.reason} on {exception.subject}: "
            f"{exception.message}",
        )
    for key, opp in model.opportunities.items():
        check_opportunity(opp, world.opportunities[key], checks)
    return sorted(checks.violations, key=lambda v: KINDS.index(v.kind))


# -- for messages -------------------------------------------------------------------------


def _orders(orders: list[OrderView]) -> str:
    return ", ".join(f"{o.number} ({o.status}, {o.total})" for o in orders)


def _lines(lines: list[Line] | tuple[Line, ...]) -> str:
    return "[" + "; ".join(str(line) for line in lines) + "]"


def _deal(world: OpportunityWorld) -> str:
    if world.deal is None:
        return "never started"
    return f"{world.deal.status} at {world.deal.step}, run {world.deal.run_status}"


def _order_events(world: OpportunityWorld) -> str:
    return ", ".join(
        f"{e.type}#{e.payload.get('amendment', '')} {e.payload.get('total')}"
        for e in world.events
        if e.type.startswith("order.")
    )


def _payment_events(world: OpportunityWorld) -> str:
    return ", ".join(
        f"{e.payload.get('amount')} (to date {e.payload.get('paid_to_date')})"
        for e in world.events
        if e.type == "payment.applied"
    )
