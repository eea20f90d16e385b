from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from models.events import EventType, SourceSystem, event_id_for
from models.ownership import System, owner_of
from models.types import Money, UtcDatetime


class Stamped(BaseModel):
    at: UtcDatetime


def test_money_adds_exactly_and_only_in_one_currency() -> None:
    total = Money(amount=Decimal("0.10"), currency="USD") + Money(
        amount=Decimal("0.20"), currency="USD"
    )
    assert total == Money(amount=Decimal("0.30"), currency="USD")
    with pytest.raises(ValueError, match="EUR"):
        _ = total + Money(amount=Decimal("1"), currency="EUR")
    with pytest.raises(ValidationError):
        Money(amount=Decimal("1"), currency="usd")


def test_times_are_aware_and_utc() -> None:
    paris = datetime(2026, 11, 23, 12, 0, tzinfo=timezone(timedelta(hours=1)))
    assert Stamped(at=paris).at == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    assert Stamped(at=paris).at.utcoffset() == timedelta(0)
    with pytest.raises(ValidationError):
        Stamped(at=datetime(2026, 11, 23, 12, 0))


def test_the_ownership_table_names_one_owner_per_field() -> None:
    assert owner_of("opportunity", "stage") is System.CRM
    assert owner_of("sales_order", "status") is System.ERP
    assert owner_of("customer", "tax_id") is System.ERP
    with pytest.raises(KeyError):
        owner_of("opportunity", "order_number")


def test_event_ids_are_the_fact_not_the_attempt() -> None:
    first = event_id_for(EventType.ORDER_ACCEPTED, SourceSystem.NETSUITE, "42")
    assert first == event_id_for(EventType.ORDER_ACCEPTED, SourceSystem.NETSUITE, "42")
    assert first != event_id_for(EventType.ORDER_ACCEPTED, SourceSystem.NETSUITE, "43")
    assert first != event_id_for(EventType.ORDER_CANCELLED, SourceSystem.NETSUITE, "42")
