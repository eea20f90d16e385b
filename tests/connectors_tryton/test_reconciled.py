"""How a Tryton reconciliation's lines are read as credit notes applied to invoices,
and when a sale has shipped in full: pure functions over records as Tryton's REST API
returns them (the server cases are in test_settlement and test_fulfilment)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connectors.tryton.fulfilment import shipped_in_full
from connectors.tryton.reconciled import allocate_credits

TODAY = date(2026, 12, 6)


def _line(document: int | None, debit: int = 0, credit: int = 0, pays: int | None = None) -> Any:
    return {
        "debit": Decimal(debit),
        "credit": Decimal(credit),
        "invoice_payment": pays,
        "move": {"origin": f"account.invoice,{document}" if document else None},
    }


def test_one_credit_note_against_one_invoice_applies_all_of_it() -> None:
    lines = [_line(1, debit=300), _line(2, credit=300)]
    assert allocate_credits(lines) == {("2", "1"): Decimal(300)}


def test_a_payment_naming_the_invoice_settles_it_before_the_credit_note() -> None:
    lines = [
        _line(1, debit=300),
        _line(None, credit=200, pays=1),  # the "Pay" wizard's line on invoice 1
        _line(2, credit=100),
    ]
    assert allocate_credits(lines) == {("2", "1"): Decimal(100)}


def test_several_invoices_take_the_credits_in_id_order() -> None:
    lines = [_line(5, debit=100), _line(3, debit=100), _line(7, credit=150), _line(8, credit=50)]
    assert allocate_credits(lines) == {
        ("7", "3"): Decimal(100),
        ("7", "5"): Decimal(50),
        ("8", "5"): Decimal(50),
    }


def test_what_a_credit_note_refunded_is_not_applied_to_an_invoice() -> None:
    lines = [
        _line(1, debit=300),
        _line(2, credit=300),
        _line(None, debit=100, pays=2),  # 100 of the credit note paid out to the customer
        _line(None, credit=100, pays=1),  # and the customer paid 100 of the invoice
    ]
    assert allocate_credits(lines) == {("2", "1"): Decimal(200)}


def test_an_invoice_cancelled_by_its_own_reversal_is_no_credit() -> None:
    # A void: the reversal's line comes from the same invoice as the line it cancels.
    assert allocate_credits([_line(4, debit=120), _line(4, credit=120)]) == {}


@given(
    st.lists(st.integers(1, 500), min_size=1, max_size=4),
    st.lists(st.integers(1, 500), min_size=1, max_size=4),
)
def test_no_credit_note_gives_more_than_it_has_nor_an_invoice_takes_more_than_it_owes(
    dues: list[int], notes: list[int]
) -> None:
    invoices = {str(i + 1): due for i, due in enumerate(dues)}
    credits = {str(i + 100): amount for i, amount in enumerate(notes)}
    lines = [_line(int(i), debit=d) for i, d in invoices.items()]
    lines += [_line(int(n), credit=c) for n, c in credits.items()]
    applied = allocate_credits(lines)
    for note, credit in credits.items():
        assert sum(a for (n, _), a in applied.items() if n == note) <= credit
    for invoice, due in invoices.items():
        assert sum(a for (_, i), a in applied.items() if i == invoice) <= due
    assert sum(applied.values()) == min(sum(dues), sum(notes))
    assert all(amount > 0 for amount in applied.values())


def _sale(*lines: tuple[str, int, list[tuple[int, int, int]]]) -> dict[str, Any]:
    """Lines of (product type, quantity, [(shipment id, quantity, days ago)])."""
    return {
        "lines": [
            {
                "type": "line",
                "quantity": float(quantity),
                "product": {"type": kind},
                "moves": [
                    {
                        "state": "done",
                        "quantity": float(moved),
                        "shipment": f"stock.shipment.out,{shipment}",
                        "effective_date": TODAY - timedelta(days=ago),
                    }
                    for shipment, moved, ago in moves
                ],
            }
            for kind, quantity, moves in lines
        ]
    }


def test_a_sale_is_shipped_in_full_once_every_goods_line_has_left() -> None:
    sale = _sale(("goods", 2, [(1, 1, 3), (4, 1, 1)]), ("service", 1, []))
    assert not shipped_in_full(sale, 1, TODAY - timedelta(days=3))
    assert shipped_in_full(sale, 4, TODAY - timedelta(days=1))


def test_a_shipment_done_earlier_counts_though_its_id_is_higher() -> None:
    # The back-order (id 9) left before the first shipment (id 2) was done.
    sale = _sale(("goods", 2, [(2, 1, 0), (9, 1, 2)]))
    assert not shipped_in_full(sale, 9, TODAY - timedelta(days=2))
    assert shipped_in_full(sale, 2, TODAY)
