"""The reference model on its own: what it accepts and what it flags, without a stack."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from tests.lifecycle.known_bugs import KnownBug, attribute, known_bug
from tests.lifecycle.model import (
    DealView,
    EventView,
    ExceptionView,
    InvoiceView,
    Line,
    Model,
    OpportunityWorld,
    OrderView,
    Violation,
    World,
    check,
)

LINES = [Line("SL-SEAT-PRO", Decimal(2), Decimal("1250.50"))]
TOTAL = Decimal("2501.00")


def _won() -> Model:
    model = Model()
    model.opened("opp_0", "006A", LINES, ["00kA"])
    model.staged("opp_0", "won")
    return model


def _order(status: str = "Pending Fulfillment", cancelled: bool = False) -> OrderView:
    return OrderView("7", "SO7", status, cancelled, TOTAL, tuple(LINES), status == "Billed", "3")


def _world(**changes: object) -> World:
    seen = OpportunityWorld(
        crm_stage="Closed Won",
        crm_lines=list(LINES),
        write_back={
            "Syncline_Order_Id__c": "7",
            "Syncline_Order_Number__c": "SO7",
            "Syncline_Order_Status__c": "Pending Fulfillment",
            "Syncline_Billing_Status__c": None,
            "Syncline_Invoiced_Amount__c": None,
            "Syncline_Paid_Amount__c": None,
            "Syncline_Balance__c": None,
        },
        orders=[_order()],
        invoices=[],
        deal=DealView("order_accepted", "follow_billing", "RUNNING", []),
        events=[
            EventView("opportunity.closed_won", "006A", {}),
            EventView("order.accepted", "7", {"total": str(TOTAL)}),
        ],
        exceptions=[],
        bookings=TOTAL,
        billings=Decimal(0),
        collections=Decimal(0),
    )
    return World({"opp_0": replace(seen, **changes)}, "RUNNING", [])  # type: ignore[arg-type]


def _kinds(model: Model, world: World) -> list[str]:
    return [v.kind for v in check(model, world)]


def test_a_won_deal_with_its_order_booked_and_written_back_is_fine() -> None:
    assert check(_won(), _world()) == []


def test_bookings_a_cent_off_the_erp_is_a_violation() -> None:
    assert _kinds(_won(), _world(bookings=TOTAL - Decimal("0.01"))) == ["bookings"]


def test_payments_the_ledger_counts_twice_are_a_violation() -> None:
    model = _won()
    model.invoiced("opp_0", "9", TOTAL)
    model.paid("opp_0", "9", Decimal(100))
    world = _world(
        orders=[_order("Billed")],
        invoices=[InvoiceView("9", "7", TOTAL, Decimal(100))],
        billings=TOTAL,
        collections=Decimal(150),
        events=[
            EventView("order.accepted", "7", {"total": str(TOTAL)}),
            EventView("invoice.posted", "9", {"total": str(TOTAL)}),
            EventView("payment.applied", "9", {"amount": "50"}),
            EventView("payment.applied", "9", {"amount": "100"}),
        ],
        write_back={
            "Syncline_Order_Id__c": "7",
            "Syncline_Order_Number__c": "SO7",
            "Syncline_Order_Status__c": "Billed",
            "Syncline_Billing_Status__c": "partially_paid",
            "Syncline_Invoiced_Amount__c": TOTAL,
            "Syncline_Paid_Amount__c": Decimal(100),
            "Syncline_Balance__c": TOTAL - 100,
        },
    )
    assert _kinds(model, world) == ["collections", "collections"]


def test_a_rewon_deal_with_only_its_cancelled_order_is_a_violation() -> None:
    model = _won()
    model.staged("opp_0", "lost")
    model.staged("opp_0", "won")
    world = _world(
        orders=[_order("Cancelled", cancelled=True)],
        bookings=Decimal(0),
        events=[
            EventView("order.accepted", "7", {}),
            EventView("order.cancelled", "7", {}),
        ],
        write_back={"Syncline_Order_Id__c": "7", "Syncline_Order_Number__c": "SO7"}
        | {"Syncline_Order_Status__c": "Cancelled"},
    )
    [violation] = check(model, world)
    assert violation.kind == "won_without_order"
    assert known_bug(violation, model) is None  # issue 17 a is fixed: nothing excuses it


def test_an_exception_the_history_does_not_explain_is_a_violation() -> None:
    parked = ExceptionView("x", "deal", "unknown_sku", "place_order", "no item", "006A", "w")
    waiting = DealView("needs_attention", "place_order", "RUNNING", [], open_exception="x")
    world = _world(exceptions=[parked], deal=waiting)
    assert _kinds(_won(), world) == ["unexplained_exception"]
    model = _won()
    model.catalog_missing.add("SL-SEAT-PRO")
    model.relined("opp_0", LINES, ["00kA"], "amend")
    assert check(model, world) == []


def test_an_exception_no_run_waits_on_is_stale() -> None:
    parked = ExceptionView("x", "deal", "auth_failed", "place_order", "refused", "006A", "w")
    model = _won()
    model.credential_revoked()
    assert _kinds(model, _world(exceptions=[parked])) == ["stale_exception"]


def test_a_stopped_deal_that_is_not_final_needs_an_exception() -> None:
    world = _world(deal=DealView("order_accepted", "follow_billing", "TERMINATED", []))
    assert _kinds(_won(), world) == ["stranded"]


def test_a_stale_order_status_on_the_opportunity_is_its_own_kind() -> None:
    world = _world(orders=[_order("Billed")])
    assert _kinds(_won(), world) == ["write_back_order_status"]


def test_a_known_bug_explains_its_violations_and_their_consequences_on_its_opportunity() -> None:
    cancelled_then_stopped = KnownBug(
        "x",
        "a sample bug",
        frozenset({"bookings"}),
        lambda _, opp: opp is not None and opp.finance_cancelled,
        about="ERP live order total 0 ",
        consequences=(("write_back", "the ERP order is cancelled"),),
    )
    model = _won()
    model.opened("opp_1", "006B", LINES, ["00kB"])
    model.note("opp_0", "finance_cancel")
    stale = "the CRM's order status is 'Pending Billing' but the ERP order is cancelled"
    violations = [
        Violation("bookings", "opp_0", "bookings report 2, ERP live order total 0 (ledger: )"),
        Violation("write_back", "opp_0", stale),
        Violation("write_back", "opp_1", stale),
        Violation("bookings", "opp_1", "bookings report 2, ERP live order total 0 (ledger: )"),
    ]
    known = attribute(violations, model, (cancelled_then_stopped,))
    assert [known.get(str(v), "")[:10] for v in violations] == ["issue 17 x"] * 2 + ["", ""]


def test_a_held_order_booked_before_approval_is_a_violation() -> None:
    model = Model(approval=True)
    model.opened("opp_0", "006A", LINES, ["00kA"])
    model.staged("opp_0", "won")
    held = replace(_order("Pending Approval"), held=True)
    pending = DealView("pending_approval", "await_approval", "RUNNING", [])
    write_back = {"Syncline_Order_Id__c": "7", "Syncline_Order_Number__c": "SO7"}
    waiting = _world(
        orders=[held],
        deal=pending,
        bookings=Decimal(0),
        events=[EventView("opportunity.closed_won", "006A", {})],
        write_back={**write_back, "Syncline_Order_Status__c": "Pending Approval"},
    )
    assert check(model, waiting) == []
    booked = _world(
        orders=[held], deal=pending, write_back=waiting.opportunities["opp_0"].write_back
    )
    assert _kinds(model, booked) == ["bookings", "ledger_fact"]


def test_a_void_the_ledger_missed_is_a_billings_violation() -> None:
    model = _won()
    model.invoiced("opp_0", "9", TOTAL)
    model.opportunities["opp_0"].books.voided.add("9")
    voided = InvoiceView("9", "7", Decimal(0), Decimal(0), voided=True)
    posted = EventView("invoice.posted", "9", {"total": str(TOTAL)})
    world = _world(invoices=[voided])
    seen = world.opportunities["opp_0"]
    seen.events.append(posted)
    seen.write_back["Syncline_Billing_Status__c"] = "not_invoiced"
    kinds = _kinds(model, world)
    assert kinds and set(kinds) == {"billings"}
    seen.events.append(EventView("invoice.voided", "9", {"amount": str(TOTAL)}))
    assert check(model, world) == []


def test_a_draft_a_run_left_and_another_cancelled_makes_no_fact() -> None:
    draft = replace(_order("cancelled", cancelled=True), id="8", number="8", confirmed=False)
    # Tryton's seed 20261323, sequence 7: the model expected an order.accepted for it.
    assert check(_won(), _world(orders=[_order(), draft])) == []
    booked = _world(
        orders=[_order(), draft],
        events=[*_world().opportunities["opp_0"].events, EventView("order.accepted", "8", {})],
    )
    assert _kinds(_won(), booked) == ["ledger_fact"]
