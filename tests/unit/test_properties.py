"""Properties of the canonical models, over inputs no one would think to write by hand."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from models import exact_json
from models.billing import InvoiceSnapshot, InvoiceStatus
from models.events import EventType, SourceSystem, event_id_for
from models.types import Money
from models.webhooks import UnsupportedWebhook, parse_salesforce_webhook

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.decimals(allow_nan=False, allow_infinity=False, places=4)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=20), children, max_size=5)
    ),
    max_leaves=30,
)
# Shapes close to the real ones, so the parser's deeper branches are reached too.
salesforce_like = st.fixed_dictionaries(
    {},
    optional={
        "event": st.sampled_from(["opportunity.closed_won", "opportunity.changed", "x"]),
        "opportunityId": st.text(max_size=20) | st.integers(),
        "opportunityIds": st.lists(st.text(max_size=20), max_size=3),
        "stageName": st.text(max_size=20),
        "changedFields": st.lists(st.text(max_size=15), max_size=3),
        "payload": st.dictionaries(st.text(max_size=20), json_values, max_size=5),
        "data": st.dictionaries(st.text(max_size=10), json_values, max_size=3),
    },
)
amounts = st.decimals(
    min_value=Decimal("-1e12"), max_value=Decimal("1e12"), allow_nan=False, places=2
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(json_values, salesforce_like))
def test_any_json_is_a_trigger_or_a_refusal_never_a_crash(body: Any) -> None:
    with contextlib.suppress(UnsupportedWebhook, ValidationError):
        parse_salesforce_webhook(body)


@given(amounts, amounts, amounts)
def test_money_adds_exactly_in_one_currency(a: Decimal, b: Decimal, c: Decimal) -> None:
    x, y, z = (Money(amount=v, currency="EUR") for v in (a, b, c))
    assert ((x + y) + z).amount == (x + (y + z)).amount == a + b + c


@given(amounts)
def test_money_survives_exact_json_digit_for_digit(amount: Decimal) -> None:
    money = Money(amount=amount, currency="USD")
    text = exact_json.dumps({"amount": money.amount, "currency": money.currency})
    back = Money.model_validate(exact_json.loads(text))
    assert back == money and str(back.amount) == str(amount)


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_an_event_id_is_its_fact(first: str, second: str) -> None:
    made = event_id_for(EventType.ORDER_ACCEPTED, SourceSystem.NETSUITE, first)
    assert made == event_id_for(EventType.ORDER_ACCEPTED, SourceSystem.NETSUITE, first)
    assert made != event_id_for(EventType.ORDER_CANCELLED, SourceSystem.NETSUITE, first)
    if first != second:
        assert made != event_id_for(EventType.ORDER_ACCEPTED, SourceSystem.NETSUITE, second)


snapshots = st.builds(
    lambda status, due, minutes: InvoiceSnapshot(
        id="900",
        number="INV900",
        erp_order_id="77",
        status=status,
        total=Money(amount=Decimal("100.00"), currency="USD"),
        amount_due=Money(amount=due, currency="USD"),
        modified_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=minutes),
    ),
    st.sampled_from(list(InvoiceStatus)),
    st.decimals(min_value=0, max_value=100, places=2),
    st.integers(min_value=0, max_value=10_000),
)


@given(snapshots, snapshots)
def test_two_snapshots_never_both_supersede_each_other(
    a: InvoiceSnapshot, b: InvoiceSnapshot
) -> None:
    """News about an invoice only moves one way, whatever order it arrives in."""
    assert not (a.supersedes(b) and b.supersedes(a))
